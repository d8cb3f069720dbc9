"""The report's robustness, per-class, quality-filter and agreement sections, from hand-made rows
whose numbers are known, and report.html: every table and figure of report.md, nothing external."""

import csv
import re

import pytest
from PIL import Image

from stylaug.classify.corrupted_test_sets import add_relative_errors, summarize_accuracy
from stylaug.report.beyond_accuracy_sections import CSV_FILES
from stylaug.report.stage import report
from tests.conftest import compose_cfg
from tests.report.test_report import CLASSES, fake_row, write_rows, wrong

CONDITIONS = {"gaussian_noise": ("1", "5"), "fog": ("1", "5")}


def robustness(acc: float, minority_acc: float = 0.5) -> dict:
    """Robustness fields of a row with accuracy ``acc`` under every condition."""
    accuracy = {c: dict.fromkeys(sev, acc) for c, sev in CONDITIONS.items()}
    per_class = {
        c: {s: {k: (minority_acc if k == "hot_spring" else acc) for k in CLASSES} for s in sev}
        for c, sev in CONDITIONS.items()
    }
    return {
        "library": "imagecorruptions-imaug 1.1.5",
        "corruptions": list(CONDITIONS),
        "severities": [1, 5],
        "seed": 0,
        "size": 224,
        "spec_key": "0123456789abcdef",
        "images": 20,
        **summarize_accuracy(accuracy, per_class, CLASSES),
        "per_class": per_class,
        "ce": None,
        "mce": None,
        "relative_ce": None,
        "relative_mce": None,
        "baseline": None,
    }


