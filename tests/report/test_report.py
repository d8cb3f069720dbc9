"""report: the statistics on hand-made examples, and the report files from result rows."""

import copy
import csv
import io
import math
import re

import pytest

from stylaug.core.stats import classification_metrics, mcnemar, mean_ci, paired_difference
from stylaug.report.plots import plot
from stylaug.report.stage import report
from stylaug.report.summary import CLASS_POOL_WARNING, EFFICIENTNET_TAG, label, summarize
from stylaug.report.tables import COLUMNS, csv_rows, print_summary
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


EFFICIENTNET = "efficientnet_lite0:imagenet (efficientnet-lite0-57934424.pth, sha256 0123456789ab)"
CLASSES = ["desert_sand", "hot_spring", "ocean", "skyscraper"]


def fake_row(scenario, arm, seed, preds, targets, dataset="synthetic", **extra):
    row = {
        "scenario": scenario,
        "arm": arm,
        "seed": seed,
        "dataset": dataset,
        "minority": "hot_spring" if scenario.startswith("biased") else None,
        "weights": {
            "backbone": "resnet18:random-init(seed=0,params=abc)",
            "stylizers": {"ocean": {"weights": "unknown"}} if arm == "style" else None,
        },
        "metrics": classification_metrics(targets, preds, CLASSES),
        "classes": CLASSES,
        "targets": targets,
        "predictions": preds,
        "test_hash": "t",
        "setup_hash": f"s-{scenario}",
        "config_hash": f"{scenario}-{arm}-{seed}",
        "counts": {},
        "notes": ["synthetic data: smoke"],
    }
    backbone = extra.pop("backbone", None)
    if backbone:
        row["weights"]["backbone"] = backbone
    return row | extra


def wrong(targets, n):
    """``targets`` with the first n predictions wrong."""
    return [(t + 1) % 4 if i < n else t for i, t in enumerate(targets)]


def rows_for(scenario, **extra):
    t = [0, 1, 2, 3] * 5
    rows = []
    for seed in range(3):
        none = list(t)
        none[seed] = (t[seed] + 1) % 4  # one mistake
        rows += [
            fake_row(scenario, "none", seed, none, t, **extra),
            fake_row(scenario, "style", seed, wrong(t, 3 + seed), t, **extra),  # more mistakes
        ]
    return rows


def pooled_rows(scenario="biased_case1", backbone=EFFICIENTNET):
    """none, style from scenario-pool stylizers (2 mistakes) and from class-pool ones (none)."""
    t = [0, 1, 2, 3] * 5
    rows = []
    for seed in range(3):
        q = {
            c: {"content_score": 0.5 + 0.1 * seed, "gram_ratio": 0.3, "images": 4} for c in CLASSES
        }
        q["ocean"] = {"content_score": None, "gram_ratio": 0.9, "images": 2 + seed}
        rows += [
            fake_row(scenario, "none", seed, wrong(t, 1), t, backbone=backbone, stylizer_pool=None),
            fake_row(
                scenario,
                "style",
                seed,
                wrong(t, 2),
                t,
                backbone=backbone,
                stylizer_pool="scenario",
                style_quality=q,
            ),
            fake_row(
                scenario,
                "style",
                seed,
                list(t),
                t,
                backbone=backbone,
                stylizer_pool="class",
                style_quality=copy.deepcopy(q) | {"ocean": {"content_score": 0.2, "images": 3}},
                notes=["synthetic data: smoke", CLASS_POOL_WARNING],
            ),
        ]
    return rows


def test_summary_pairs_arms_by_seed():
    (s,) = summarize(rows_for("biased_case1"))
    assert s["seeds"] == 3 and s["arm"] == "style"
    assert s["without"]["mean"] == pytest.approx(95.0)
    assert s["diff"]["mean"] == pytest.approx(-100 * (3 + 1) / 20 + 5)  # -(2,3,4 extra)/20 mean
    assert [t["seed"] for t in s["mcnemar"]] == [0, 1, 2]
    assert "SYNTHETIC" in s["source"] and "RANDOM-INIT" in s["source"]
    b = s["bootstrap"]
    assert (b["seeds"], b["images"], b["resamples"]) == (3, 20, 2000)
    assert b["estimate"] == pytest.approx(-15.0)
    # the arm only ever loses images (2-4 of 20 per seed): every resample's difference is <= 0
    assert -30 < b["lo"] < b["estimate"] < b["hi"] <= 0
    assert summarize(rows_for("biased_case1"))[0]["bootstrap"] == b  # reproducible


