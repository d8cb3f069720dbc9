"""The matched controls: what a style arm adds beyond "more images, more steps, another class
prior" can only be read against them."""

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylaug.classify.arm_training import class_balanced_weights
from stylaug.classify.arms import arm_specs, unstylized_set
from stylaug.classify.linear_head import LinearHead
from stylaug.data.scenarios import sample_scenario
from tests.classify.test_classify import run
from tests.classify.test_quality_filter import run as run_filtered
from tests.conftest import TINY_DATASET, compose_cfg


def specs_of(tiny_root, tiny_index, *overrides):
    """The arms classify runs for a scenario, decided by the split it draws."""
    cfg = compose_cfg("classify", [*TINY_DATASET, *overrides], tiny_root)
    return list(arm_specs(cfg, sample_scenario(tiny_index, cfg.scenario, 0).minority))


def test_every_style_arm_gets_its_controls(tiny_root, tiny_index):
    assert specs_of(tiny_root, tiny_index, "scenario=biased_case1") == [
        "none", "style", "unstylized", "reweighted"
    ]  # fmt: skip
    # no minority class, no reweighted control
    assert specs_of(tiny_root, tiny_index, "scenario=balanced") == ["none", "style", "unstylized"]
    combined = specs_of(tiny_root, tiny_index, "classifier.arms=[none,randaugment+style]")
    assert "randaugment+unstylized" in combined
    off = specs_of(tiny_root, tiny_index, "classifier.controls=false")
    assert off == ["none", "style"]


def test_reweighted_follows_the_drawn_minority_not_a_restated_rule(tiny_root, tiny_index):
    """rho=2, n_max=5: the tail class gets int(2.5) = 2 < 0.5 x 5 images, a minority once counts
    are rounded down, though rho x minority_below = 1 is not > 1."""
    tail = ["scenario=longtail", "scenario.max_per_class=5", "scenario.imbalance_factor=2"]
    assert "reweighted" in specs_of(tiny_root, tiny_index, *tail)
    even = ["scenario=longtail", "scenario.max_per_class=4", "scenario.imbalance_factor=2"]
    assert "reweighted" not in specs_of(tiny_root, tiny_index, *even)  # 2 is not < 0.5 x 4


def test_unstylized_adds_exactly_the_sources_the_style_arm_stylized(
    tiny_root, tiny_index, aug_dir, tmp_path
):
    cfg, rows = run(
        tiny_root, tmp_path, aug_dir, "scenario=biased_case2", "classifier.controls=true"
    )
    by_arm = {r["arm"]: r for r in rows}
    assert set(by_arm) == {"none", "style", "unstylized", "reweighted"}
    style, plain = by_arm["style"], by_arm["unstylized"]
    # same count per class (case 2: hot_spring only), same steps; only the stylization differs
    assert plain["counts"]["augmented"] == style["counts"]["augmented"]
    assert plain["counts"]["train_seen"] == style["counts"]["train_seen"]
    assert sum(plain["counts"]["augmented"].values()) > 0
    assert plain["control"] == "unstylized" and plain["stylizer_pool"] is None
    scarce = compose_cfg("classify", [*TINY_DATASET, "scenario=scarce"], tiny_root).scenario
    split = sample_scenario(tiny_index, scarce, 0)  # scarce reuses sources mirrored (view 1)
    added = unstylized_set(tiny_index, split)
    pairs = [(s, v) for cls, ps in split.augment.items() for s, v in ps]
    assert [(p, v) for (p, _), v in zip(added.items, added.views, strict=True)] == [
        (tiny_index.abspath(s), v) for s, v in pairs
    ]
    assert any(v == 1 for _, v in pairs), "the scenario reuses sources mirrored: view 1 is tested"


def test_mirrored_sources_get_mirrored_features(tiny_root, tiny_index, tmp_path):
    from stylaug.classify.features import ScenarioFeatures, load_backbone

    cfg = compose_cfg(
        "classify",
        [*TINY_DATASET, "classifier.image_size=32", f"classifier.cache_dir={tmp_path}",
         "model.backbone.weights=random"],
        tiny_root,
    )  # fmt: skip
    backbone, weights = load_backbone(cfg.model.backbone)
    features = ScenarioFeatures(cfg, backbone, weights, use_cache=True)
    path = tiny_index.abspath(tiny_index.paths("train", tiny_index.classes[0])[0])
    features.load([path])
    features.load([path], mirrored=True)
    alone = features.tensors([(path, 0)])[0][0]
    plain, mirrored = features.tensors([(path, 0), (path, 0)], [0, 1])[0]
    assert torch.equal(plain, alone)
    assert not torch.allclose(plain, mirrored)
    flipped = features.backbone(
        features.transform(Image.open(path).convert("RGB").transpose(Image.FLIP_LEFT_RIGHT))[None]
    )[0]
    assert torch.allclose(mirrored, flipped, atol=1e-5)


def test_class_balanced_loss():
    w = class_balanced_weights([300, 100, 300, 300])
    assert torch.allclose(w, torch.tensor([10 / 12, 10 / 4, 10 / 12, 10 / 12]))
    assert torch.isclose((w * torch.tensor([300.0, 100, 300, 300])).sum(), torch.tensor(1000.0))
    head = LinearHead(5, 4, 1e-3, 0.0, class_weights=w)
    x, y = torch.randn(8, 5), torch.tensor([0, 1, 1, 2, 3, 0, 1, 2])
    loss, n = head.batch_loss((x, y, torch.ones(8, dtype=torch.bool)), epoch=0)
    assert torch.isclose(loss, F.cross_entropy(head(x), y, weight=w)) and n == 8
    plain = LinearHead(5, 4, 1e-3, 0.0)
    plain.load_state_dict(head.state_dict())
    assert not torch.isclose(plain.batch_loss((x, y, torch.ones(8, dtype=torch.bool)), 1)[0], loss)
    with pytest.raises(ValueError, match="every class"):
        class_balanced_weights([3, 0, 2])


def test_reweighted_is_none_with_a_balanced_loss(tiny_root, aug_dir, tmp_path):
    _, rows = run(
        tiny_root, tmp_path, aug_dir, "scenario=biased_case1", "classifier.arms=[none]",
        "classifier.controls=true",
    )  # fmt: skip
    by_arm = {r["arm"]: r for r in rows}
    assert set(by_arm) == {"none", "reweighted"}  # no style arm: no unstylized control
    none, reweighted = by_arm["none"], by_arm["reweighted"]
    assert reweighted["counts"] == none["counts"]  # the same images and steps
    assert reweighted["val_history"] != none["val_history"]  # another loss: another head


def test_random_drop_drops_as_many_per_class_as_the_filter(tiny_root, scored_aug, tmp_path):
    _, rows = run_filtered(
        tiny_root, scored_aug, tmp_path, "scenario=balanced", "classifier.arms=[none,style_q]",
        "+classifier.quality_filter.style_q.drop_fraction=0.5", "classifier.controls=true",
    )  # fmt: skip
    by_arm = {r["arm"]: r for r in rows}
    filtered, twin = by_arm["style_q"], by_arm["style_q_random_drop"]
    assert twin["control"] == "random_drop" and twin["controls"] == "style_q"
    for cls, counts in filtered["quality_filter"]["per_class"].items():
        assert twin["quality_filter"]["per_class"][cls]["dropped"] == counts["dropped"] > 0
    assert twin["counts"]["augmented"] == filtered["counts"]["augmented"]
    assert twin["quality_filter"]["rule"] == {"random_drop_like": {"drop_fraction": 0.5}}