def agreement(seed: int) -> dict:
    """Ten images, agreement rising with the content score; seed 1 repeats seed 0's images."""
    ids = [f"img{(i + 5 * min(seed, 1)) % 10}" for i in range(10)]
    points = [[i, int(i[3:]) / 10, int(int(i[3:]) >= 5), int(i[3:]) // 2] for i in ids]
    return {"classifier": "efficientnet_lite0:imagenet", "input": "resize(128)", "set": "johnson",
            "per_class": {}, "points": points}  # fmt: skip


def filtered(seed: int) -> dict:
    kept = 30 + (seed == 2)
    return {
        "rule": {"drop_fraction": 0.25},
        "available": 40,
        "dropped": 40 - kept,
        "kept": kept,
        "per_class": {
            c: {
                "available": 10,
                "dropped": 10 - k,
                "kept": k,
                "lowest_kept_score": 0.5,
                "highest_dropped_score": 0.4,
            }  # fmt: skip
            for c, k in zip(CLASSES, [7, 8, 8, 7 + (seed == 2)], strict=True)
        },
        "quality_before": None,
    }


def rows(root):
    t = [0, 1, 2, 3] * 5
    out = []
    for scenario in ("balanced", "biased_case1"):
        for seed in range(3):
            none = fake_row(scenario, "none", seed, wrong(t, 2), t, robustness=robustness(0.5))
            style = fake_row(
                scenario, "style", seed, wrong(t, 1), t, stylizer_pool="scenario",
                robustness=robustness(0.6 + 0.01 * seed, 0.7), imagenet_agreement=agreement(seed),
                style_source=str(root / "data/augmented/synthetic/johnson"),
            )  # fmt: skip
            style["weights"]["stylizers"] = {"ocean": {"stylizer_id": "abc123", "weights": "x"}}
            style_q = fake_row(
                scenario, "style_q", seed, list(t), t, stylizer_pool="scenario",
                robustness=robustness(0.55), quality_filter=filtered(seed),
            )  # fmt: skip
            add_relative_errors(none["robustness"], none, none)
            for r in (style, style_q):
                add_relative_errors(r["robustness"], r, none)
            out += [none, style, style_q]
    return out


def sample_files(root):
    for rel in ("data/synthetic/samples.png", "data/augmented/synthetic/johnson/samples.png",
                "artifacts/stylizers/synthetic/ocean/abc123_samples.png",
                "results/corruptions_synthetic_01234567.png"):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 20), "orange").save(root / rel)


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def read_dicts(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    write_rows(root, rows(root))
    sample_files(root)
    logged = {}

    class WandbLogger:
        def log_table(self, key, columns, data):
            logged[key] = (columns, data)

    import stylaug.report.stage as rep

    make, finish = rep.make_logger, rep.finish_logger
    rep.make_logger, rep.finish_logger = (lambda *a, **k: WandbLogger()), (lambda logger: None)
    try:
        md = report(compose_cfg("report", ["logger=none", "report.bootstrap=200"], root))
    finally:
        rep.make_logger, rep.finish_logger = make, finish
    return root, md, logged


def test_robustness_section_puts_clean_and_corrupted_side_by_side(made):
    root, md, _ = made
    section = md.split("## Corruption robustness")[1].split("\n## ")[0]
    assert "imagecorruptions-imaug 1.1.5" in section and "severities 1, 5" in section
    line = next(x for x in section.splitlines() if x.startswith("| biased_case1 | style, "))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[3].startswith("95.00")  # clean: 1 mistake in 20
    assert cells[4].startswith("61.00 ± 1.00 [")  # corrupted: 60, 61, 62
    assert cells[6].startswith("78.0 [")  # mCE (none = 100): error 0.39 / 0.5 on average
    # relative mCE (Hendrycks & Dietterich): errors above the clean ones, (0.39 - 0.05) / (0.5 - 0.1)
    assert cells[7].startswith("85.0 [")
    assert cells[8].startswith("+11.00 [")  # paired diff of corrupted accuracy vs none
    (row,) = [
        r for r in read_csv(root / "results/robustness.csv")
        if r[0] == "biased_case1" and r[2] == "style"
    ]  # fmt: skip
    head = read_csv(root / "results/robustness.csv")[0]
    value = dict(zip(head, row, strict=True))
    assert float(value["corrupted"]) == pytest.approx(61.0)
    assert float(value["mce"]) == pytest.approx(100 * (0.4 + 0.39 + 0.38) / 3 / 0.5)
    assert float(value["relative_mce"]) == pytest.approx(100 * (0.35 + 0.34 + 0.33) / 3 / 0.4)
    assert float(value["clean"]) == pytest.approx(95.0)
    assert float(value["acc_fog"]) == pytest.approx(61.0) and value["family_weather"] != ""
    assert (root / "results/robustness.png").stat().st_size > 5000


def test_per_class_table_marks_the_minority_in_biased_scenarios(made):
    root, md, _ = made
    section = md.split("## Per-class accuracy")[1].split("\n## ")[0]
    biased = next(x for x in section.splitlines() if x.startswith("| biased_case1 | style, "))
    balanced = next(x for x in section.splitlines() if x.startswith("| balanced | style, "))
    assert "| **100.0 / 70.0** |" in biased  # hot_spring: clean / corrupted
    assert "**" not in balanced
    per_class = read_dicts(root / "results/per_class.csv")
    minority = [r for r in per_class if r["scenario"] == "biased_case1" and r["minority"] == "True"]
    assert {r["class"] for r in minority} == {"hot_spring"}
    assert len(per_class) == 2 * 3 * 4  # scenarios x arms x classes
    assert Image.open(root / "results/per_class.png").width > 500


def test_filter_section_says_how_many_were_dropped(made):
    root, md, _ = made
    section = md.split("## Quality filter")[1].split("\n## ")[0]
    line = next(x for x in section.splitlines() if x.startswith("| balanced |"))
    assert "| drop_fraction = 0.25 | 3 | 40 | 10, 10, 9 | 30, 30, 31 |" in line
    assert (
        "desert_sand: 3 of 10; hot_spring: 2 of 10; ocean: 2 of 10; skyscraper: 3, 3, 2 of 10"
        in line
    )
    qf = read_dicts(root / "results/quality_filter.csv")
    assert len(qf) == 2 * 3 * 4  # scenarios x seeds x classes
    assert all(int(r["available"]) == int(r["dropped"]) + int(r["kept"]) for r in qf)
    assert sum(int(r["kept"]) for r in qf if r["seed"] == "2") == 2 * 31


def test_agreement_counts_each_image_once_and_relates_it_to_the_score(made):
    root, md, _ = made
    section = md.split("## Stylized images: ImageNet agreement")[1].split("\n## ")[0]
    name = "synthetic, resnet18:random-init: johnson"
    line = next(x for x in section.splitlines() if x.startswith(f"| {name} |"))
    # 10 distinct images (rows repeat them); top-1 agrees for 5; shared top-5 = score * 10 // 2
    assert line.startswith(f"| {name} | 10 | 0.450 | 50.0% | 40.0% | 0.98")
    assert (root / "results/agreement.png").stat().st_size > 5000


def test_agreement_never_pools_datasets_or_backbones():
    from stylaug.report.beyond_accuracy import agreement_lines

    t = [0, 1, 2, 3] * 5
    a = fake_row("scarce", "style", 0, t, t, imagenet_agreement=agreement(0))
    b = fake_row("scarce", "style", 0, t, t, dataset="places365", imagenet_agreement=agreement(0))
    c = fake_row("scarce", "style", 0, t, t, backbone="efficientnet_lite0:imagenet",
                 imagenet_agreement=agreement(0))  # fmt: skip
    lines = agreement_lines([a, b, c])
    assert len(lines) == 3 and all(x["images"] == 10 for x in lines)


def test_report_html_holds_every_table_and_figure_and_nothing_external(made):
    root, md, logged = made
    page = (root / "results/report.html").read_text()
    separators = [x for x in md.splitlines() if re.fullmatch(r"\|( ?:?-{3,}:? ?\|)+", x)]
    assert len(separators) >= 6 and page.count("<table>") == len(separators)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert (
        len(figures)
        == page.count("<img ")
        == len(re.findall(r'<img src="data:image/png;base64,', page))
    )
    for name in ("report.png", "robustness.png", "per_class.png", "agreement.png",
                 "confusion_balanced.png", "confusion_biased_case1.png",
                 "../data/synthetic/samples.png", "../data/augmented/synthetic/johnson/samples.png",
                 "../artifacts/stylizers/synthetic/ocean/abc123_samples.png",
                 "corruptions_synthetic_01234567.png"):  # fmt: skip
        assert name in figures, name
    assert "missing image" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    for heading in re.findall(r"^## (.+)$", md, flags=re.M):
        assert f"<h2>{heading.replace('&', '&amp;')}</h2>" in page
    assert "<strong>100.0 / 70.0</strong>" in page  # the minority, highlighted
    # the wandb Tables hold the CSV files' numbers
    for name in CSV_FILES:
        table = read_csv(root / f"results/{name}.csv")
        columns, data = logged[name]
        assert columns == table[0] and len(data) == len(table) - 1 > 0
