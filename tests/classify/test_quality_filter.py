"""The quality filter's counts add up and it drops exactly the low scorers; the ImageNet classifier's
agreement between source and stylized image is measured on the right pairs."""

import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.classify.arms import style_set
from stylaug.classify.quality_filter import manifest_entries
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.data.index import load_index
from stylaug.data.scenarios import apply_view, sample_scenario
from tests.classify.conftest import score_of
from tests.classify.test_classify import FAST
from tests.conftest import TINY_DATASET, compose_cfg


def overrides(aug, tmp_path, *extra):
    return [
        *TINY_DATASET,
        *FAST,
        f"classifier.augmented_dir={aug}",
        f"+classifier.style_sources.style_q={aug}",
        f"classifier.results_file={tmp_path}/results.jsonl",
        f"classifier.cache_dir={tmp_path}/features",
        "model.backbone.weights=random",
        *extra,
    ]


def run(root, aug, tmp_path, *extra):
    cfg = compose_cfg("classify", overrides(aug, tmp_path, *extra), root)
    return cfg, classify(cfg)


def test_drop_fraction_counts_add_up(tiny_root, tiny_index, scored_aug, tmp_path, one_thread):
    cfg, (none, style, filtered) = run(
        tiny_root, scored_aug, tmp_path, "scenario=balanced", "classifier.arms=[none,style,style_q]",
        "+classifier.quality_filter.style_q.drop_fraction=0.25",
    )  # fmt: skip
    qf = filtered["quality_filter"]
    assert qf["rule"] == {"drop_fraction": 0.25} and none["quality_filter"] is None
    assert style["quality_filter"] is None
    for cls, c in qf["per_class"].items():
        assert c["available"] == style["counts"]["augmented"][cls] == 10
        assert c["dropped"] == math.floor(0.25 * c["available"]) == 2
        assert c["kept"] + c["dropped"] == c["available"]
        assert filtered["counts"]["augmented"][cls] == c["kept"]
        assert c["highest_dropped_score"] <= c["lowest_kept_score"]  # the lowest scorers went
        assert filtered["style_quality"][cls]["images"] == c["kept"]
        assert (
            filtered["style_quality"][cls]["content_score"]
            > style["style_quality"][cls]["content_score"]
        )
    assert (
        qf["kept"] + qf["dropped"] == qf["available"] == sum(style["counts"]["augmented"].values())
    )
    assert qf["kept"] == sum(filtered["counts"]["augmented"].values())
    n_real = sum(none["counts"]["train"].values())
    assert filtered["counts"]["train_seen"] == n_real + qf["kept"]
    assert style["counts"]["train_seen"] == n_real + qf["available"]
    assert qf["quality_before"] == style["style_quality"]
    assert filtered["config_hash"] != style["config_hash"]
    # the filter of one arm is no part of the others' identity
    _, rows = run(tiny_root, scored_aug, tmp_path / "b", "scenario=balanced")
    assert [r["config_hash"] for r in rows] == [none["config_hash"], style["config_hash"]]


def test_min_content_score_drops_exactly_the_images_below_it(
    tiny_root, tiny_index, scored_aug, tmp_path, one_thread
):
    cfg, (row,) = run(
        tiny_root, scored_aug, tmp_path, "scenario=biased_case2", "classifier.arms=[style_q]",
        "+classifier.quality_filter.style_q.min_content_score=0.5",
    )  # fmt: skip
    split = sample_scenario(load_index(cfg.dataset), cfg.scenario, 0)
    items = style_set(cfg, load_index(cfg.dataset), split, "style_q").items
    scores = [e["content_score"] for e in manifest_entries(scored_aug, items)]
    below = sum(s < 0.5 for s in scores)
    assert 0 < below < len(scores)
    qf = row["quality_filter"]
    assert list(qf["per_class"]) == ["hot_spring"]  # biased case 2 stylizes the minority only
    assert qf["per_class"]["hot_spring"] == {
        "available": len(scores),
        "dropped": below,
        "kept": len(scores) - below,
        "lowest_kept_score": min(s for s in scores if s >= 0.5),
        "highest_dropped_score": max(s for s in scores if s < 0.5),
    }
    assert row["counts"]["augmented"]["hot_spring"] == len(scores) - below


