"""classify: counts reach the model, cached == uncached, determinism, result rows, error paths."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from stylaug.artifacts.training_lists import LEAK_NOTE, list_id, training_list
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.data.index import load_index
from stylaug.data.scenarios import apply_view, sample_scenario
from tests.conftest import TINY_DATASET, compose_cfg

FAST = [
    "classifier.controls=false",  # the controls have their own tests (test_controls.py)
    "classifier.epochs=3",
    "classifier.image_size=32",
    "classifier.num_workers=0",
    "logger=none",
]


def write_fake_augmented(
    root: Path,
    out: Path,
    seeds=(0,),
    scenarios=("balanced", "biased_case2", "scarce"),
    pool="scenario",
):
    """The augment stage's output format, made by colour-jittering the sources (no stylizer)."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = compose_cfg("classify", TINY_DATASET, root)
    index = load_index(cfg.dataset)
    lines = {}
    for seed in seeds:
        for name in scenarios:
            sc = compose_cfg("classify", [*TINY_DATASET, f"scenario={name}"], root).scenario
            split = sample_scenario(index, sc, seed)
            for cls, pairs in split.augment.items():
                sid = list_id(index, training_list(index, split, cls, pool))
                for source, view in pairs:
                    rel = f"{cls}/{sid}/{Path(source).stem}_v{view}.png"
                    if (sid, source, view) in lines:
                        continue
                    img = Image.open(index.abspath(source)).convert("RGB")
                    img = apply_view(img, view)
                    img = ImageEnhance.Color(img).enhance(0.3)
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    img.save(out / rel)
                    lines[(sid, source, view)] = {
                        "source": source,
                        "view": view,
                        "class": cls,
                        "stylizer": f"fake-{cls}-{sid}",
                        "stylizer_id": sid,
                        "pool": pool,
                        "format": "png",
                        "content_score": 0.5,
                        "gram_distance": 1.0,
                        "source_gram_distance": 4.0,
                        "output": rel,
                        "loss_net_weights": "vgg16:random-init",
                        "settings": "abc",
                        "preserve_color": False,
                        "rank": 0,
                    }
    (out / "manifest.jsonl").write_text("".join(json.dumps(v) + "\n" for v in lines.values()))
    return out


def run(root, tmp_path, aug, *extra):
    cfg = compose_cfg(
        "classify",
        [
            *TINY_DATASET,
            *FAST,
            f"classifier.augmented_dir={aug}",
            f"classifier.results_file={tmp_path}/results.jsonl",
            f"classifier.cache_dir={tmp_path}/features",
            "model.backbone.weights=random",
            *extra,
        ],
        root,
    )
    return cfg, classify(cfg)


def test_rows_counts_and_skip(tiny_root, tiny_index, aug_dir, tmp_path):
    cfg, rows = run(tiny_root, tmp_path, aug_dir, "scenario=biased_case2")
    assert [r["arm"] for r in rows] == ["none", "style"]
    split = sample_scenario(tiny_index, cfg.scenario, 0)
    for r in rows:
        assert {
            "scenario",
            "arm",
            "seed",
            "dataset",
            "weights",
            "counts",
            "metrics",
            "config_hash",
        } <= set(r)
        assert set(r["metrics"]) >= {
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "per_class",
            "confusion",
        }
        assert r["dataset"] == "synthetic" and r["weights"]["backbone"].startswith(
            "resnet18:random-init(seed=0"
        )
        assert r["counts"]["train"] == {c: len(v) for c, v in split.train.items()}
        assert len(r["predictions"]) == sum(len(v) for v in split.test.values()) == 32
        assert np.array(r["metrics"]["confusion"]).sum() == 32
    n_real = sum(len(v) for v in split.train.values())
    n_aug = sum(len(v) for v in split.augment.values())
    assert rows[0]["counts"]["train_seen"] == n_real
    assert rows[1]["counts"]["train_seen"] == n_real + n_aug
    assert rows[1]["counts"]["augmented"]["hot_spring"] == n_aug  # biased_case2: minority only
    assert rows[1]["weights"]["stylizers"]["hot_spring"]["loss_net_weights"] == "vgg16:random-init"
    assert rows[0]["weights"]["stylizers"] is None
    assert read_jsonl(tmp_path / "results.jsonl") == rows
    # a second run with the same config skips both arms; force reruns them
    assert run(tiny_root, tmp_path, aug_dir, "scenario=biased_case2")[1] == []
    again = run(tiny_root, tmp_path, aug_dir, "scenario=biased_case2", "classifier.force=true")[1]
    assert [r["metrics"] for r in again] == [r["metrics"] for r in rows]  # same seed, same metrics
    assert again[0]["feature_cache"]["computed"] == 0  # warm cache


