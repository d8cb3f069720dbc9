"""Style families: every family's set holds exactly each scenario's sources (only training images,
style images included), in the scenario's count; randomized is reproducible per seed; the AdaIN
decoder learns; classify's family, alpha-sweep and combined arms; the report's family sections."""

import collections
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.artifacts.manifest import MANIFEST
from stylaug.artifacts.style_families import (
    POOL_FAMILIES,
    cross_class,
    decoder_list,
    draw_style,
    image_rng,
    slot_for,
)
from stylaug.artifacts.training_lists import training_list
from stylaug.augment.set_plan import plan_jobs, scenario_configs
from stylaug.augment.stage import augment
from stylaug.classify.arms import arm_specs, style_set
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.data.scenarios import sample_scenario
from stylaug.models.adain import adain, load_decoder, mean_std
from stylaug.report.family_tables import family_lines, network_users
from stylaug.report.stage import report
from stylaug.report.summary import summarize
from stylaug.train_decoder.stage import train_decoder
from tests.augment.test_augment import save_fake_stylizers
from tests.conftest import TINY_DATASET, compose_cfg

SCENARIOS = "augment.scenarios=[biased_case1,scarce]"
EFFNET = ["model.loss_net.arch=efficientnet_lite0", "model.loss_net.weights=imagenet"]
DECODER = ["decoder.image_size=32", "decoder.batch_size=4", "decoder.max_steps=3",
           "decoder.sample_images=2", "decoder.checkpoint_every=2"]  # fmt: skip
PHOTOREAL = ["augment.photoreal.iterations=2", "augment.photoreal.seg_weights=random"]


def cfg_for(root, artifacts, *extra):
    return compose_cfg(
        "augment",
        [
            *TINY_DATASET, *EFFNET, *DECODER, *PHOTOREAL, SCENARIOS, "augment.seeds=[0]",
            f"augment.stylizer_dir={artifacts}/stylizers", f"decoder.out_dir={artifacts}/decoders",
            "augment.batch_size=8", "data.num_workers=0", "logger=none", *extra,
        ],
        root,
    )  # fmt: skip


@pytest.fixture(scope="module")
def artifacts(tiny_root, tiny_index, tmp_path_factory):
    """Fake (seeded, untrained) stylizers and really trained tiny decoders, seeds 0 and 1."""
    folder = tmp_path_factory.mktemp("artifacts")
    stylizers = cfg_for(tiny_root, folder, "augment.seeds=[0,1]")
    save_fake_stylizers(folder / "stylizers", tiny_index, stylizers)
    for scenario in ("biased_case1", "scarce"):
        for seed in (0, 1):
            cfg = cfg_for(tiny_root, folder, f"scenario={scenario}", f"seed={seed}")
            train_decoder(cfg)
    return folder


def expected(index, cfg, seeds=(0,)):
    """(scenario, seed, class) -> (slot id, [(source, view)]) as every family must make them."""
    out = {}
    for seed in seeds:
        for scenario in scenario_configs(cfg):
            split = sample_scenario(index, scenario, seed)
            for cls, pairs in split.augment.items():
                if pairs:
                    slot = slot_for(index, split, cls, cfg.augment, cfg.stylizer.pool)
                    out[(scenario.name, seed, cls)] = (slot.id, pairs, split)
    return out


