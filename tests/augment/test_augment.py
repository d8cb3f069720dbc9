"""augment: counts, manifest <-> files, sources inside the scenario's training lists, resume after
SIGKILL, exactly once on two ddp_spawn processes, clear errors."""

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.artifacts.checkpoints import checkpoint_path
from stylaug.artifacts.manifest import MANIFEST
from stylaug.artifacts.training_lists import list_id
from stylaug.augment.set_plan import output_format, plan_jobs, scenario_configs
from stylaug.augment.stage import augment
from stylaug.core.io import read_jsonl
from stylaug.data.scenarios import sample_scenario
from stylaug.models.stylizer import load_stylizer, save_stylizer, stylizer_hash
from stylaug.models.transformer_net import TransformerNet
from tests.conftest import TINY_DATASET, compose_cfg

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["desert_sand", "hot_spring", "ocean", "skyscraper"]


def fake_stylizer(seed: int) -> TransformerNet:
    """An untrained network whose output is mid-grey plus a strong function of the input (an
    untrained one in the reference's scale is nearly black, which would hide mistakes)."""
    torch.manual_seed(seed)
    net = TransformerNet()
    with torch.no_grad():
        net.decoder[-1][-1].weight.mul_(50)
        net.decoder[-1][-1].bias.fill_(127.5)
    return net


def save_fake_stylizers(folder, index, cfg) -> dict:
    """One checkpoint per (class, training list) that ``cfg``'s scenarios and seeds need."""
    plan = plan_jobs(index, cfg)
    for k, (cls, sid) in enumerate(sorted(plan.needed)):
        style = index.paths("train", cls)[0]
        meta = {"class": cls, "dataset": "synthetic", "residual_blocks": 5, "pool": "scenario",
                "list_id": sid, "loss_net": "vgg16", "loss_net_weights": "vgg16:random-init",
                "style_layers": ["relu1_2", "relu2_2"], "image_size": 32, "style_blend": [1.0],
                "style_images": [{"path": str(index.abspath(style))}], "preserve_color": False}  # fmt: skip
        save_stylizer(checkpoint_path(folder, cls, sid), fake_stylizer(k), meta)
    return plan.needed


@pytest.fixture(scope="module")
def stylizer_dir(tmp_path_factory, tiny_root, tiny_index):
    """Untrained (seeded) stylizers in the checkpoint format train_stylizer writes: fast."""
    folder = tmp_path_factory.mktemp("stylizers")
    cfg = augment_cfg(tiny_root, folder, folder / "unused", "augment.seeds=[0,1]")
    save_fake_stylizers(folder, tiny_index, cfg)
    return folder


def overrides(stylizer_dir, out_dir, *extra):
    return [
        *TINY_DATASET,
        f"augment.stylizer_dir={stylizer_dir}",
        f"augment.out_dir={out_dir}",
        "augment.batch_size=8",
        "data.num_workers=0",
        "logger=none",
        *extra,
    ]


def augment_cfg(root, stylizer_dir, out_dir, *extra):
    return compose_cfg("augment", overrides(stylizer_dir, out_dir, *extra), root)


def expected_triples(index, cfg, seeds):
    """class -> {(stylizer list id, source, view)}: each scenario's sources, by its own stylizer."""
    triples = collections.defaultdict(set)
    for seed in seeds:
        for scenario in scenario_configs(cfg):
            split = sample_scenario(index, scenario, seed)
            for cls, items in split.augment.items():
                sid = list_id(index, split.train[cls])
                triples[cls] |= {(sid, s, v) for s, v in items}
    return triples


def check_one_to_one(out_dir):
    rows = read_jsonl(out_dir / MANIFEST)
    outputs = [r["output"] for r in rows]
    assert len(outputs) == len(set(outputs))  # no image twice
    assert len({(r["stylizer_id"], r["source"], r["view"]) for r in rows}) == len(rows)
    files = {p.relative_to(out_dir).as_posix() for p in out_dir.glob("*/*/*") if p.is_file()}
    assert files == set(outputs)  # every file has its line, every line its file; no temp files
    return rows