def test_cached_and_uncached_heads_agree(tiny_root, aug_dir, tmp_path):
    args = ("scenario=balanced", "classifier.arms=[none]", "classifier.epochs=3")
    (cached,) = run(tiny_root, tmp_path / "a", aug_dir, *args)[1]
    # image loading in worker processes must not change the shuffle order
    direct_args = ("classifier.feature_cache=false", "classifier.num_workers=2")
    (direct,) = run(tiny_root, tmp_path / "b", aug_dir, *args, *direct_args)[1]
    assert not cached["backbone_every_epoch"] and direct["backbone_every_epoch"]
    assert direct["config_hash"] == cached["config_hash"]
    assert cached["metrics"]["accuracy"] == direct["metrics"]["accuracy"]
    agree = np.mean(np.array(cached["predictions"]) == np.array(direct["predictions"]))
    assert agree >= 0.95
    assert cached["best_epoch"] == direct["best_epoch"]


def test_missing_stylized_images_name_the_augment_command(tiny_root, tmp_path):
    empty = tmp_path / "nothing"
    with pytest.raises(FileNotFoundError, match=r"python -m stylaug.augment .*seed=0") as err:
        run(tiny_root, tmp_path, empty, "scenario=balanced", f"stylizer.out_dir={tmp_path}/s")
    msg = str(err.value)
    assert "40 of the 40 stylized images" in msg
    # no stylizer either: the command that trains exactly this scenario's stylizers comes first
    assert (
        "python -m stylaug.train_stylizer -m class=desert_sand,hot_spring,ocean,skyscraper "
        "scenario=balanced seed=0"
    ) in msg
    assert not (tmp_path / "results.jsonl").exists()


def test_unknown_arm_is_an_error(tiny_root, aug_dir, tmp_path):
    with pytest.raises(ValueError, match="classifier.arms"):
        run(tiny_root, tmp_path, aug_dir, "classifier.arms=[none,bogus]")


def test_traditional_arm_with_cached_views(tiny_root, aug_dir, tmp_path):
    args = ("scenario=scarce", "classifier.arms=[flip_crop_jitter]", "classifier.aug_views=2")
    (row,) = run(tiny_root, tmp_path, aug_dir, *args)[1]
    assert row["counts"]["aug_views"] == 2 and not row["backbone_every_epoch"]
    (again,) = run(tiny_root, tmp_path, aug_dir, *args, "classifier.force=true")[1]
    assert again["predictions"] == row["predictions"]
    assert again["feature_cache"]["computed"] == 0


def test_bn_train_mode_quirk_bypasses_the_cache(tiny_root, aug_dir, tmp_path):
    args = (
        "scenario=scarce",
        "classifier.arms=[none]",
        "classifier.epochs=1",
        "model.backbone.bn_train_mode=true",
    )
    (row,) = run(tiny_root, tmp_path, aug_dir, *args)[1]
    assert row["backbone_every_epoch"] and not row["feature_cache"]["used"]
    assert not (tmp_path / "features").exists() or not any((tmp_path / "features").rglob("*.npy"))


def test_multirun_cli_one_row_per_job_and_arm(tiny_root, aug_dir, tmp_path):
    import os
    import subprocess
    import sys

    res = tmp_path / "results.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "stylaug.classify",
        "-m",
        "scenario=balanced,scarce",
        "seed=0",
        *TINY_DATASET,
        *FAST,
        f"paths.root={tiny_root}",
        f"classifier.augmented_dir={aug_dir}",
        f"classifier.results_file={res}",
        f"classifier.cache_dir={tmp_path}/features",
        "model.backbone.weights=random",
        f"hydra.sweep.dir={tmp_path}/multirun",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    out = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2]
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read_jsonl(res)
    assert [(r["scenario"], r["arm"]) for r in rows] == [
        ("balanced", "none"),
        ("balanced", "style"),
        ("scarce", "none"),
        ("scarce", "style"),
    ]
    assert len(list((tmp_path / "multirun").rglob("confusion_*.png"))) == 4


