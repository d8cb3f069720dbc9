import filecmp
import time
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from stylaug.classify.features import eval_transform
from stylaug.data import synthetic
from stylaug.data.index import CLASSES, load_index
from stylaug.data.scenery import Scene
from stylaug.models.backbone import Backbone
from stylaug.prepare_data.stage import prepare_data
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


def test_images_are_a_pure_function_of_seed_class_split_and_number():
    later = np.asarray(synthetic.render(3, "hot_spring", "test", 17, 40))
    for cls in CLASSES:  # other images in between must not change it (no hidden state)
        synthetic.render(3, cls, "train", 17, 40)
    assert np.array_equal(np.asarray(synthetic.render(3, "hot_spring", "test", 17, 40)), later)
    assert not np.array_equal(np.asarray(synthetic.render(3, "hot_spring", "train", 17, 40)), later)


def test_every_block_of_images_has_each_layout_its_share():
    for cls, layouts in synthetic.LAYOUTS.items():
        shares = {name: n for name, n, _ in layouts}
        for split, block in (("train", 0), ("test", 3)):
            numbers = range(block * synthetic.LAYOUT_BLOCK, (block + 1) * synthetic.LAYOUT_BLOCK)
            names = [synthetic.layout_of(5, cls, split, i)[0] for i in numbers]
            assert Counter(names) == shares, (cls, split)
    orders = {
        tuple(synthetic.layout_of(seed, "ocean", "train", i)[0] for i in range(20))
        for seed in range(4)
    }
    assert len(orders) > 1  # the order within a block is drawn from the seed


@pytest.mark.parametrize("size", [16, 64, 128])
def test_every_layout_paints_a_whole_varied_scene(size):
    for cls, layouts in synthetic.LAYOUTS.items():
        for name, _, painter in layouts:
            s = Scene(np.random.default_rng([size, len(name)]), size)
            s.img[:] = np.nan  # every pixel must be painted
            painter(s)
            assert s.img.shape == (size, size, 3) and np.isfinite(s.img).all(), (cls, name)
            assert s.img.std() > 0.02, (cls, name)


def test_rendering_is_fast():
    synthetic.render(0, "ocean", "train", 0, 64)
    start = time.perf_counter()
    for i in range(10):
        for cls in CLASSES:
            synthetic.render(0, cls, "train", i, 64)
    per_image = (time.perf_counter() - start) / 40
    assert per_image < 0.025, f"{per_image * 1000:.1f} ms per 64 px image (about 2-3 ms expected)"


# --- the regime: hard for a pretrained backbone, like Places365 ---------------------------------
# The demo's classifier (EfficientNet-Lite0, ImageNet, frozen; 64 px images seen at 128 px; a linear
# head trained with Adam on 400 + 100 images per class; 100 test images per class) scores
# 87.6 % +- 0.6 % on balanced data (9 runs: dataset seeds 0-2 x scenario draws 0-2, range
# 86.5-88.5 %), the paper's 86-88 %; in biased_case1 hot_spring recall falls from 83 % to 64 %.
# This test's small version (48 train + 32 test images per class, dataset seed 0, logistic
# regression) measured 0.79-0.85 over dataset seeds 0-7 (0.81 for seed 0); one test image is 0.008,
# the binomial spread at 128 test images about 0.035. The pre-redesign generator scored 1.00 here,
# chance is 0.25.
REGIME_BAND = (0.70, 0.95)
N_TRAIN, N_TEST, N_MINORITY = 48, 32, 12  # minority: 1/4 of the others, as in biased_case1
HOT = CLASSES.index("hot_spring")


@pytest.fixture(scope="module")
def regime():
    """Backbone features and mean colours of a small rendered set. One thread: on a small shared
    CPU, intra-op threads make this several times slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        backbone = Backbone("efficientnet_lite0", "imagenet").eval()
        transform, _ = eval_transform(128, backbone)
        out = {}
        for split, n in (("train", N_TRAIN), ("test", N_TEST)):
            images = [synthetic.render(0, cls, split, i, 64) for cls in CLASSES for i in range(n)]
            with torch.inference_mode():
                x = torch.stack([transform(im) for im in images])
                feats = torch.cat([backbone(x[k : k + 64]) for k in range(0, len(x), 64)])
            colour = np.stack([np.asarray(im, np.float32).reshape(-1, 3).mean(0) for im in images])
            out[split] = {
                "backbone": feats.numpy(),
                "colour": colour / 25.5,  # 0..10: a scale the solver handles well
                "y": np.repeat(np.arange(len(CLASSES)), n),
            }
    finally:
        torch.set_num_threads(threads)
    out["balanced"] = _fit_predict(out)
    return out


def _fit_predict(regime, features="backbone", keep=None):
    train, test = regime["train"], regime["test"]
    keep = np.ones(len(train["y"]), bool) if keep is None else keep
    with threadpool_limits(1):
        clf = LogisticRegression(max_iter=3000).fit(train[features][keep], train["y"][keep])
        return clf.predict(test[features])


def test_a_pretrained_backbone_finds_the_classes_hard_but_far_above_chance(regime):
    acc = (regime["balanced"] == regime["test"]["y"]).mean()
    assert REGIME_BAND[0] < acc < REGIME_BAND[1], f"linear-probe accuracy {acc:.3f}"


def test_mean_colour_alone_does_not_tell_the_classes_apart(regime):
    y = regime["test"]["y"]
    by_colour = (_fit_predict(regime, "colour") == y).mean()  # 0.46 (seeds 0-7: 0.37-0.48)
    by_backbone = (regime["balanced"] == y).mean()
    assert by_colour < 0.6, f"mean colour alone separates the classes too well ({by_colour:.2f})"
    assert by_backbone > by_colour + 0.25, (by_backbone, by_colour)


def test_a_minority_hot_spring_class_is_hurt(regime):
    """hot_spring with a quarter of the others' training images (four disjoint subsets): its
    recall falls well below the balanced value and so does overall accuracy. Measured for seed 0:
    recall 0.75 -> 0.55, accuracy 0.81 -> 0.80 (seeds 0-7: recall drops 0.19-0.42); the
    pre-redesign generator: 1.00 -> 0.98."""
    y_train, y, balanced = regime["train"]["y"], regime["test"]["y"], regime["balanced"]
    number = np.arange(len(y_train)) % N_TRAIN
    recalls, accs = [], []
    for k in range(N_TRAIN // N_MINORITY):
        keep = (y_train != HOT) | ((number >= k * N_MINORITY) & (number < (k + 1) * N_MINORITY))
        pred = _fit_predict(regime, keep=keep)
        recalls.append((pred[y == HOT] == HOT).mean())
        accs.append((pred == y).mean())
    recall = (balanced[y == HOT] == HOT).mean()
    assert np.mean(recalls) < recall - 0.1, (recall, recalls)
    assert np.mean(accs) < (balanced == y).mean(), (accs, (balanced == y).mean())


def test_unknown_class_and_bad_sizes_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown classes"):
        prepare_data(
            compose_cfg("prepare_data", SMALL + ["dataset.classes=[ocean,forest]"], tmp_path)
        )
    with pytest.raises(ValueError, match="image_size >= 16"):
        prepare_data(compose_cfg("prepare_data", ["dataset.image_size=4"], tmp_path))