def test_counts_manifest_and_sources(tiny_root, tiny_index, stylizer_dir, tmp_path):
    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, stylizer_dir, out, "augment.seeds=[0,1]")
    summary = augment(cfg)
    rows = check_one_to_one(out)
    want = expected_triples(tiny_index, cfg, [0, 1])
    got = collections.defaultdict(set)
    for r in rows:
        assert set(r) >= {"source", "view", "class", "stylizer", "stylizer_id", "output", "format"}
        ckpt = checkpoint_path(stylizer_dir, r["class"], r["stylizer_id"])
        assert r["stylizer"] == stylizer_hash(ckpt) and r["pool"] == "scenario"
        assert r["format"] == "png" and r["output"].endswith(".png")  # PNG sources stay PNG
        assert -1 <= r["content_score"] <= 1 and r["gram_distance"] >= 0
        got[r["class"]].add((r["stylizer_id"], r["source"], r["view"]))
    assert got == want  # exactly the union over scenarios and seeds, per class and stylizer
    assert summary["written"] == len(rows) == summary["planned"] and summary["failed"] == 0
    for seed in (0, 1):  # every source is inside the training list its own stylizer trained on
        for scenario in scenario_configs(cfg):
            split = sample_scenario(tiny_index, scenario, seed)
            for cls, items in split.augment.items():
                sid = list_id(tiny_index, split.train[cls])
                assert {(sid, s, v) for s, v in items} <= got[cls]
                assert {s for s, _ in items} <= set(split.train[cls])
                assert not {s for s, _ in items} & set(split.test[cls] + split.val[cls])
    # the hot_spring minority has its own stylizers in the biased and scarce scenarios
    assert len({sid for sid, _, _ in got["hot_spring"]}) > len({sid for sid, _, _ in got["ocean"]})
    with Image.open(out / rows[0]["output"]) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    mirrored = [r for r in rows if r["view"] == 1]
    assert mirrored  # the scarce scenario needs mirrored second views
    assert (out / "samples.png").is_file()
    info = json.loads((out / "info.json").read_text())
    assert set(info["quality"]) == {*CLASSES, "all"}
    assert info["quality"]["all"]["images"] == len(rows)

    # a rerun does nothing but tidy up: a torn manifest line, an orphan file, a temp file
    with open(out / MANIFEST, "a") as f:
        f.write('{"source": "train/oce')
    folder = out / rows[0]["output"].rsplit("/", 1)[0]
    (folder / "orphan-v0.png").write_bytes(b"x")
    (folder / ".partial.tmp.png").write_bytes(b"")
    again = augment(cfg)
    assert again["written"] == 0 and again["skipped"] == summary["planned"]
    assert len(check_one_to_one(out)) == len(rows)
    # a per-class cap and a class subset are honoured
    capped = tmp_path / "capped"
    augment(augment_cfg(tiny_root, stylizer_dir, capped, "augment.max_per_class=3",
                        "augment.classes=[ocean,hot_spring]"))  # fmt: skip
    counts = collections.Counter(r["class"] for r in check_one_to_one(capped))
    assert counts == {"ocean": 3, "hot_spring": 3}


def test_view_one_is_the_mirrored_source(tiny_root, tiny_index, stylizer_dir, tmp_path):
    from PIL import ImageOps

    from stylaug.data.dataset import square_tensor
    from stylaug.data.images import load_rgb
    from stylaug.models.stylizer import stylize_batch

    out = tmp_path / "aug"
    augment(augment_cfg(tiny_root, stylizer_dir, out, "augment.scenarios=[scarce]",
                        "augment.classes=[ocean]"))  # fmt: skip
    rows = {(r["source"], r["view"]): r for r in read_jsonl(out / MANIFEST)}
    source = next(s for s, v in rows if v == 1)
    row = rows[(source, 1)]
    net, _ = load_stylizer(checkpoint_path(stylizer_dir, "ocean", row["stylizer_id"]))
    img = load_rgb(tiny_index.abspath(source))
    for view, seen in ((0, img), (1, ImageOps.mirror(img))):  # view 1 stylizes the mirror image
        with torch.no_grad():
            expected = stylize_batch(net, square_tensor(seen, 32)[None])[0]
        expected = expected.mul(255).round().permute(1, 2, 0).numpy()
        got = np.asarray(Image.open(out / rows[(source, view)]["output"]), dtype=float)
        assert np.abs(got - expected).max() <= 1, view
    a, b = (np.asarray(Image.open(out / rows[(source, v)]["output"]), float) for v in (0, 1))
    assert not np.allclose(a, b)


