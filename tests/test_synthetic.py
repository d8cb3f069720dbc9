import filecmp

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from stylaug.data import synthetic
from stylaug.data.index import CLASSES, load_index
from stylaug.prepare_data import prepare_data
from tests.conftest import compose_cfg

SMALL = ["dataset.image_size=32", "dataset.train_per_class=5", "dataset.test_per_class=2"]


def _files(root):
    return sorted(p.relative_to(root) for p in (root / "data" / "synthetic").rglob("*.png"))


def test_same_seed_writes_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        prepare_data(compose_cfg("prepare_data", SMALL, root))
    assert _files(a) == _files(b) and len(_files(a)) == 4 * 7 + 1  # + samples.png
    for rel in _files(a):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel


def test_counts_and_index(tmp_path):
    prepare_data(compose_cfg("prepare_data", SMALL, tmp_path))
    cfg = compose_cfg("prepare_data", SMALL, tmp_path)
    index = load_index(cfg.dataset)
    assert index.classes == list(CLASSES)
    assert index.counts() == {"train": dict.fromkeys(CLASSES, 5), "test": dict.fromkeys(CLASSES, 2)}
    for cls in CLASSES:
        assert len(list((tmp_path / "data/synthetic/train" / cls).glob("*.png"))) == 5
    assert (tmp_path / "data/synthetic/samples.png").exists()
    assert "smoke" in index.meta["note"]


def test_another_seed_gives_other_images():
    a = np.asarray(synthetic.render(0, "ocean", "train", 3, 32))
    b = np.asarray(synthetic.render(1, "ocean", "train", 3, 32))
    assert not np.array_equal(a, b)


def test_rerun_resumes_and_a_changed_setting_rerenders(tmp_path):
    cfg = compose_cfg("prepare_data", SMALL, tmp_path)
    prepare_data(cfg)
    victim = tmp_path / "data/synthetic/train/ocean/ocean_00003.png"
    original = victim.read_bytes()
    victim.unlink()
    keep = tmp_path / "data/synthetic/train/ocean/ocean_00001.png"
    mtime = keep.stat().st_mtime_ns
    prepare_data(cfg)  # renders only the missing file
    assert victim.read_bytes() == original and keep.stat().st_mtime_ns == mtime
    prepare_data(
        compose_cfg(
            "prepare_data",
            SMALL[:1] + ["dataset.train_per_class=3", "dataset.test_per_class=2"],
            tmp_path,
        )
    )
    assert len(list((tmp_path / "data/synthetic/train/ocean").glob("*.png"))) == 3  # no leftovers
    prepare_data(compose_cfg("prepare_data", SMALL + ["dataset.seed=7"], tmp_path))
    assert victim.read_bytes() != original


def _features(n=40, size=48):
    colour, structure, labels = [], [], []
    for label, cls in enumerate(CLASSES):
        for i in range(n):
            img = np.asarray(synthetic.render(0, cls, "train", i, size), dtype=np.float32) / 255
            colour.append(img.reshape(-1, 3).mean(0))
            gray = img.mean(2)
            gx, gy = np.abs(np.diff(gray, axis=1)).mean(), np.abs(np.diff(gray, axis=0)).mean()
            rows, cols = gray.std(1).mean(), gray.std(0).mean()
            structure.append([gx, gy, gx / (gy + 1e-6), rows, cols])
            labels.append(label)
    return np.array(colour), np.array(structure), np.array(labels)


def test_classes_are_told_apart_by_structure_more_than_by_mean_colour():
    colour, structure, y = _features()
    clf = LogisticRegression(max_iter=2000)
    by_colour = cross_val_score(clf, colour * 10, y, cv=4).mean()
    by_structure = cross_val_score(clf, np.log(structure + 1e-4), y, cv=4).mean()
    assert by_colour < 0.75, f"mean colour alone separates the classes too well ({by_colour:.2f})"
    assert by_structure > by_colour + 0.1, (by_structure, by_colour)


def test_unknown_class_and_bad_sizes_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown classes"):
        prepare_data(
            compose_cfg("prepare_data", SMALL + ["dataset.classes=[ocean,forest]"], tmp_path)
        )
    with pytest.raises(ValueError, match="image_size >= 16"):
        prepare_data(compose_cfg("prepare_data", ["dataset.image_size=4"], tmp_path))
