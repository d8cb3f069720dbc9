"""The report of a folder dataset with many classes and any names: every minority class in the
tables, no paper rows beside it, and figures that stay readable at 10 and at 50 classes."""

import csv
import re

import numpy as np
import pytest
from PIL import Image

from stylaug.classify.corrupted_test_sets import add_relative_errors, summarize_accuracy
from stylaug.core.io import append_jsonl
from stylaug.core.stats import classification_metrics
from stylaug.report.stage import report
from tests.conftest import compose_cfg

BIRDS = ["owl", "barn swallow", "hawk, red-tailed", "1", "kingfisher"]
PER_CLASS_TEST = 3
CORRUPTIONS = {"fog": ("1", "5")}


def class_list(n: int) -> list[str]:
    return [f"{BIRDS[k % len(BIRDS)]} {k // len(BIRDS)}" if k >= len(BIRDS) else BIRDS[k]
            for k in range(n)]  # fmt: skip


def robustness(classes, acc: float) -> dict:
    accuracy = {c: dict.fromkeys(sev, acc) for c, sev in CORRUPTIONS.items()}
    per_class = {c: {s: dict.fromkeys(classes, acc) for s in sev} for c, sev in CORRUPTIONS.items()}
    return {
        "library": "imagecorruptions-imaug 1.1.5", "corruptions": list(CORRUPTIONS),
        "severities": [1, 5], "seed": 0, "size": 224, "spec_key": "0123456789abcdef",
        "images": len(classes) * PER_CLASS_TEST, **summarize_accuracy(accuracy, per_class, classes),
        "per_class": per_class, "relative_ce": None, "relative_mce": None, "baseline": None,
    }  # fmt: skip


def row(classes, scenario, minority, arm, seed, skill):
    rng = np.random.default_rng([seed, len(classes), len(scenario), len(arm)])
    targets = [k for k in range(len(classes)) for _ in range(PER_CLASS_TEST)]
    preds = [t if rng.random() < skill else int(rng.integers(len(classes))) for t in targets]
    out = {
        "scenario": scenario, "arm": arm, "seed": seed, "dataset": "folder:birds",
        "minority": minority,
        "weights": {"backbone": "efficientnet_lite0:imagenet (w.pth, sha256 0123)",
                    "stylizers": {"owl": {"weights": "x"}} if arm == "style" else None},
        "stylizer_pool": "scenario" if arm == "style" else None,
        "metrics": classification_metrics(targets, preds, classes), "classes": classes,
        "targets": targets, "predictions": preds, "test_hash": "t",
        "setup_hash": f"s-{scenario}", "config_hash": f"{scenario}-{arm}-{seed}", "counts": {},
        "notes": [], "robustness": robustness(classes, 0.4 + 0.1 * skill),
    }  # fmt: skip
    add_relative_errors(out["robustness"], out, out if arm == "none" else None)
    return out


def make_report(root, n: int) -> tuple[list[str], str]:
    classes = class_list(n)
    scenarios = {  # label -> minority classes
        "imbalanced_r0.25": classes[:2],
        "longtail_rho10": classes[n // 2 :],
        "fewshot_k4": [],
    }
    for scenario, minority in scenarios.items():
        for seed in (0, 1):
            append_jsonl(
                root / "results/results.jsonl", row(classes, scenario, minority, "none", seed, 0.5)
            )
            append_jsonl(
                root / "results/results.jsonl", row(classes, scenario, minority, "style", seed, 0.6)
            )
    samples = root / "data/folder:birds/samples.png"
    samples.parent.mkdir(parents=True)
    Image.new("RGB", (40, 20), "orange").save(samples)
    cfg = compose_cfg("report", ["logger=none", "report.bootstrap=50", "dataset=folder",
                                 "dataset.source=/data/birds"], root)  # fmt: skip
    return classes, report(cfg)


@pytest.fixture(scope="module", params=[10, pytest.param(50, marks=pytest.mark.slow)])
def made(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"classes{request.param}")
    classes, md = make_report(root, request.param)
    return root / "results", classes, md


def test_no_paper_numbers_beside_a_folder_dataset(made):
    out, _, md = made
    assert "Places365" not in md and "88.25" not in md
    with open(out / "report.csv") as f:
        assert {r["dataset"] for r in csv.DictReader(f)} == {"folder:birds"}


def test_every_minority_class_is_named(made):
    out, classes, md = made
    n = len(classes)

    def every_arm_line(scenario):  # the table of every arm: the one with a minority column
        return next(x for x in md.splitlines() if x.startswith(f"| {scenario} | style")
                    and "− none" in x.split(" | ")[-1])  # fmt: skip

    line = every_arm_line("imbalanced_r0.25").split(" | ")[-1]
    assert f"{classes[0]} " in line and f"{classes[1]} " in line  # both, one by one
    line = next(x for x in md.splitlines() if x.startswith("| longtail_rho10 | style")
                and "mean of" in x)  # fmt: skip
    assert f"mean of {n - n // 2} ({classes[n // 2]}, " in line  # many: their mean, named
    with open(out / "report.csv") as f:
        longtail = next(r for r in csv.DictReader(f) if r["scenario"] == "longtail_rho10")
    assert longtail["minority_classes"].split(";") == classes[n // 2 :]
    with open(out / "per_class.csv") as f:
        marked = {r["class"] for r in csv.DictReader(f)
                  if r["scenario"] == "longtail_rho10" and r["minority"] == "True"}  # fmt: skip
    assert marked == set(classes[n // 2 :])


def test_per_class_table_turns_to_one_row_per_class_past_twelve(made):
    _, classes, md = made
    section = md.split("## Per-class accuracy")[1].split("\n## ")[0]
    rows = [x for x in section.splitlines() if x.startswith("| ")]
    if len(classes) <= 12:
        assert all(c in rows[0] for c in classes)  # classes across
    else:
        assert [r.split(" | ")[0][2:] for r in rows[2:]] == classes  # classes down
        assert "**" in next(r for r in rows if r.startswith(f"| {classes[-1]} |"))  # minority


def test_figures_give_every_class_room(made):
    out, classes, md = made
    n = len(classes)
    for name in ("per_class.png", "confusion_longtail_rho10.png", "report.png"):
        assert f"]({name})" in md
    with Image.open(out / "per_class.png") as im:
        w, h = im.size
    # clean and corrupted columns for 10 or 50 classes: a row per class, ~15 px at least, and
    # never a 10000 px strip that report.html would shrink to a smudge
    assert h >= 15 * n and max(w, h) <= 4000
    with Image.open(out / "confusion_longtail_rho10.png") as im:
        w, h = im.size
    assert min(w, h) >= 14 * n and max(w, h) <= 12 * 1000  # stacked at 50: one matrix per row
    html = (out / "report.html").read_text()
    assert "missing image" not in html and len(re.findall(r'<img src="data:image/png', html)) >= 6