def test_missing_checkpoint_names_file_and_command(tiny_root, stylizer_dir, tmp_path):
    partial = tmp_path / "stylizers"
    for ckpt in stylizer_dir.glob("*/*.ckpt"):
        if ckpt.parent.name in ("desert_sand", "ocean"):
            (partial / ckpt.parent.name).mkdir(parents=True, exist_ok=True)
            (partial / ckpt.parent.name / ckpt.name).write_bytes(ckpt.read_bytes())
    with pytest.raises(FileNotFoundError) as err:
        augment(augment_cfg(tiny_root, partial, tmp_path / "aug"))
    msg = str(err.value)
    assert str(partial / "hot_spring") in msg or str(partial / "skyscraper") in msg
    assert (
        "python -m stylaug.train_stylizer -m class=hot_spring,skyscraper "
        "scenario=balanced,biased_case1,biased_case2,scarce seed=0"
    ) in msg
    assert not (tmp_path / "aug").exists()


def test_changed_stylizer_regenerates_its_own_images_only(tiny_root, stylizer_dir, tmp_path):
    mine = tmp_path / "stylizers"
    for ckpt in stylizer_dir.glob("*/*.ckpt"):
        (mine / ckpt.parent.name).mkdir(parents=True, exist_ok=True)
        (mine / ckpt.parent.name / ckpt.name).write_bytes(ckpt.read_bytes())
    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, mine, out, "augment.scenarios=[scarce]")
    first = augment(cfg)
    changed = next((mine / "ocean").glob("*.ckpt"))
    _, meta = load_stylizer(changed)
    save_stylizer(changed, fake_stylizer(99), meta)
    second = augment(cfg)
    n_ocean = sum(r["class"] == "ocean" for r in read_jsonl(out / MANIFEST))
    assert second["written"] == n_ocean and second["skipped"] == first["planned"] - n_ocean
    new_hash = stylizer_hash(changed)
    rows = check_one_to_one(out)
    assert all(r["stylizer"] == new_hash for r in rows if r["class"] == "ocean")


def test_stylized_images_keep_their_sources_format(tiny_root, tiny_index, tmp_path):
    """A JPEG source gives a JPEG (no file-format cue for the classifier); augment.format wins."""
    from stylaug.data.index import DatasetIndex

    assert output_format("train/ocean/a.JPG", "source") == "jpeg"
    assert output_format("train/ocean/a.png", "source") == "png"
    assert output_format("train/ocean/a.png", "jpeg") == "jpeg"
    with pytest.raises(ValueError, match="augment.format='gif' is not valid"):
        output_format("a.png", "gif")
    data = tmp_path / "jpeg_data"
    files = {}
    for split, per_class in tiny_index.files.items():  # the tiny dataset, re-saved as JPEG
        files[split] = {}
        for cls, rels in per_class.items():
            files[split][cls] = [r.replace(".png", ".jpg") for r in rels]
            for rel, new in zip(rels, files[split][cls], strict=True):
                (data / new).parent.mkdir(parents=True, exist_ok=True)
                Image.open(tiny_index.abspath(rel)).save(data / new, quality=90)
    DatasetIndex("synthetic", data, tiny_index.classes, files, tiny_index.meta).save(
        data / "index.json"
    )
    stylizers, out = tmp_path / "stylizers", tmp_path / "aug"
    extra = ("augment.scenarios=[scarce]", "augment.classes=[ocean]", f"dataset.dir={data}")
    cfg = augment_cfg(tiny_root, stylizers, out, *extra)
    save_fake_stylizers(stylizers, DatasetIndex.load(data / "index.json"), cfg)
    augment(cfg)
    rows = read_jsonl(out / MANIFEST)
    assert rows and all(r["format"] == "jpeg" and r["output"].endswith(".jpg") for r in rows)
    with Image.open(out / rows[0]["output"]) as img:
        assert img.format == "JPEG"
    forced = augment(
        augment_cfg(tiny_root, stylizers, tmp_path / "png", *extra, "augment.format=png")
    )
    assert forced["written"] == len(rows)
    assert all(r["output"].endswith(".png") for r in read_jsonl(tmp_path / "png" / MANIFEST))


