"""Torn and damaged files of every kind the project writes and reads back: each ends in an error
that names the file, or is named in a warning, discarded and made again - never reused."""

import json
import logging
import shutil

import numpy as np
import pytest
import torch

from stylaug.artifacts.manifest import MANIFEST
from stylaug.augment.stage import augment
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.data.check import CACHE_NAME, check_images
from stylaug.data.index import DatasetIndex, load_index
from stylaug.models.adain import Decoder, load_decoder, save_decoder
from stylaug.models.stylizer import StylizerCheckpointError, load_stylizer, save_stylizer
from stylaug.models.transformer_net import TransformerNet
from stylaug.report.stage import report
from stylaug.train_stylizer.stage import train_stylizer
from tests.augment.test_augment import save_fake_stylizers
from tests.conftest import TINY_DATASET, compose_cfg
from tests.train_stylizer.test_train_stylizer import stylizer_cfg


def zero_middle(path, fraction=0.5, length=4096):
    """Same size, some bytes zeroed: what a bad block or a botched copy leaves."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * fraction)
    data[start : start + length] = bytes(min(length, len(data) - start))
    path.write_bytes(bytes(data))


def truncate(path, keep=0.6):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


# --- classify: the feature cache and results.jsonl ---------------------------------------------


def classify_cfg(root, out, *extra):
    return compose_cfg(
        "classify",
        [*TINY_DATASET, "classifier.epochs=2", "classifier.image_size=32", "logger=none",
         "classifier.num_workers=0", "classifier.arms=[none]", "classifier.controls=false",
         "model.backbone.weights=random",
         "scenario=scarce", f"classifier.results_file={out}/results.jsonl",
         f"classifier.cache_dir={out}/features", *extra],
        root,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean_run(tiny_root, tmp_path_factory):
    """One classify job on an intact cache: its row and its feature cache."""
    out = tmp_path_factory.mktemp("clean")
    (row,) = classify(classify_cfg(tiny_root, out))
    return out, row


@pytest.mark.parametrize("damage", [truncate, zero_middle], ids=["truncated", "zeroed"])
def test_a_damaged_feature_shard_is_named_discarded_and_recomputed(
    tiny_root, clean_run, tmp_path, caplog, damage
):
    clean, row = clean_run
    shutil.copytree(clean / "features", tmp_path / "features")
    (shard,) = (tmp_path / "features").glob("*/shard-*.npy")
    damage(shard)
    with caplog.at_level(logging.WARNING):
        (again,) = classify(classify_cfg(tiny_root, tmp_path))
    assert str(shard) in caplog.text and "damaged" in caplog.text
    assert again["feature_cache"]["computed"] == row["feature_cache"]["computed"]  # all of them
    assert again["metrics"] == row["metrics"] and again["predictions"] == row["predictions"]
    (new,) = (tmp_path / "features").glob("*/shard-*.npy")  # the damaged one is gone
    assert new.read_bytes() == (next((clean / "features").glob("*/shard-*.npy"))).read_bytes()


def test_a_torn_results_line_is_dropped_and_the_new_row_is_not_glued_to_it(
    tiny_root, clean_run, tmp_path, caplog
):
    clean, row = clean_run
    results = tmp_path / "results.jsonl"
    other = {**row, "seed": 7, "config_hash": "another-job"}
    results.write_text(json.dumps(other) + "\n" + json.dumps(row)[:500])  # killed mid-append
    shutil.copytree(clean / "features", tmp_path / "features")
    with caplog.at_level(logging.WARNING):
        (new,) = classify(classify_cfg(tiny_root, tmp_path))
    assert "incomplete last line" in caplog.text and str(results) in caplog.text
    assert read_jsonl(results) == [other, new]
    md = report(compose_cfg("report", ["logger=none", f"report.results_file={results}",
                                       f"report.out_dir={tmp_path}", "report.bootstrap=0"]))  # fmt: skip
    assert "scarce" in md


def test_a_bad_middle_results_line_is_still_an_error_naming_file_and_line(tmp_path, clean_run):
    results = tmp_path / "results.jsonl"
    line = json.dumps(clean_run[1])
    results.write_text(f"{line}\n{line[:100]}\n{line}\n")
    with pytest.raises(ValueError, match=rf"{results}:2: not valid JSON"):
        report(compose_cfg("report", ["logger=none", f"report.results_file={results}",
                                      f"report.out_dir={tmp_path}"]))  # fmt: skip


# --- checkpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [truncate, zero_middle], ids=["truncated", "zeroed"])
def test_a_damaged_stylizer_or_decoder_checkpoint_is_an_error_naming_it(tmp_path, damage):
    torch.manual_seed(0)
    stylizer, decoder = tmp_path / "s.ckpt", tmp_path / "d.ckpt"
    save_stylizer(stylizer, TransformerNet(), {"residual_blocks": 5})
    save_decoder(decoder, Decoder(96, [64, 32, 16]), {"in_channels": 96, "widths": [64, 32, 16]})
    for path in (stylizer, decoder):
        damage(path)
    with pytest.raises(StylizerCheckpointError, match=str(stylizer)):
        load_stylizer(stylizer)
    with pytest.raises(ValueError, match=rf"{decoder} is damaged"):
        load_decoder(decoder)


def test_train_stylizer_retrains_a_damaged_checkpoint_and_starts_over_from_a_damaged_last_ckpt(
    tiny_root, tmp_path, caplog
):
    out = tmp_path / "stylizers"
    path = train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=2"))
    _, meta = load_stylizer(path)
    work = out / "_train/ocean" / meta["list_id"]
    zero_middle(path)
    zero_middle(work / "last.ckpt", fraction=0.3)
    with caplog.at_level(logging.WARNING):
        train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=3"))
    assert f"{path} is damaged" in caplog.text  # the final checkpoint: retrained
    assert f"{work / 'last.ckpt'} is damaged" in caplog.text  # the resume point: not used
    _, again = load_stylizer(path)
    assert again["steps"] == 3 and not again["resumed"]  # from step 0, not from a damaged state
    (work / "settings.json").write_text('{"resume_key": ')  # a torn stamp: no resume, no crash
    train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=4"))
    assert load_stylizer(path)[1]["steps"] == 4


# --- data: index.json, image_check.json, the synthetic set's stamp ---------------------------------


def test_a_damaged_index_is_an_error_naming_it_and_the_command_that_rewrites_it(tmp_path):
    from stylaug.prepare_data.stage import prepare_data

    cfg = compose_cfg("prepare_data", TINY_DATASET, tmp_path)
    prepare_data(cfg)
    index = tmp_path / "data/synthetic/index.json"
    raw = json.loads(index.read_text())
    raw["files"]["train"]["ocean"].pop()  # valid JSON, but not what prepare_data wrote
    index.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=rf"{index} is damaged.*python -m stylaug.prepare"):
        load_index(cfg.dataset)
    truncate(index)
    with pytest.raises(ValueError, match=rf"{index} is damaged: not valid JSON"):
        load_index(cfg.dataset)
    (tmp_path / "data/synthetic/.settings.json").write_text("{")  # and a torn render stamp
    prepare_data(cfg)  # renders again, writes a new index
    assert load_index(cfg.dataset).counts()["train"]["ocean"] == 60


def test_a_tampered_image_check_cache_is_not_trusted(tmp_path, caplog):
    from PIL import Image

    root = tmp_path / "data"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (16, 16), (40 * i, 90, 10)).save(root / cls / f"{i}.png")
    (root / "a/1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    files = {"train": {c: [f"{c}/0.png", f"{c}/1.png"] for c in ("a", "b")}}
    index = DatasetIndex("mine", root, ["a", "b"], files, {})
    cache = root / CACHE_NAME
    assert [b["path"] for b in check_images(index, cache).meta["bad_images"]] == ["a/1.png"]
    raw = json.loads(cache.read_text())
    raw["files"]["a/1.png"]["reason"] = None  # the bad file's verdict flipped to "readable"
    cache.write_text(json.dumps(raw))
    with caplog.at_level(logging.WARNING):
        checked = check_images(index, cache)
    assert [b["path"] for b in checked.meta["bad_images"]] == ["a/1.png"]
    assert f"{cache} is damaged" in caplog.text


# --- augment: the manifest and the stylized images ------------------------------------------------


def augment_cfg(root, folder, *extra):
    return compose_cfg(
        "augment",
        [*TINY_DATASET, f"augment.stylizer_dir={folder}/stylizers", "augment.scenarios=[scarce]",
         f"augment.out_dir={folder}/aug", "augment.batch_size=8", "data.num_workers=0",
         "logger=none", *extra],
        root,
    )  # fmt: skip


def augmented(root, index, folder, *extra):
    """A stylized set made by augment under ``folder`` from fake stylizers; its config."""
    cfg = augment_cfg(root, folder, *extra)
    save_fake_stylizers(folder / "stylizers", index, cfg)
    augment(cfg)
    return cfg


def test_a_damaged_stylized_image_is_refused_by_classify_and_made_again_by_augment(
    tiny_root, tiny_index, tmp_path, caplog
):
    cfg = augmented(tiny_root, tiny_index, tmp_path)
    out = tmp_path / "aug"
    rows = read_jsonl(out / MANIFEST)
    assert all(len(r["sha256"]) == 64 for r in rows)
    intact = {r["output"]: (out / r["output"]).read_bytes() for r in rows}
    victim = out / rows[3]["output"]
    zero_middle(victim, fraction=0.6, length=40)
    classify_args = [f"classifier.augmented_dir={out}", "classifier.arms=[none,style]"]
    with pytest.raises(FileNotFoundError, match=rf"{victim} \(damaged"):
        classify(classify_cfg(tiny_root, tmp_path, *classify_args))
    with caplog.at_level(logging.WARNING):
        summary = augment(cfg)
    assert summary["written"] == 1 and "damaged" in caplog.text and rows[3]["output"] in caplog.text
    assert {r["output"]: (out / r["output"]).read_bytes() for r in read_jsonl(out / MANIFEST)} == (
        intact
    )  # the very same bytes again
    rows_now = classify(classify_cfg(tiny_root, tmp_path, *classify_args))
    assert [r["arm"] for r in rows_now] == ["none", "style"]


def test_a_bad_manifest_line_is_an_error_naming_file_and_line(tiny_root, tiny_index, tmp_path):
    cfg = augmented(tiny_root, tiny_index, tmp_path, "augment.classes=[ocean]")
    manifest = tmp_path / "aug" / MANIFEST
    lines = manifest.read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{manifest}:2: not valid JSON"):
        augment(cfg)


def test_feature_shards_name_their_content(tmp_path):
    from stylaug.classify.features import FeatureCache, feature_key
    from stylaug.core.io import file_sha256

    cache = FeatureCache(tmp_path, "w", "t", 4)
    cache.put([feature_key("d", "w", "t")], np.ones((1, 4), np.float32))
    (shard,) = cache.shards()
    assert shard.name == f"shard-{file_sha256(shard)}.npy"
