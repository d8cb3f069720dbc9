"""report: the statistics on hand-made examples, and the report files from result rows."""

import csv
import math

import pytest

from stylaug.report import report, summarize
from stylaug.stats import classification_metrics, mcnemar, mean_ci, paired_difference
from tests.conftest import compose_cfg


def test_mcnemar_exact_on_a_hand_made_example():
    # 10 images: A right on 0-7, B right on 0-5 and 8-9 -> b=2 (A only), c=2 (B only)
    a = [True] * 8 + [False] * 2
    b = [True] * 6 + [False] * 2 + [True] * 2
    r = mcnemar(a, b)
    assert (r["b"], r["c"], r["method"]) == (2, 2, "exact")
    assert r["p"] == pytest.approx(1.0)
    # 0 vs 6 discordant: two-sided exact p = 2 * 0.5**6
    r = mcnemar([False] * 6 + [True] * 4, [True] * 10)
    assert (r["b"], r["c"]) == (0, 6)
    assert r["p"] == pytest.approx(2 * 0.5**6)
    # many discordant pairs: chi-square with continuity correction
    r = mcnemar([True] * 30 + [False] * 10, [False] * 30 + [True] * 10)
    assert r["method"] == "chi2-cc" and r["p"] == pytest.approx(0.002663, rel=1e-3)
    assert mcnemar([True, False], [True, False])["p"] == 1.0


def test_mean_ci_and_paired_difference():
    s = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert s["mean"] == 2.0 and s["std"] == 1.0
    assert s["lo"] == pytest.approx(2.0 - half) and s["hi"] == pytest.approx(2.0 + half)
    assert mean_ci([5.0])["lo"] is None
    d = paired_difference([80, 82, 84], [81, 84, 87])
    assert d["mean"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        paired_difference([1, 2], [1])


def test_classification_metrics():
    m = classification_metrics([0, 0, 1, 1, 2, 3], [0, 1, 1, 1, 2, 0], ["a", "b", "c", "d"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"] == {"a": 0.5, "b": 1.0, "c": 1.0, "d": 0.0}
    assert m["balanced_accuracy"] == pytest.approx(0.625)
    assert m["confusion"][0] == [1, 1, 0, 0]


def fake_row(scenario, arm, seed, preds, targets, dataset="synthetic"):
    classes = ["desert_sand", "hot_spring", "ocean", "skyscraper"]
    return {
        "scenario": scenario,
        "arm": arm,
        "seed": seed,
        "dataset": dataset,
        "minority": "hot_spring" if scenario.startswith("biased") else None,
        "weights": {
            "backbone": "resnet18:random-init(seed=0,params=abc)",
            "stylizers": {"ocean": {"weights": "unknown"}} if arm == "style" else None,
        },
        "metrics": classification_metrics(targets, preds, classes),
        "classes": classes,
        "targets": targets,
        "predictions": preds,
        "test_hash": "t",
        "setup_hash": f"s-{scenario}",
        "config_hash": f"{scenario}-{arm}-{seed}",
        "counts": {},
        "notes": ["synthetic data: smoke"],
    }


def rows_for(scenario):
    t = [0, 1, 2, 3] * 5
    rows = []
    for seed in range(3):
        none = list(t)
        none[seed] = (t[seed] + 1) % 4  # one mistake
        style = list(t)
        style[: 3 + seed] = [(x + 1) % 4 for x in t[: 3 + seed]]  # more mistakes
        rows += [
            fake_row(scenario, "none", seed, none, t),
            fake_row(scenario, "style", seed, style, t),
        ]
    return rows


def test_summary_pairs_arms_by_seed():
    (s,) = summarize(rows_for("biased_case1"))
    assert s["seeds"] == 3 and s["arm"] == "style"
    assert s["without"]["mean"] == pytest.approx(95.0)
    assert s["diff"]["mean"] == pytest.approx(-100 * (3 + 1) / 20 + 5)  # -(2,3,4 extra)/20 mean
    assert [t["seed"] for t in s["mcnemar"]] == [0, 1, 2]
    assert "SYNTHETIC" in s["source"] and "RANDOM-INIT" in s["source"]


def test_report_files(tmp_path):
    from stylaug.io import append_jsonl

    results = tmp_path / "results" / "results.jsonl"
    for r in rows_for("biased_case1") + rows_for("balanced"):
        append_jsonl(results, r)
    cfg = compose_cfg("report", ["logger=none"], tmp_path)
    table = report(cfg)
    md = (tmp_path / "results" / "report.md").read_text()
    assert md.endswith(table)  # what report() returns (and the pipeline prints) is what it wrote
    assert "| -15.00 [" in table  # biased_case1: the paired difference with its interval
    assert "paper (Places365, ImageNet, 1 run)" in md and "88.25" in md and "90.25" in md
    assert "SYNTHETIC data (smoke)" in md
    assert md.index("| balanced") < md.index("| biased_case1")
    with open(tmp_path / "results" / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"scenario", "acc_without", "acc_with", "diff", "diff_lo", "mcnemar_p"} <= set(rows[0])
    ours = [r for r in rows if r["source"].startswith("ours")]
    assert [r["scenario"] for r in ours] == ["balanced", "biased_case1"]
    assert (tmp_path / "results" / "report.png").stat().st_size > 1000


def test_report_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="stylaug.classify"):
        report(compose_cfg("report", ["logger=none"], tmp_path))