@pytest.mark.slow  # minutes; `make test-slow`
def test_sigkill_halfway_then_rerun_gives_a_complete_duplicate_free_set(
    tiny_root, stylizer_dir, tmp_path
):
    out = tmp_path / "aug"
    args = overrides(stylizer_dir, out, "augment.batch_size=2", f"paths.root={tiny_root}")
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests/augment/augment_worker.py"), "0.05", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while len(read_jsonl(out / MANIFEST)) < 10:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "worker made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    partial = len(read_jsonl(out / MANIFEST))
    cfg = compose_cfg("augment", args)
    summary = augment(cfg)
    assert 10 <= partial < summary["planned"]  # it really was killed halfway
    rows = check_one_to_one(out)
    assert len(rows) == summary["planned"] and summary["failed"] == 0
    assert summary["skipped"] >= partial - 2  # finished images were kept, not redone
    assert not list(out.rglob(".*tmp*"))


@pytest.mark.slow  # minutes; `make test-slow`
def test_two_ddp_spawn_processes_write_every_image_exactly_once(tiny_root, stylizer_dir, tmp_path):
    out = tmp_path / "aug"
    cmd = [
        sys.executable,
        "-m",
        "stylaug.augment",
        *overrides(
            stylizer_dir, out, "augment.scenarios=[scarce]", "augment.classes=[ocean,hot_spring]"
        ),
        f"paths.root={tiny_root}",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp_spawn",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = check_one_to_one(out)
    cfg = augment_cfg(
        tiny_root,
        stylizer_dir,
        out,
        "augment.scenarios=[scarce]",
        "augment.classes=[ocean,hot_spring]",
    )
    from stylaug.data.index import load_index

    plan = plan_jobs(load_index(cfg.dataset), cfg)
    assert {r["output"] for r in rows} == {j.output for v in plan.jobs.values() for j in v}
    by_rank = collections.Counter(r["rank"] for r in rows)
    assert set(by_rank) == {0, 1} and abs(by_rank[0] - by_rank[1]) <= 1  # split, not repeated


def test_colour_preserving_post_process_is_applied(tiny_root, stylizer_dir, tmp_path):
    from stylaug.data.dataset import square_tensor
    from stylaug.data.images import load_rgb
    from stylaug.models.stylizer import stylize_batch

    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, stylizer_dir, out, "augment.scenarios=[scarce]",
                      "augment.classes=[ocean]", "augment.preserve_color=true")  # fmt: skip
    augment(cfg)
    rows = [r for r in read_jsonl(out / MANIFEST) if r["view"] == 0]
    net, _ = load_stylizer(checkpoint_path(stylizer_dir, "ocean", rows[0]["stylizer_id"]))
    assert rows and all(r["preserve_color"] for r in rows)
    sources = torch.stack(
        [square_tensor(load_rgb(Path(cfg.dataset.dir) / r["source"]), 32) for r in rows]
    )
    for preserve, close in ((True, True), (False, False)):
        with torch.no_grad():
            expected = stylize_batch(net, sources, preserve).mul(255).round().to(torch.uint8)
        for r, e in zip(rows, expected, strict=True):
            got = torch.from_numpy(np.asarray(Image.open(out / r["output"]))).permute(2, 0, 1)
            diff = (got.int() - e.int()).abs().max().item()
            assert (diff <= 1) == close, (r["output"], preserve, diff)