def test_epoch_shuffle_depends_on_seed_and_epoch_only():
    from stylaug.classify.linear_head import EpochShuffle

    s = EpochShuffle(50, seed=3)
    first = list(s)
    assert list(s) == first and sorted(first) == list(range(50))  # re-iterating: same order
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first and list(EpochShuffle(50, seed=4)) != first


def test_style_rows_say_which_pool_made_them_and_how_good_they_are(tiny_root, aug_dir, tmp_path):
    (none, style) = run(tiny_root, tmp_path, aug_dir, "scenario=scarce")[1]
    assert none["stylizer_pool"] is None and none["style_quality"] is None
    assert style["stylizer_pool"] == "scenario" and LEAK_NOTE not in style["notes"]
    q = style["style_quality"]["ocean"]
    assert q == {"content_score": 0.5, "gram_ratio": 0.25, "images": 5}
    leaky = write_fake_augmented(tiny_root, tmp_path / "class_pool", pool="class")
    rows = run(tiny_root, tmp_path, leaky, "scenario=scarce", "stylizer.pool=class",
               "classifier.arms=[style]")[1]  # fmt: skip
    assert rows[0]["stylizer_pool"] == "class" and LEAK_NOTE in rows[0]["notes"]
    assert rows[0]["config_hash"] != style["config_hash"]
    # the scenario pool's manifest has no images of the class pool's stylizers: a clear error
    with pytest.raises(FileNotFoundError, match="stylizer.pool=class"):
        run(tiny_root, tmp_path, aug_dir, "scenario=scarce", "stylizer.pool=class")


def test_arms_are_independent_under_the_batch_norm_quirk(tiny_root, aug_dir, tmp_path, monkeypatch):
    """Each arm trains on its own copy of the backbone: an arm that ran before must not have
    moved the batch-norm statistics another arm starts from."""
    import torch
    from omegaconf import OmegaConf

    import stylaug.classify.stage as C

    original, loaded = C.load_backbone, []

    def keep(backbone_cfg):
        loaded.append(original(backbone_cfg))
        return loaded[-1]

    monkeypatch.setattr(C, "load_backbone", keep)
    quirk = ("scenario=scarce", "classifier.epochs=1", "model.backbone.bn_train_mode=true")
    run(tiny_root, tmp_path, aug_dir, *quirk, "classifier.arms=[style,none]")
    shared, _ = loaded[0]
    fresh, _ = original(OmegaConf.create({"arch": "resnet18", "weights": "random"}))
    for (name, a), b in zip(shared.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name} moved: the arms shared one backbone"


def test_any_new_classifier_setting_changes_the_result_identity(tiny_root, aug_dir, tmp_path):
    from omegaconf import OmegaConf

    from stylaug.classify.stage import config_hash

    cfg = compose_cfg("classify", TINY_DATASET, tiny_root)
    index = load_index(cfg.dataset)
    base = config_hash(cfg, index, "none", None)
    for key in ("classifier.some_future_knob", "dataset.some_future_knob",
                "scenario.some_future_knob", "model.backbone.some_future_knob"):  # fmt: skip
        changed = cfg.copy()
        OmegaConf.update(changed, key, 1, force_add=True)
        assert config_hash(changed, index, "none", None) != base, key
    for key, value in (("classifier.force", True), ("classifier.num_workers", 7),
                       ("classifier.aug_views", 3), ("classifier.feature_cache", False)):  # fmt: skip
        same = cfg.copy()
        OmegaConf.update(same, key, value)
        assert config_hash(same, index, "none", None) == base, key
    views = cfg.copy()
    OmegaConf.update(views, "classifier.aug_views", 3)
    assert config_hash(views, index, "randaugment", None) != config_hash(
        cfg, index, "randaugment", None
    )
    # the dataset's contents are part of the identity: a re-indexed copy is not served old rows
    reindexed = copy.deepcopy(index)
    cls = index.classes[0]
    reindexed.files["train"][cls] = reindexed.files["train"][cls][:-1]
    assert config_hash(cfg, reindexed, "none", None) != base
