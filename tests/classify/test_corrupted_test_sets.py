"""Corruption robustness: corrupted images are a pure function of (image, corruption, severity,
seed); their features are cached, so a second evaluation computes nothing; rows carry the numbers."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from stylaug.artifacts.results import CORRUPTION_FAMILIES
from stylaug.classify.corrupted_test_sets import corruption_errors, robustness_spec
from stylaug.classify.corruptions import CORRUPTIONS, CorruptedView, corrupt, image_seed, resolve
from stylaug.classify.features import eval_transform, load_backbone
from stylaug.core.io import file_sha256, read_jsonl
from stylaug.data.dataset import ImageFiles, collate_images
from stylaug.data.index import load_index
from tests.classify.test_classify import FAST, write_fake_augmented
from tests.conftest import TINY_DATASET, compose_cfg

ROBUST = [
    "classifier.robustness.corruptions=[gaussian_noise,contrast]",
    "classifier.robustness.severities=[1,5]",
]


def test_the_corruptions_are_imagenet_c_and_resolve_by_family():
    from imagecorruptions import get_corruption_names

    assert list(CORRUPTIONS) == get_corruption_names("common")
    for family, members in CORRUPTION_FAMILIES.items():
        assert list(members) == get_corruption_names(family)
    assert resolve(["all"]) == list(CORRUPTIONS)
    assert resolve(["fog", "noise", "fog"]) == ["fog", *CORRUPTION_FAMILIES["noise"]]
    with pytest.raises(ValueError, match="unknown corruption 'rain'"):
        resolve(["rain"])


def test_a_corrupted_image_is_a_function_of_image_corruption_severity_and_seed(tiny_index):
    path = tiny_index.abspath(tiny_index.paths("test", "ocean")[0])
    img, digest = Image.open(path), file_sha256(path)
    state = np.random.get_state()
    for name in ("gaussian_noise", "impulse_noise", "glass_blur", "frost", "contrast"):
        seed = image_seed(digest, name, 3, 0)
        a = np.asarray(corrupt(img, name, 3, seed))
        assert a.shape == (224, 224, 3)  # corrupted at ImageNet-C's size
        assert np.array_equal(a, np.asarray(corrupt(img, name, 3, seed))), name
        assert not np.array_equal(a, np.asarray(corrupt(img, name, 5, seed))), name
        other = image_seed(digest, name, 3, 1)
        assert other != seed
        if name != "contrast":  # contrast draws nothing at random
            assert not np.array_equal(a, np.asarray(corrupt(img, name, 3, other))), name
    # the caller's global NumPy generator is left as it was
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]
    assert image_seed(digest, "fog", 1, 0) != image_seed("0" * 64, "fog", 1, 0)
    assert corrupt(img, "fog", 1, 7, size=None).size == img.size


def test_corrupted_images_are_the_same_in_dataloader_workers(tiny_index):
    paths = [tiny_index.abspath(p) for p in tiny_index.paths("test", "desert_sand")[:4]]
    view = CorruptedView(64, lambda im: torch.from_numpy(np.asarray(im).copy()))
    keys = [("shot_noise", 2, image_seed(file_sha256(p), "shot_noise", 2, 0)) for p in paths]
    direct = torch.stack([view(Image.open(p), k) for p, k in zip(paths, keys, strict=True)])
    loader = torch.utils.data.DataLoader(
        ImageFiles(paths, view, keys=keys), batch_size=2, num_workers=2, collate_fn=collate_images
    )
    assert torch.equal(torch.cat([x for x, _, _ in loader]), direct)


def run(root, tmp_path, aug, *extra):
    from stylaug.classify.stage import classify

    cfg = compose_cfg(
        "classify",
        [
            *TINY_DATASET,
            *FAST,
            *ROBUST,
            f"classifier.augmented_dir={aug}",
            f"classifier.results_file={tmp_path}/results.jsonl",
            f"classifier.cache_dir={tmp_path}/features",
            "model.backbone.weights=random",
            *extra,
        ],
        root,
    )
    return cfg, classify(cfg)


@pytest.fixture(scope="module")
def aug_dir(tiny_root, tmp_path_factory):
    return write_fake_augmented(tiny_root, tmp_path_factory.mktemp("aug") / "johnson")


def test_rows_carry_robustness_and_a_second_evaluation_hits_the_cache(
    tiny_root, tiny_index, aug_dir, tmp_path, one_thread
):
    cfg, (none, style) = run(tiny_root, tmp_path, aug_dir, "scenario=balanced")
    conditions = [(c, s) for c in ("gaussian_noise", "contrast") for s in ("1", "5")]
    n_test = sum(len(tiny_index.paths("test", c)) for c in tiny_index.classes)
    first = none["robustness"]
    assert first["cache"] == {"hits": 0, "computed": n_test * 4, "bad": 0}
    assert style["robustness"]["cache"] == first["cache"]  # one pass shared by the job's arms
    for row in (none, style):
        rob = row["robustness"]
        assert sorted((c, s) for c in rob["accuracy"] for s in rob["accuracy"][c]) == sorted(
            conditions
        )
        values = [rob["accuracy"][c][s] for c, s in conditions]
        assert rob["mean_corruption_accuracy"] == pytest.approx(np.mean(values))
        assert rob["corruption_accuracy"]["contrast"] == pytest.approx(
            np.mean([rob["accuracy"]["contrast"][s] for s in ("1", "5")])
        )
        assert set(rob["family_accuracy"]) == {"noise", "digital"}
        assert set(rob["per_class_mean"]) == set(tiny_index.classes)
        assert rob["images"] == n_test and rob["library"].startswith("imagecorruptions-imaug")
        assert rob["seed"] == 0 and rob["size"] == 224
    # the none arm is its own baseline; the style arm's errors are relative to it
    assert none["robustness"]["mce"] == pytest.approx(1.0)
    # relative CE: 1 wherever none's accuracy falls at all (random-init heads on tiny data may not)
    assert all(
        v is None or v == pytest.approx(1.0) for v in none["robustness"]["relative_ce"].values()
    )
    errors = corruption_errors(
        style["robustness"], style["metrics"]["accuracy"], none["robustness"],
        none["metrics"]["accuracy"],
    )  # fmt: skip
    assert style["robustness"]["ce"] == pytest.approx(errors["ce"])
    assert style["robustness"]["mce"] == pytest.approx(np.mean(list(errors["ce"].values())))
    assert style["robustness"]["relative_ce"] == pytest.approx(errors["relative_ce"])
    for name, by_sev in style["robustness"]["accuracy"].items():  # Hendrycks & Dietterich's
        rise = sum(1 - a for a in by_sev.values()) - 2 * (1 - style["metrics"]["accuracy"])
        base = none["robustness"]["accuracy"][name]
        base_rise = sum(1 - a for a in base.values()) - 2 * (1 - none["metrics"]["accuracy"])
        if base_rise > 0:
            assert errors["relative_ce"][name] == pytest.approx(rise / base_rise)
    assert style["robustness"]["baseline"]["config_hash"] == none["config_hash"]
    # the same test set in another scenario: every corrupted feature comes from the cache
    _, (again, _) = run(tiny_root, tmp_path, aug_dir, "scenario=scarce")
    assert again["robustness"]["cache"] == {"hits": n_test * 4, "computed": 0, "bad": 0}
    # ... and they are the backbone's features of the corrupted images, per condition
    check_cached_features(cfg, tiny_index, tmp_path)
    grids = list(tmp_path.glob("corruptions_synthetic_*.png"))
    assert len(grids) == 1 and Image.open(grids[0]).size == (130 + 3 * 96, 18 + 2 * 96)


def check_cached_features(cfg, index, tmp_path):
    """Recompute two conditions' features by hand and compare them with the cached ones."""
    from stylaug.classify.corrupted_test_sets import CorruptedTestSet, RobustnessSpec
    from stylaug.classify.features import ScenarioFeatures

    backbone, weights = load_backbone(cfg.model.backbone)
    features = ScenarioFeatures(cfg, backbone, weights, use_cache=True)
    items = [(index.abspath(p), 0) for p in index.paths("test", "hot_spring")[:3]]
    spec = RobustnessSpec(("gaussian_noise", "contrast"), (5,), 0, 224)
    loaded = CorruptedTestSet(features, items, spec, ["hot_spring"])
    assert loaded.stats["computed"] == 0
    tf, _ = eval_transform(cfg.classifier.image_size, backbone)
    for name in ("gaussian_noise", "contrast"):
        images = torch.stack(
            [
                tf(corrupt(Image.open(p), name, 5, image_seed(file_sha256(p), name, 5, 0)))
                for p, _ in items
            ]
        )
        with torch.no_grad():
            expected = backbone(images)
        torch.testing.assert_close(loaded.sets[(name, 5)][0], expected, atol=1e-4, rtol=1e-4)