@pytest.mark.parametrize(
    "family",
    ["johnson", "johnson_color", "johnson_cross", "adain", "randomized", "photoreal", "fda",
     "histogram_match"],
)  # fmt: skip
def test_every_family_stylizes_only_each_scenarios_training_images(
    family, tiny_root, tiny_index, artifacts, tmp_path
):
    cfg = cfg_for(tiny_root, artifacts, f"augment.family={family}", "augment.alpha=0.5",
                  f"augment.out_dir={tmp_path}/{family}")  # fmt: skip
    summary = augment(cfg)
    rows = read_jsonl(tmp_path / family / MANIFEST)
    assert summary["failed"] == 0 and summary["written"] == len(rows) == summary["planned"]
    by_key = {(r["stylizer_id"], r["source"], r["view"]): r for r in rows}
    want = expected(tiny_index, cfg)
    for (_, _, cls), (slot, pairs, split) in want.items():
        train = set(split.train[cls])
        for source, view in pairs:  # the scenario's count, each from its own training list
            r = by_key[(slot, source, view)]
            assert r["class"] == cls and source in train
            assert source not in set(split.val[cls])
            assert r["family"] == family and r["alpha"] == 0.5
            if family in POOL_FAMILIES:  # same_class: the style image comes from there too
                style = r["style_source"].replace(f"{tiny_index.root}/", "")
                assert style in train and style != source
            if family == "johnson_cross":
                assert r["style_class"] != cls
        # classify finds exactly the scenario's images, nothing else
        arm = style_set(cfg, tiny_index, split, family, tmp_path / family)
        got = collections.Counter(c for _, c in arm.items)
        assert got[cls] == len(pairs) and arm.family == family and arm.alpha == 0.5
    assert {(r["stylizer_id"], r["source"], r["view"]) for r in rows} == {
        (slot, s, v) for slot, pairs, _ in want.values() for s, v in pairs
    }
    test_images = {p for c in tiny_index.classes for p in tiny_index.paths("test", c)}
    assert not {r["source"] for r in rows} & test_images  # (validation: per scenario, above)
    assert all(-1 <= r["content_score"] <= 1 and r["gen_seconds"] > 0 for r in rows)
    info = json.loads((tmp_path / family / "info.json").read_text())
    assert info["family"] == family and info["compute"]["generation_seconds"] > 0
    if family in ("adain", "randomized"):  # the decoders' recorded training time is carried
        assert all(r["train_seconds"] > 0 and r["train_device"] == "cpu" for r in rows)


def test_cross_and_decoder_slots_follow_each_scenarios_lists(tiny_root, tiny_index, artifacts):
    cfg = cfg_for(tiny_root, artifacts, "augment.family=johnson_cross")
    plan = plan_jobs(tiny_index, cfg)
    split = sample_scenario(tiny_index, scenario_configs(cfg)[0], 0)
    slot = slot_for(tiny_index, split, "ocean", cfg.augment, "scenario")
    other = cross_class(tiny_index.classes, "ocean", slot.id.split("-x")[0], 0)
    assert slot.maker.cls == other != "ocean"
    assert plan.slots[slot.id].maker.id == slot.id.split("-x")[1]
    assert (other, slot.maker.id) in plan.needed  # the other class's stylizer of that scenario
    adain_cfg = cfg_for(tiny_root, artifacts, "augment.family=adain", "augment.seeds=[0,1]")
    plan = plan_jobs(tiny_index, adain_cfg)
    images = decoder_list(tiny_index, split, "scenario")
    assert set(images) == {p for c in split.train for p in split.train[c]}
    assert len(plan.decoders) == 4  # biased_case1 and scarce, two seeds


def test_randomized_is_identical_on_rerun_and_differs_with_another_seed(
    tiny_root, artifacts, tmp_path
):
    def make(out, *extra):
        cfg = cfg_for(tiny_root, artifacts, "augment.family=randomized",
                      "augment.scenarios=[scarce]", "augment.seeds=[0]",
                      f"augment.out_dir={out}", *extra)  # fmt: skip
        augment(cfg)
        rows = sorted(read_jsonl(out / MANIFEST), key=lambda r: r["output"])
        files = {r["output"]: hashlib.sha256((out / r["output"]).read_bytes()).hexdigest()
                 for r in rows}  # fmt: skip
        return rows, files

    rows_a, a = make(tmp_path / "a")
    rows_b, b = make(tmp_path / "b", "augment.batch_size=3")  # other batching, same images
    assert a == b
    assert [r["image_alpha"] for r in rows_a] == [r["image_alpha"] for r in rows_b]
    alphas = [r["image_alpha"] for r in rows_a]
    assert len(set(alphas)) == len(alphas) and all(0 <= x <= 1 for x in alphas)
    rows_c, c = make(tmp_path / "c", "augment.style_seed=1")
    assert set(c) == set(a) and all(c[k] != a[k] for k in a)  # every image changes
    assert [r["style_source"] for r in rows_c] != [r["style_source"] for r in rows_a]


