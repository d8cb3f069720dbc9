"""prepare_data decodes every image once: bad ones never reach the index, odd ones stay in it."""

import json
import logging
import os
import shutil

import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

import stylaug.data.check as check
from stylaug.data.check import CACHE_NAME, EmptyClassError, UnreadableImagesError
from stylaug.data.images import load_rgb
from stylaug.data.index import CLASSES, index_path, load_index
from stylaug.pipeline import run_pipeline
from stylaug.prepare_data.stage import prepare_data
from tests.conftest import CONF_DIR, compose_cfg
from tests.places_fixture import BAD, ODD

BAD_REASONS = {"empty": "empty (0 bytes)", "truncated": "truncated", "not an image": "not an image"}


@pytest.fixture
def places(places_fixture, tmp_path):
    """A private copy of the session's fixture tree, so a test may change files in it."""
    return shutil.copytree(places_fixture, tmp_path / "places")


def _cfg(tmp_path, source, *extra):
    return compose_cfg(
        "prepare_data",
        ["dataset=places365", f"dataset.source={source}", "logger=none", *extra],
        tmp_path / "out",
    )


def _prepare(tmp_path, source, *extra):
    cfg = _cfg(tmp_path, source, *extra)
    prepare_data(cfg)
    return load_index(cfg.dataset)


@pytest.fixture
def decodes(monkeypatch):
    """The files the check decodes (as paths relative to places365_standard/)."""
    seen = []

    def counting(path, *args, **kwargs):
        seen.append(path.relative_to(path.parents[2]).as_posix())
        return load_rgb(path, *args, **kwargs)

    monkeypatch.setattr(check, "load_rgb", counting)
    return seen


