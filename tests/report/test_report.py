"""report: the statistics on hand-made examples, and the report files from result rows."""

import copy
import csv
import io
import math
import re

import pytest

from stylaug.core.stats import classification_metrics, holm, mcnemar, mean_ci, paired_difference
from stylaug.report.plots import plot
from stylaug.report.stage import report
from stylaug.report.summary import CLASS_POOL_WARNING, EFFICIENTNET_TAG, headline, label, summarize
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
        "val_accuracy": 0.5,
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


def control_rows(scenario="biased_case1", seeds=(0, 1, 2), **extra):
    """none (1 mistake), reweighted (1), unstylized (2: more images, no style) and style (0 + seed
    mistakes) on 20 test images; the seed moves every arm."""
    t = [0, 1, 2, 3] * 5
    rows = []
    for seed in seeds:
        rows += [
            fake_row(scenario, "none", seed, wrong(t, 1 + seed), t, **extra),
            fake_row(scenario, "reweighted", seed, wrong(t, 1 + seed), t, control="reweighted",
                     **extra),
            fake_row(scenario, "unstylized", seed, wrong(t, 2 + seed), t, control="unstylized",
                     **extra),
            fake_row(scenario, "style", seed, wrong(t, seed), t, stylizer_pool="scenario", **extra),
        ]  # fmt: skip
    return rows


def test_style_arm_is_compared_with_its_controls_over_seeds_and_images():
    lines = {s["arm"]: s for s in summarize(control_rows())}
    assert list(lines) == ["none", "reweighted", "unstylized", "style"]
    style = lines["style"]
    assert set(style["vs"]) == {"none", "unstylized", "reweighted"}
    assert headline(style)[0] == "unstylized"  # the headline is the style effect
    effect = style["vs"]["unstylized"]
    assert effect["estimate"] == pytest.approx(10.0)  # 2 images of 20 better, every seed
    assert effect["lo"] <= 10.0 <= effect["hi"] and effect["seeds"] == 3 and effect["images"] == 20
    assert style["seed_ci"]["unstylized"]["mean"] == pytest.approx(10.0)
    assert set(lines["unstylized"]["vs"]) == {"none", "reweighted"}
    assert "mcnemar" not in style and "bootstrap" not in style  # per-seed McNemar is gone
    (m,) = style["minority"]  # hot_spring's recall, paired like the whole test set
    assert m["class"] == "hot_spring" and m["vs"]["none"]["images"] == 5


def test_every_figure_in_a_line_uses_the_same_seeds():
    # none ran 5 seeds, style 3: the style line's mean and difference both use those 3
    rows = [r for r in control_rows(seeds=range(5)) if r["arm"] == "none" or r["seed"] < 3]
    rows = [r for r in rows if r["arm"] in ("none", "style")]
    lines = {s["arm"]: s for s in summarize(rows)}
    style, none = lines["style"], lines["none"]
    assert style["seeds"] == 3 and style["seed_list"] == [0, 1, 2] and none["seeds"] == 5
    none_same_seeds = 100 - 100 * (1 + 1) / 20  # mean of 1, 2, 3 mistakes
    assert style["acc"]["mean"] - style["vs"]["none"]["estimate"] == pytest.approx(none_same_seeds)


def test_holm_over_the_arms_compared_with_the_same_reference():
    rows = control_rows()
    t = [0, 1, 2, 3] * 5
    rows += [fake_row("biased_case1", "adain", s, wrong(t, 5), t, stylizer_pool="scenario")
             for s in range(3)]  # fmt: skip
    lines = summarize(rows)
    family = [s["vs"]["none"] for s in lines if s["vs"].get("none")]
    assert len(family) == 4  # reweighted, unstylized, style, adain
    assert [e["p_holm"] for e in family] == pytest.approx(holm([e["p"] for e in family]))
    assert all(e["p_holm"] >= e["p"] for e in family)


def test_a_line_never_averages_seeds_made_with_other_settings():
    rows = control_rows()
    for r in rows:
        if r["arm"] == "style":
            r["weights"]["stylizers"] = {"ocean": {"settings": "a", "stylizer": f"h{r['seed']}"}}
    rows[-1]["weights"]["stylizers"]["ocean"]["settings"] = "b"  # seed 2 rerun with other settings
    arms = [s["arm"] for s in summarize(rows)]
    assert "style" in arms and any(a.startswith("style [setup ") for a in arms)
    style = next(s for s in summarize(rows) if s["arm"] == "style")
    assert style["seed_list"] == [0, 1]


def by_pool(summary):
    return [next(s for s in summary if s["pool"] == p) for p in ("scenario", "class")]


def test_pools_are_never_averaged_together():
    scen, cls = by_pool(summarize(pooled_rows()))
    assert scen["pool"] == "scenario" and cls["pool"] == "class"
    assert scen["acc"]["mean"] == pytest.approx(90.0)  # not 95: the pools stay apart
    assert cls["acc"]["mean"] == pytest.approx(100.0)
    assert scen["vs"]["none"]["estimate"] == pytest.approx(-5.0)
    assert cls["vs"]["none"]["estimate"] == pytest.approx(5.0)
    assert scen["arm_label"] == "style, stylizer pool=scenario (leak-free)"
    assert cls["arm_label"] == f"style, stylizer pool=class ({CLASS_POOL_WARNING})"


def test_style_quality_is_averaged_over_seeds_per_class():
    scen, cls = by_pool(summarize(pooled_rows()))
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