def test_per_image_draws_do_not_depend_on_order():
    pool = [f"img{i}" for i in range(50)]
    draws = [draw_style(image_rng(3, "slot", f"img{i}", 0), pool, f"img{i}") for i in range(50)]
    again = [draw_style(image_rng(3, "slot", f"img{i}", 0), pool, f"img{i}")
             for i in reversed(range(50))][::-1]  # fmt: skip
    assert draws == again and all(d != f"img{i}" for i, d in enumerate(draws))
    assert len(set(draws)) > 20


def test_alpha_strength_blends(tiny_root, tiny_index, artifacts, tmp_path):
    """alpha 0 gives back the source (Johnson blend; AdaIN: the decoder's reconstruction)."""
    out = tmp_path / "j0"
    cfg = cfg_for(tiny_root, artifacts, "augment.alpha=0.0", "augment.scenarios=[scarce]",
                  "augment.seeds=[0]", "augment.classes=[ocean]", f"augment.out_dir={out}")  # fmt: skip
    assert cfg.augment.tag == "johnson_a0"
    augment(cfg)
    for r in read_jsonl(out / MANIFEST):
        src = Image.open(tiny_index.abspath(r["source"])).convert("RGB")
        if r["view"]:
            src = src.transpose(Image.FLIP_LEFT_RIGHT)
        diff = np.abs(np.asarray(Image.open(out / r["output"]), float) - np.asarray(src, float))
        assert diff.max() <= 1
    content, style = torch.rand(2, 40, 4, 4), torch.rand(2, 40, 4, 4) * 3 + 1
    assert torch.allclose(adain(content, style, 0.0), content)
    full = adain(content, style, 1.0)
    assert torch.allclose(mean_std(full)[0], mean_std(style)[0], atol=1e-5)
    assert torch.allclose(mean_std(full)[1], mean_std(style)[1], atol=1e-3)
    half = adain(content, style, torch.tensor([0.5, 0.5]))
    assert torch.allclose(half, (full + content) / 2, atol=1e-6)


def test_decoder_learns_and_records_its_training(tiny_root, tiny_index, tmp_path, one_thread):
    """A tiny decoder's reconstruction loss (AdaIN's content loss, the style term off) drops."""
    cfg = compose_cfg(
        "train_decoder",
        [*TINY_DATASET, *EFFNET, "decoder.image_size=32", "decoder.batch_size=4",
         "decoder.max_steps=20", "decoder.lr=1e-3", "decoder.sample_images=4",
         "decoder.style_weight=0",
         "decoder.checkpoint_every=100", f"decoder.out_dir={tmp_path}", "scenario=scarce",
         "data.num_workers=0", "logger=none"],
        tiny_root,
    )  # fmt: skip
    path = train_decoder(cfg)
    net, meta = load_decoder(path)
    losses = meta["probe_losses"]
    assert losses["end"]["content"] < 0.8 * losses["initial"]["content"]  # reconstruction
    assert meta["steps"] == 20 and meta["layer"] == "block4" and meta["in_channels"] == 40
    split = sample_scenario(tiny_index, cfg.scenario, 0)
    assert sorted(meta["train_list"]) == sorted(
        p for c in tiny_index.classes for p in training_list(tiny_index, split, c, "scenario")
    )  # the scenario's training images of every class, nothing else
    assert meta["compute"]["train_seconds"] > 0 and meta["compute"]["device"]["kind"] == "cpu"
    assert (tmp_path / f"{meta['list_id']}_samples.png").is_file()
    mtime = path.stat().st_mtime_ns
    assert train_decoder(cfg) == path and path.stat().st_mtime_ns == mtime  # kept on rerun