def test_bad_files_are_left_out_listed_and_counted_and_odd_ones_kept(places, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        index = _prepare(tmp_path, places)
    indexed = {p for per in index.files.values() for v in per.values() for p in v}
    assert not indexed & set(BAD)
    assert set(ODD) <= indexed
    assert index.meta["bad_image_count"] == len(BAD) == len(index.meta["bad_images"])
    listed = {b["path"]: b for b in index.meta["bad_images"]}
    assert set(listed) == set(BAD)
    for rel, kind in BAD.items():
        assert BAD_REASONS[kind] in listed[rel]["reason"], listed[rel]
    assert listed["val/skyscraper/bad_zero_byte.jpg"]["split"] == "test"
    assert listed["train/desert-sand/bad_truncated.png"]["class"] == "desert_sand"
    assert index.counts() == {
        "train": {"desert_sand": 3, "hot_spring": 4, "ocean": 3 + 7, "skyscraper": 3},
        "test": dict.fromkeys(CLASSES, 2),
    }
    # the summary: how many, the first few by name, where the full list is
    assert f"{len(BAD)} unreadable image(s) left out" in caplog.text
    assert "train/desert-sand/bad_truncated.png" in caplog.text
    assert f"{index_path(_cfg(tmp_path, places).dataset)} (meta.bad_images)" in caplog.text
    # what reaches the later stages is readable, and upright
    for rel in indexed:
        load_rgb(index.abspath(rel))
    assert load_rgb(index.abspath("train/ocean/odd_exif_rotated.jpg")).size == (256, 192)


def test_on_bad_image_error_stops_naming_every_bad_file_and_writes_no_index(places, tmp_path):
    cfg = _cfg(tmp_path, places, "data.on_bad_image=error")
    with pytest.raises(UnreadableImagesError) as err:
        prepare_data(cfg)
    msg = str(err.value)
    assert f"{len(BAD)} unreadable image file(s)" in msg
    for rel in BAD:
        assert str(places / "places365_standard" / rel) in msg
    assert "truncated" in msg and "Replace or delete" in msg and "data.on_bad_image=skip" in msg
    assert not index_path(cfg.dataset).exists()
    assert (index_path(cfg.dataset).parent / CACHE_NAME).exists()  # the verdicts are kept


def test_a_rerun_reuses_the_verdicts_and_rechecks_changed_files(places, tmp_path, decodes):
    _prepare(tmp_path, places)
    total = len(decodes)
    assert total == 13 + 4 * 5 and not any(r.startswith("places365") for r in decodes)
    cache = json.loads((tmp_path / "out/data/places365" / CACHE_NAME).read_text())
    entry = cache["files"]["train/ocean/00000001.jpg"]
    assert set(entry) == {"size", "mtime_ns", "reason"} and entry["reason"] is None

    decodes.clear()
    _prepare(tmp_path, places)
    assert decodes == []

    base = places / "places365_standard"
    photo = base / "train/skyscraper/00000002.jpg"
    photo.write_bytes(photo.read_bytes()[:3000])  # now truncated: size changes
    touched = base / "train/ocean/00000003.jpg"  # same size, newer mtime
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    shutil.copy(base / "train/ocean/00000001.jpg", base / "train/ocean/bad_truncated.jpg")
    index = _prepare(tmp_path, places)
    assert sorted(decodes) == sorted(
        [
            "train/skyscraper/00000002.jpg",
            "train/ocean/00000003.jpg",
            "train/ocean/bad_truncated.jpg",
        ]
    )
    bad = {b["path"] for b in index.meta["bad_images"]}
    assert "train/skyscraper/00000002.jpg" in bad and "train/ocean/bad_truncated.jpg" not in bad
    assert "train/ocean/bad_truncated.jpg" in index.paths("train", "ocean")  # repaired: back in


def test_a_cache_that_cannot_be_read_is_redone(places, tmp_path, decodes, caplog):
    cache = tmp_path / "out/data/places365" / CACHE_NAME
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    index = _prepare(tmp_path, places)
    assert len(decodes) == 33 and index.meta["bad_image_count"] == len(BAD)
    assert "ignoring unreadable image-check cache" in caplog.text
    assert json.loads(cache.read_text())["files"]


def test_a_class_left_without_images_is_a_clear_error(places, tmp_path):
    folder = places / "places365_standard/val/hot_spring"
    for p in folder.iterdir():
        p.write_bytes(b"")
    with pytest.raises(
        EmptyClassError, match=r"class hot_spring has no readable test images .*all 2 .*Replace"
    ):
        _prepare(tmp_path, places)
    assert not (tmp_path / "out/data/places365/index.json").exists()


def test_synthetic_images_are_checked_too(tmp_path):
    overrides = [
        "dataset=synthetic",
        "dataset.image_size=16",
        "dataset.train_per_class=2",
        "dataset.test_per_class=1",
    ]
    cfg = compose_cfg("prepare_data", overrides, tmp_path)
    index = prepare_data(cfg)
    assert index.meta["bad_image_count"] == 0 and index.meta["checked_images"] == 12
    assert (tmp_path / "data/synthetic" / CACHE_NAME).exists()
    broken = tmp_path / "data/synthetic/train/ocean/ocean_00001.png"
    broken.write_bytes(broken.read_bytes()[:60])  # a rerun keeps finished files as they are
    index = prepare_data(cfg)
    assert [(b["path"], b["split"], b["class"]) for b in index.meta["bad_images"]] == [
        ("train/ocean/ocean_00001.png", "train", "ocean")
    ]
    assert "truncated" in index.meta["bad_images"][0]["reason"]
    assert index.paths("train", "ocean") == ["train/ocean/ocean_00000.png"]


def test_the_pipeline_repeats_the_bad_image_summary_at_the_end(places, tmp_path, caplog):
    overrides = [
        "experiment=demo",
        "dataset=places365",
        f"dataset.source={places}",
        "logger=none",
        "pipeline.stages=[prepare_data]",
        f"paths.root={tmp_path}",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        with caplog.at_level(logging.INFO):
            run_pipeline(compose("pipeline", overrides), overrides)
    tail = caplog.text[caplog.text.index("pipeline: ") :]
    assert f"{len(BAD)} unreadable image(s) left out" in tail and "bad_zero_byte.jpg" in tail


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # opened, not decoded
def test_the_fixture_script_writes_distinct_real_photos_and_says_what_it_planted(places_fixture):
    base = places_fixture / "places365_standard"
    out = (places_fixture / "stdout.txt").read_text()
    assert f"wrote {4 * 5} real-photo JPEGs" in out
    for rel in [*BAD, *ODD]:
        assert (base / rel).exists() and rel in out
    photos = sorted(base.glob("*/*/0000000*.jpg"))
    assert len(photos) == 4 * 5
    assert len({p.read_bytes() for p in photos}) == len(photos)
    with Image.open(photos[0]) as img:
        assert img.format == "JPEG" and img.size == (256, 256) and img.mode == "RGB"
        colours = len(set(img.getdata()))
    assert colours > 5000  # a photo, not a flat test pattern
    with Image.open(base / "train/ocean/odd_12000x12000.jpg") as img:
        assert img.size == (12000, 12000)