def test_bootstrap_uses_only_seeds_tested_on_the_same_images_and_can_be_off():
    rows = rows_for("scarce")
    rows[5]["test_hash"] = "other"  # seed 2's style arm was tested on other images
    (s,) = summarize(rows)
    assert s["seeds"] == 3 and [t["seed"] for t in s["mcnemar"]] == [0, 1]
    assert s["bootstrap"]["seeds"] == 2
    assert s["bootstrap"]["estimate"] == pytest.approx(-12.5)  # -(2, 3)/20
    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    print_summary([s], console=console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    row = next(line for line in text.splitlines() if "-15.0 [-27.4, -2.6]" in line)
    assert f"[{s['bootstrap']['lo']:+.1f}, {s['bootstrap']['hi']:+.1f}]" in row
    assert "(2 of 3 seeds)" in text
    (s,) = summarize(rows_for("scarce"), bootstrap=0)
    assert s["bootstrap"] is None and s["diff"]["mean"] == pytest.approx(-15.0)


def test_pools_are_never_averaged_together():
    none_scen, none_cls = summarize(pooled_rows())
    assert none_scen["pool"] == "scenario" and none_cls["pool"] == "class"
    assert none_scen["with"]["mean"] == pytest.approx(90.0)  # not 95: the pools stay apart
    assert none_cls["with"]["mean"] == pytest.approx(100.0)
    assert none_scen["without"]["mean"] == none_cls["without"]["mean"] == pytest.approx(95.0)
    assert none_scen["diff"]["mean"] == pytest.approx(-5.0)
    assert none_cls["diff"]["mean"] == pytest.approx(5.0)
    assert none_scen["arm_label"] == "style, stylizer pool=scenario (leak-free)"
    assert none_cls["arm_label"] == f"style, stylizer pool=class ({CLASS_POOL_WARNING})"
    assert CLASS_POOL_WARNING not in none_scen["arm_label"]


def test_style_quality_is_averaged_over_seeds_per_class():
    scen, cls = summarize(pooled_rows())
    q = scen["style_quality"]
    assert q["desert_sand"] == {
        "content_score": pytest.approx(0.6),
        "gram_ratio": pytest.approx(0.3),
        "images": 4.0,
        "seeds": 3,
    }
    assert q["ocean"]["content_score"] is None  # no seed measured it
    assert q["ocean"]["images"] == pytest.approx(3.0)  # 2, 3, 4
    assert cls["style_quality"]["ocean"]["gram_ratio"] is None
    assert cls["style_quality"]["ocean"]["content_score"] == pytest.approx(0.2)


def test_efficientnet_backbone_is_named_in_every_label():
    row = pooled_rows()[0]
    assert label(row) == (
        "ours: synthetic, efficientnet_lite0:imagenet [SYNTHETIC data (smoke); "
        "pretrained EfficientNet-Lite0, not the paper's VGG16/ResNet-18]"
    )
    row["weights"]["backbone"] = "efficientnet_lite0:random-init(seed=0,params=abc)"
    assert "RANDOM-INIT backbone; EfficientNet-Lite0, not the paper's" in label(row)
    assert "pretrained" not in label(row)
    row["weights"]["backbone"] = "resnet18:imagenet (IMAGENET1K_V1)"
    assert "EfficientNet" not in label(row) and "RANDOM-INIT" not in label(row)


def test_plot_title_names_the_backbone_and_marks_class_pools(tmp_path):
    import matplotlib

    summary = summarize(pooled_rows())
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep the text searchable
        plot(summary, tmp_path / "report.svg")
    svg = " ".join(re.sub(r"<[^>]+>", " ", (tmp_path / "report.svg").read_text()).split())
    assert "pretrained EfficientNet-Lite0" in svg and "VGG16/ResNet-18" in svg
    assert CLASS_POOL_WARNING in svg and "style class†" in svg and "style scenario" in svg
    assert "test-image bootstrap" in svg and "t-interval over seeds" in svg


def test_rich_table_fits_100_columns():
    from rich.console import Console

    summary = summarize(pooled_rows() + rows_for("balanced"))
    console = Console(width=100, record=True, file=io.StringIO())
    print_summary(summary, console=console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    flat = " ".join(text.split())
    scen, cls, old = summary[1], summary[2], summary[0]
    assert (old["scenario"], scen["pool"], cls["pool"]) == ("balanced", "scenario", "class")
    boot = scen["bootstrap"]
    for needle in (
        "biased_case1 style/scenario 3 95.0 90.0 -5.0 [-5.0, -5.0]",
        f"[{boot['lo']:+.1f}, {boot['hi']:+.1f}]",
        "style/class† 3 95.0 100.0 +5.0 [+5.0, +5.0]",
        "balanced style/? 3 95.0 80.0 -15.0 [-27.4, -2.6]",
        "hot_spring",
        "biased_case1 paper 1 run 1 88.2 90.2 +2.0",
        f"† pool=class: {CLASS_POOL_WARNING}",
        EFFICIENTNET_TAG,
        "RANDOM-INIT backbone",
    ):
        assert needle in flat, needle
    assert "|---" not in text


def write_rows(tmp_path, rows):
    from stylaug.core.io import append_jsonl

    results = tmp_path / "results" / "results.jsonl"
    for r in rows:
        append_jsonl(results, r)


def read_csv(tmp_path):
    with open(tmp_path / "results" / "report.csv") as f:
        return list(csv.DictReader(f))


def test_report_files(tmp_path, capsys):
    write_rows(tmp_path, rows_for("biased_case1") + rows_for("balanced"))
    cfg = compose_cfg("report", ["logger=none"], tmp_path)
    md = report(cfg)
    assert (tmp_path / "results" / "report.md").read_text() == md
    assert "| -15.00 [" in md  # biased_case1: the paired difference with its interval
    assert "paper (Places365, ImageNet, 1 run)" in md and "88.25" in md and "90.25" in md
    assert "SYNTHETIC data (smoke)" in md
    assert md.index("| balanced") < md.index("| biased_case1")
    for what in (
        "**Seed interval**",
        "scenario draw",
        "head's initialisation",
        "**Paired seed difference**",
        "**Test-image bootstrap**",
        "2000 resamples of the test images",
        "**McNemar p per seed**",
        "Held fixed in every interval: the test images",
        "test-image bootstrap of the diff [95% percentile, 2000 resamples]",
        "stylizer pool not recorded",  # old rows: style arms without stylizer_pool
        "Not recorded in these result rows",  # ... and without style_quality
    ):
        assert what in md, what
    rows = read_csv(tmp_path)
    assert list(rows[0]) == COLUMNS
    assert {
        "seed_t_ci_without_lo",
        "paired_seed_diff_t_ci_lo",
        "test_bootstrap_diff_ci_lo",
        "test_bootstrap_diff_ci_hi",
        "mcnemar_p_per_seed",
    } <= set(rows[0])
    ours = [r for r in rows if r["source"].startswith("ours")]
    assert [r["scenario"] for r in ours] == ["balanced", "biased_case1"]
    assert float(ours[1]["paired_seed_diff"]) == pytest.approx(-15.0)
    assert (
        float(ours[1]["test_bootstrap_diff_ci_lo"])
        < -15
        < float(ours[1]["test_bootstrap_diff_ci_hi"])
    )
    assert ours[1]["test_bootstrap_images"] == "20" and ours[1]["stylizer_pool"] == ""
    assert (tmp_path / "results" / "report.png").stat().st_size > 1000
    out = capsys.readouterr().out  # the terminal gets the compact table, not the Markdown
    assert "| scenario |" not in out and "-15.0 [-27.4, -2.6]" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_report_with_pools_quality_and_efficientnet(tmp_path):
    write_rows(tmp_path, pooled_rows())
    md = report(compose_cfg("report", ["logger=none", "report.bootstrap=500"], tmp_path))
    header, _, rest = md.partition("| scenario |")
    assert f"`{EFFICIENTNET}` — {EFFICIENTNET_TAG}" in header
    assert "500 resamples" in header and "`class` = the paper's protocol" in header
    assert f"**Note (style/class† rows):** {CLASS_POOL_WARNING}." in header
    table, _, quality = rest.partition("## Stylized images: content score and Gram-distance ")
    lines = [line for line in table.splitlines() if line.startswith("| biased_case1 | ours")]
    assert len(lines) == 2 and all(EFFICIENTNET_TAG in line for line in lines)
    assert "style, stylizer pool=scenario (leak-free) | 3 | 95.00" in lines[0]
    assert f"style, stylizer pool=class ({CLASS_POOL_WARNING}) | 3 | 95.00" in lines[1]
    assert quality.startswith("ratio per class")
    assert f"{label(pooled_rows()[0])}:" in quality  # which backbone made the stylized-image rows
    q = [line for line in quality.splitlines() if line.startswith("| biased_case1")]
    assert q[0] == (
        "| biased_case1 | style, stylizer pool=scenario (leak-free) | 3 | 0.600 / 0.300 (4) | "
        "0.600 / 0.300 (4) | — / 0.900 (3) | 0.600 / 0.300 (4) |"
    )
    assert f"pool=class ({CLASS_POOL_WARNING}) |" in q[1] and "| 0.200 / — (3) |" in q[1]
    rows = {r["stylizer_pool"]: r for r in read_csv(tmp_path) if r["source"].startswith("ours")}
    assert rows["class"]["stylizer_saw_outside_training_set"] == "True"
    assert rows["scenario"]["stylizer_saw_outside_training_set"] == "False"
    assert rows["scenario"]["test_bootstrap_resamples"] == "500"
    assert "ocean: content —, gram 0.900, images 3" in rows["scenario"]["style_quality_per_class"]
    assert EFFICIENTNET_TAG in rows["class"]["source"]


def test_wandb_table_has_the_csv_columns(tmp_path, monkeypatch):
    import stylaug.report.stage as rep

    logged = {}

    class WandbLogger:
        def log_table(self, key, columns, data):
            if key == "report":  # the other sections' tables: tests/report/test_beyond_accuracy.py
                logged.update(key=key, columns=columns, data=data)

    monkeypatch.setattr(rep, "make_logger", lambda *a, **k: WandbLogger())
    monkeypatch.setattr(rep, "finish_logger", lambda logger: None)
    write_rows(tmp_path, pooled_rows())
    report(compose_cfg("report", ["logger=none"], tmp_path))
    assert logged["key"] == "report" and logged["columns"] == COLUMNS
    assert len(logged["data"]) == len(read_csv(tmp_path))
    assert all(len(r) == len(COLUMNS) for r in logged["data"])
    assert all(v is None or isinstance(v, str | int | float) for r in logged["data"] for v in r)
    assert all(len(r) == len(COLUMNS) for r in csv_rows(summarize(pooled_rows())))


def test_report_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="stylaug.classify"):
        report(compose_cfg("report", ["logger=none"], tmp_path))


def test_report_rejects_bad_bootstrap_settings(tmp_path):
    write_rows(tmp_path, rows_for("balanced"))
    with pytest.raises(ValueError, match="report.bootstrap=-1"):
        report(compose_cfg("report", ["logger=none", "report.bootstrap=-1"], tmp_path))
    md = report(compose_cfg("report", ["logger=none", "report.bootstrap=0"], tmp_path))
    assert "off (report.bootstrap=0)" in md
    assert read_csv(tmp_path)[0]["test_bootstrap_diff_ci_lo"] == ""