def test_errors_are_relative_to_an_earlier_none_row(tiny_root, aug_dir, tmp_path, one_thread):
    (none,) = run(tiny_root, tmp_path, aug_dir, "scenario=scarce", "classifier.arms=[none]")[1]
    (style,) = run(tiny_root, tmp_path, aug_dir, "scenario=scarce", "classifier.arms=[style]")[1]
    assert style["robustness"]["baseline"]["config_hash"] == none["config_hash"]
    errors = corruption_errors(
        style["robustness"], style["metrics"]["accuracy"], none["robustness"],
        none["metrics"]["accuracy"],
    )  # fmt: skip
    assert style["robustness"]["mce"] == pytest.approx(np.mean(list(errors["ce"].values())))
    # another robustness spec is not a baseline for it
    (other,) = run(
        tiny_root, tmp_path, aug_dir, "scenario=scarce", "classifier.arms=[style]",
        "classifier.robustness.severities=[2]",
    )[1]  # fmt: skip
    assert other["robustness"]["baseline"] is None and other["robustness"]["mce"] is None
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 3


def test_robustness_identity_and_settings(tiny_root, aug_dir, tmp_path):
    from stylaug.classify.stage import config_hash, setup_payload
    from stylaug.core.identity import digest

    off = compose_cfg("classify", TINY_DATASET, tiny_root)
    on = compose_cfg("classify", [*TINY_DATASET, *ROBUST], tiny_root)
    index = load_index(off.dataset)
    assert robustness_spec(off.classifier) is None
    # on: a row without these numbers is not reused, but the setup stays comparable
    assert config_hash(on, index, "none", None) != config_hash(off, index, "none", None)
    assert digest(setup_payload(on, index)) == digest(setup_payload(off, index))
    more = on.copy()
    OmegaConf.update(more, "classifier.robustness.seed", 1)
    assert config_hash(more, index, "none", None) != config_hash(on, index, "none", None)
    with pytest.raises(ValueError, match="bn_train_mode"):
        run(tiny_root, tmp_path, aug_dir, "model.backbone.bn_train_mode=true")
    with pytest.raises(ValueError, match="severities"):
        run(tiny_root, tmp_path, aug_dir, "classifier.robustness.severities=[0,6]")