def test_bad_rules_and_unscored_images_are_clear_errors(tiny_root, scored_aug, tmp_path):
    for rule, message in (
        (["+classifier.quality_filter.style_q.drop_fraction=1.0"], r"in \[0, 1\)"),
        (
            [
                "+classifier.quality_filter.style_q.drop_fraction=0.1",
                "+classifier.quality_filter.style_q.min_content_score=0.2",
            ],
            "exactly one of",
        ),
        (["+classifier.quality_filter.style_q.keep=0.2"], "unknown keys: \\['keep'\\]"),
        (["+classifier.quality_filter.none.drop_fraction=0.2"], "not a style arm"),
    ):
        with pytest.raises(ValueError, match=message):
            run(tiny_root, scored_aug, tmp_path, "classifier.arms=[none,style_q]", *rule)
    unscored = tmp_path / "unscored"
    shutil.copytree(scored_aug, unscored)
    rows = read_jsonl(unscored / "manifest.jsonl")
    for r in rows:
        del r["content_score"]
    (unscored / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="augment.score=true"):
        run(
            tiny_root, unscored, tmp_path, "classifier.arms=[style_q]",
            "+classifier.quality_filter.style_q.drop_fraction=0.1",
        )  # fmt: skip


def test_imagenet_head_completes_the_backbone():
    from efficientnet_lite_pytorch import EfficientNet

    from stylaug.classify.imagenet_agreement import imagenet_head
    from stylaug.models.backbone import Backbone
    from stylaug.models.weights import efficientnet_lite0_weights_file

    full = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    full.load_state_dict(torch.load(efficientnet_lite0_weights_file(), weights_only=True))
    head, desc = imagenet_head("efficientnet_lite0")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = full.eval()(x)
        got = head(Backbone("efficientnet_lite0", "imagenet").eval()(x))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert desc.startswith("efficientnet_lite0:imagenet")


def test_agreement_pairs_each_stylized_image_with_its_source(
    tiny_root, tiny_index, scored_aug, tmp_path, one_thread
):
    """Half of the 'stylized' images are exact copies of their (mirrored) sources: the ImageNet
    classifier must agree on all of those, top-5 included; the rest are another picture."""
    aug = tmp_path / "copies"
    shutil.copytree(scored_aug, aug)
    rows = read_jsonl(aug / "manifest.jsonl")
    copies = set()
    for k, r in enumerate(rows):
        source = Image.open(tiny_index.abspath(r["source"])).convert("RGB")
        if k % 2:
            apply_view(source, r["view"]).save(aug / r["output"])
            copies.add(hashlib.sha1(r["output"].encode()).hexdigest()[:10])
        else:  # a different picture: the source turned upside down and inverted
            Image.fromarray(255 - np.asarray(source)[::-1]).save(aug / r["output"])
    extra = [
        "scenario=scarce",  # 100 of each class's 500 stylized images are mirrored (view 1)
        "classifier.arms=[style]",
        "model.backbone.arch=efficientnet_lite0",
        "model.backbone.weights=imagenet",
    ]
    cfg = compose_cfg("classify", overrides(aug, tmp_path, *extra), tiny_root)
    (row,) = classify(cfg)
    ag = row["imagenet_agreement"]
    assert ag["set"] == "copies" and ag["classifier"].startswith("efficientnet_lite0:imagenet")
    assert sum(c["images"] for c in ag["per_class"].values()) == len(ag["points"])
    assert len(ag["points"]) == sum(row["counts"]["augmented"].values())
    views = {hashlib.sha1(r["output"].encode()).hexdigest()[:10]: r["view"] for r in rows}
    same = [p for p in ag["points"] if p[0] in copies]
    other = [p for p in ag["points"] if p[0] not in copies]
    assert same and other and {views[p[0]] for p in same} == {0, 1}
    assert all(p[2] == 1 and p[3] == 5 for p in same)
    assert np.mean([p[3] for p in other]) < 4
    assert {p[1] for p in ag["points"]} <= {score_of(r["output"]) for r in rows}
    # a random-init backbone has no ImageNet classifier: no agreement
    (plain,) = run(tiny_root, aug, tmp_path / "r", "scenario=scarce", "classifier.arms=[style]")[1]
    assert "imagenet_agreement" not in plain