def test_forest_plot_shows_the_differences_with_both_intervals(tmp_path):
    import matplotlib

    summary = summarize(pooled_rows() + control_rows("scarce"))
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep the text searchable
        plot(summary, tmp_path / "report.svg")
    svg = " ".join(re.sub(r"<[^>]+>", " ", (tmp_path / "report.svg").read_text()).split())
    assert "pretrained EfficientNet-Lite0" in svg and "VGG16/ResNet-18" in svg
    assert CLASS_POOL_WARNING in svg and "style/class† − none" in svg
    assert "scarce: style/scenario − unstylized (style effect)" in svg
    assert "scarce: unstylized − none" in svg and "− reweighted" in svg
    assert "over seeds and test images" in svg and "seed t-interval" in svg


def test_rich_table_fits_100_columns():
    from rich.console import Console

    summary = summarize(pooled_rows() + control_rows("scarce"))
    console = Console(width=100, record=True, file=io.StringIO())
    print_summary(summary, console=console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    flat = " ".join(text.split())
    style = next(s for s in summary if s["arm"] == "style" and s["scenario"] == "scarce")
    effect = style["vs"]["unstylized"]
    for needle in (
        "scarce style/scenario 3",
        f"{effect['estimate']:+.1f} [{effect['lo']:+.1f}, {effect['hi']:+.1f}]",
        "style/class† 3 100.0",
        "− unstylized",
        "hot_spring",
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
    write_rows(tmp_path, control_rows("biased_case1") + control_rows("balanced"))
    cfg = compose_cfg("report", ["logger=none"], tmp_path)
    md = report(cfg)
    assert (tmp_path / "results" / "report.md").read_text() == md
    # the answer comes first: the style effect per scenario, then every arm, then the paper
    answer = md.index("## The answer: the style effect per scenario")
    assert answer < md.index("## Every arm against its references") < md.index("The paper's table")
    first = md[answer:].split("\n| balanced |")[1].split("\n")[0]
    assert "+10.00 [" in first  # style − unstylized on balanced
    assert "88.25" in md and "90.25" in md and "Another setup than any table above" in md
    assert "SYNTHETIC data (smoke)" in md.split("## The answer")[0]  # said once, above
    table = md.split("## Every arm against its references")[1].split("The paper's table")[0]
    assert not [row for row in table.splitlines() if row.startswith("| ") and "SYNTHETIC" in row]
    assert md.index("| balanced |") < md.index("| biased_case1 |")
    for what in ("**Headline interval**", "**p** = Holm-adjusted", "**Seed t-interval**",
                 "## Diagnostic: test-set noise only", "is **not** evidence of an effect"):  # fmt: skip
        assert what in md, what
    assert "McNemar" not in md
    rows = read_csv(tmp_path)
    assert list(rows[0]) == COLUMNS
    style = next(r for r in rows if r["scenario"] == "biased_case1" and r["arm"] == "style")
    assert float(style["unstylized_diff"]) == pytest.approx(10.0)
    assert float(style["unstylized_ci_lo"]) <= 10 <= float(style["unstylized_ci_hi"])
    assert style["minority_classes"] == "hot_spring" and style["stylizer_pool"] == "scenario"
    assert (tmp_path / "results" / "report.png").stat().st_size > 1000
    out = capsys.readouterr().out  # the terminal gets the compact table, not the Markdown
    assert "| scenario |" not in out and "− unstylized" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_report_with_pools_quality_and_efficientnet(tmp_path):
    write_rows(tmp_path, pooled_rows())
    md = report(compose_cfg("report", ["logger=none", "report.bootstrap=500"], tmp_path))
    header, _, rest = md.partition("## The answer")
    assert f"`{EFFICIENTNET}` — {EFFICIENTNET_TAG}" in header
    assert "`class`: the paper's protocol" in header
    assert f"**Note (style/class† rows):** {CLASS_POOL_WARNING}." in header
    table = rest.split("## Every arm against its references")[1].split("The paper")[0]
    lines = [line for line in table.splitlines() if line.startswith("| biased_case1 |")]
    assert len(lines) == 3 and not any(EFFICIENTNET_TAG in line for line in lines)
    assert any("style, stylizer pool=scenario (leak-free) | 3 | 90.00" in x for x in lines)
    assert any(
        f"style, stylizer pool=class ({CLASS_POOL_WARNING}) | 3 | 100.00" in x for x in lines
    )
    quality = md.split("## Stylized images: content score and Gram-distance ratio per class")[1]
    quality = quality.split("##")[0]
    q = sorted(line for line in quality.splitlines() if line.startswith("| biased_case1"))
    assert q[1] == (
        "| biased_case1 | style, stylizer pool=scenario (leak-free) | 3 | 0.600 / 0.300 (4) | "
        "0.600 / 0.300 (4) | — / 0.900 (3) | 0.600 / 0.300 (4) |"
    )
    assert "500 paired resamples" in md
    rows = {r["stylizer_pool"]: r for r in read_csv(tmp_path) if r["arm"] == "style"}
    assert rows["class"]["stylizer_saw_outside_training_set"] == "True"
    assert rows["scenario"]["stylizer_saw_outside_training_set"] == "False"
    assert "ocean: content —, gram 0.900, images 3" in rows["scenario"]["style_quality_per_class"]


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
    write_rows(tmp_path, control_rows("balanced"))
    with pytest.raises(ValueError, match="report.bootstrap=-1"):
        report(compose_cfg("report", ["logger=none", "report.bootstrap=-1"], tmp_path))
    md = report(compose_cfg("report", ["logger=none", "report.bootstrap=0"], tmp_path))
    assert "test-set noise only" not in md  # the diagnostic is off, the headline is not
    assert "## The answer" in md