def test_folder_pool_skips_and_counts_bad_images(tiny_root, tiny_index, artifacts, tmp_path):
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 48, 3), 60 * i, np.uint8)).save(paintings / f"p{i}.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(paintings / "tiny.png")
    (paintings / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "aug"
    cfg = cfg_for(tiny_root, artifacts, "augment.family=adain", f"augment.style_pool='folder={paintings}'",
                  "augment.min_style_side=32", "augment.scenarios=[scarce]", "augment.seeds=[0]",
                  f"augment.out_dir={out}")  # fmt: skip
    assert cfg.augment.tag == "adain_folder-paintings"
    augment(cfg)
    rows = read_jsonl(out / MANIFEST)
    assert rows and {r["style_source"] for r in rows} <= {
        str(paintings / f"p{i}.png") for i in range(3)
    }
    pools = json.loads((out / "info.json").read_text())["style_pools"]
    (pool,) = pools.values()
    assert pool["images"] == 3 and sorted(s["why"].split()[0] for s in pool["skipped"]) == [
        "smaller", "unreadable"]  # fmt: skip


# --- classify --------------------------------------------------------------------------------


FAST = ["classifier.epochs=2", "classifier.image_size=32", "classifier.num_workers=0",
        "model.backbone.weights=random", "classifier.controls=false"]  # fmt: skip


def classify_cfg(root, artifacts, tmp_path, *extra):
    return compose_cfg(
        "classify",
        [*TINY_DATASET, *EFFNET, *FAST, "logger=none", "scenario=scarce",
         f"paths.data_dir={tmp_path}/data", f"classifier.results_file={tmp_path}/results.jsonl",
         f"classifier.cache_dir={tmp_path}/features", *extra],
        root,
    )  # fmt: skip


def test_alpha_sweep_gives_one_row_per_alpha_and_combined_arm(
    tiny_root, tiny_index, artifacts, tmp_path
):
    data = tmp_path / "data"
    aug = cfg_for(tiny_root, artifacts, "augment.families=[adain,johnson]",
                  "augment.alphas=[0.5,1.0]", "augment.scenarios=[scarce]", "augment.seeds=[0]",
                  f"paths.data_dir={data}", f"dataset.dir={tiny_root}/data/synthetic")  # fmt: skip
    summary = augment(aug)
    assert set(summary["sets"]) == {"adain_a0.5", "adain", "johnson_a0.5", "johnson"}
    assert (data / "augmented/synthetic/family_samples.png").is_file()
    arms = "classifier.arms=[none,randaugment,adain,randaugment+adain]"
    rows = []
    for alpha in (0.5, 1.0):
        cfg = classify_cfg(tiny_root, artifacts, tmp_path, arms, f"augment.alpha={alpha}",
                           f"dataset.dir={tiny_root}/data/synthetic", "classifier.aug_views=2")  # fmt: skip
        assert list(arm_specs(cfg, []))[2:] == (
            ["adain_a0.5", "randaugment+adain_a0.5"]
            if alpha == 0.5
            else ["adain", "randaugment+adain"]
        )
        rows += classify(cfg)
    names = [r["arm"] for r in rows]
    assert names == [
        "none",
        "randaugment",
        "adain_a0.5",
        "randaugment+adain_a0.5",
        "adain",
        "randaugment+adain",
    ]  # fmt: skip  (none/randaugment: once)
    split = sample_scenario(tiny_index, cfg.scenario, 0)
    n_real = sum(len(v) for v in split.train.values())
    n_aug = sum(len(v) for v in split.augment.values())
    by = {r["arm"]: r for r in rows}
    for name in ("adain_a0.5", "adain", "randaugment+adain"):
        assert by[name]["counts"]["train_seen"] == n_real + n_aug
        assert by[name]["style_family"] == "adain" and by[name]["style_compute"]["makers"] == 1
        assert by[name]["style_compute"]["training_seconds"] > 0
    assert by["adain_a0.5"]["style_alpha"] == 0.5 and by["adain"]["style_alpha"] == 1.0
    assert by["randaugment+adain"]["traditional"] == "randaugment"
    assert by["randaugment+adain"]["counts"]["aug_views"] == 2
    assert by["randaugment"]["counts"]["train_seen"] == n_real

    # the report's family sections: every arm with its differences, cost, and the alpha plot
    report_cfg = compose_cfg("report", [f"report.results_file={tmp_path}/results.jsonl",
                                        f"report.out_dir={tmp_path}/report", "logger=none",
                                        "report.bootstrap=0"], tiny_root)  # fmt: skip
    md = report(report_cfg)
    section = md[md.index("## Style families") :]
    for name in names:
        assert f"| `{name}` |" in section
    assert "best traditional arm on validation:" in section and "CPU-h" in section
    assert (tmp_path / "report/report_families.png").is_file()
    results = read_jsonl(tmp_path / "results.jsonl")
    lines = family_lines(results, summarize(results))
    adain_line = next(x for x in lines if x["arm"] == "adain")
    adain = next(x for x in summarize(results) if x["arm"] == "adain")
    none_acc = by["none"]["metrics"]["accuracy"] * 100
    assert adain["acc"]["mean"] - adain["seed_ci"]["none"]["mean"] == pytest.approx(none_acc)
    assert adain_line["vs_none"] is None  # one seed: no interval over seeds, so no headline
    # the best traditional arm is the one with the best validation accuracy, never test accuracy
    val = {a: by[a]["val_accuracy"] for a in ("flip_crop_jitter", "randaugment") if a in by}
    assert adain_line["best_traditional"] == max(val, key=val.get)
    # a network's training cost is shared among every row that used it
    cost = by["adain"]["style_compute"]
    users = network_users(results)
    (net,) = cost["networks"]
    share = cost["networks"][net]["seconds"] / users[net]
    assert users[net] >= 2  # adain, adain_a0.5 and randaugment+adain share the decoder
    hours = (share + cost["generation_seconds"]) / 3600
    assert sum(adain_line["cost"].values()) == pytest.approx(hours)
    assert adain_line["gain_per_hour"] is None or adain_line["vs_none"]["lo"] > 0


def test_unknown_arm_names_the_families(tiny_root, artifacts, tmp_path):
    cfg = classify_cfg(tiny_root, artifacts, tmp_path, "classifier.arms=[none,flip+adain]")
    with pytest.raises(ValueError, match="randaugment\\+adain"):
        arm_specs(cfg, [])


def test_offline_fda_and_histogram_arms_run_with_their_unstylized_control(
    tiny_root, tiny_index, tmp_path
):
    """The network-free families through the real augment and classify entries: each image takes
    its own style image's statistics (not a copy of it), and each arm runs beside ``unstylized``."""
    data = tmp_path / "data"
    aug = cfg_for(tiny_root, tmp_path / "none", "augment.families=[fda,histogram_match]",
                  "augment.scenarios=[biased_case1]", "augment.fda_beta=0.1",
                  f"paths.data_dir={data}", f"dataset.dir={tiny_root}/data/synthetic")  # fmt: skip
    summary = augment(aug)
    assert set(summary["sets"]) == {"fda", "histogram_match"} and summary["failed"] == 0
    for family in ("fda", "histogram_match"):
        rows = read_jsonl(data / "augmented/synthetic" / family / MANIFEST)
        assert rows and all(r["family"] == family and r["train_seconds"] == 0.0 for r in rows)
        assert len({r["stylizer"] for r in rows}) == 1  # named by its settings: no network
        r = rows[0]
        out = np.asarray(Image.open(data / "augmented/synthetic" / family / r["output"]), float)
        source = np.asarray(Image.open(tiny_index.abspath(r["source"])), float)
        style = np.asarray(Image.open(r["style_source"]), float)
        if r["view"]:
            source = source[:, ::-1]
        assert np.abs(out - source).mean() > 1  # stylized ...
        assert np.abs(out - style).mean() > 1  # ... not replaced by the style image
        # its colour statistics moved toward the style image's
        moved = np.abs(out.mean((0, 1)) - style.mean((0, 1))).sum()
        assert moved < np.abs(source.mean((0, 1)) - style.mean((0, 1))).sum()
    fda_rows = read_jsonl(data / "augmented/synthetic/fda" / MANIFEST)
    hist_rows = read_jsonl(data / "augmented/synthetic/histogram_match" / MANIFEST)
    assert fda_rows[0]["stylizer"] != hist_rows[0]["stylizer"]
    cfg = classify_cfg(tiny_root, None, tmp_path, "classifier.arms=[none,fda,histogram_match]",
                       "classifier.controls=true", "scenario=biased_case1",
                       f"dataset.dir={tiny_root}/data/synthetic")  # fmt: skip
    rows = {r["arm"]: r for r in classify(cfg)}
    assert set(rows) == {"none", "fda", "histogram_match", "unstylized", "reweighted"}
    assert rows["fda"]["style_family"] == "fda" and rows["histogram_match"]["style_family"] == (
        "histogram_match"
    )
    added = rows["unstylized"]["counts"]["augmented"]
    assert (
        rows["fda"]["counts"]["augmented"]
        == added
        == rows["histogram_match"]["counts"]["augmented"]
    )
    lines = {x["arm"]: x for x in summarize(list(rows.values()))}
    assert {"none", "unstylized", "reweighted"} <= set(lines["fda"]["seed_ci"])  # paired with them
