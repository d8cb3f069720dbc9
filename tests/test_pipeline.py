"""The demo preset, end to end, at a minimal size: every stage's real entry function in order."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from stylaug.core.io import read_jsonl
from stylaug.pipeline import run_pipeline, stage_overrides
from tests.conftest import CONF_DIR

MINIMAL = [
    "experiment=demo",
    "stylizer.pool=scenario",  # the leak-free pool: a network per (scenario, seed, class) list
    "logger=none",
    "data.num_workers=0",
    "dataset.image_size=32",
    "dataset.train_per_class=60",
    "dataset.test_per_class=8",
    "dataset.scenario_scale=0.01",
    "stylizer.image_size=32",
    "stylizer.batch_size=2",
    "stylizer.max_steps=2",
    "stylizer.checkpoint_every=1",
    "stylizer.sample_images=2",
    "augment.batch_size=8",
    "classifier.epochs=2",
    "classifier.image_size=32",
    "classifier.robustness.severities=[3]",
    "pipeline.seeds=[0,1]",
]


def run(root, *extra):
    overrides = MINIMAL + [f"paths.root={root}", *extra]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("pipeline", overrides)
        return run_pipeline(cfg, overrides)


@pytest.mark.slow  # minutes; `make test-slow`
def test_demo_pipeline_runs_every_stage_and_reports(tmp_path):
    table = run(tmp_path)
    stylizers = tmp_path / "artifacts/stylizers/synthetic"
    counts = {c: len(list((stylizers / c).glob("*.ckpt"))) for c in ("desert_sand", "hot_spring",
                                                                    "ocean", "skyscraper")}  # fmt: skip
    # pool=scenario: per seed, balanced/biased share a list except for the minority, scarce differs
    assert counts == {"desert_sand": 4, "hot_spring": 6, "ocean": 4, "skyscraper": 4}
    manifest = read_jsonl(tmp_path / "data/augmented/synthetic/johnson/manifest.jsonl")
    assert manifest and all(
        (tmp_path / "data/augmented/synthetic/johnson" / m["output"]).exists() for m in manifest
    )
    rows = read_jsonl(tmp_path / "results/results.jsonl")
    # 4 scenarios x 2 seeds x 3 arms (the demo's quality-filtered style arm among them), each
    # with its matched controls: the same images unstylized, the filter's random-drop twin, and a
    # class-balanced loss where the scenario has a minority class
    arms = ("none", "style", "style_filtered", "unstylized", "style_filtered_random_drop")
    assert sorted({(r["scenario"], r["seed"], r["arm"]) for r in rows}) == sorted(
        (s, seed, arm)
        for s in ("balanced", "biased_case1", "biased_case2", "scarce")
        for seed in (0, 1)
        for arm in arms + (("reweighted",) if s.startswith("biased") else ())
    )
    # every row is measured under the demo's corruptions; the filter says what it dropped
    assert all(set(r["robustness"]["corruptions"]) == {"gaussian_noise", "defocus_blur", "fog",
                                                       "contrast"} for r in rows)  # fmt: skip
    for r in (r for r in rows if r["arm"] == "style_filtered"):
        qf = r["quality_filter"]
        assert qf["kept"] + qf["dropped"] == qf["available"] and qf["dropped"] > 0
        assert sum(r["counts"]["augmented"].values()) == qf["kept"]
        assert r["imagenet_agreement"]["points"]
    # the demo's networks: the offline-pretrained EfficientNet-Lite0, named in every row
    assert all(r["dataset"] == "synthetic" for r in rows)
    assert all(r["weights"]["backbone"].startswith("efficientnet_lite0:imagenet") for r in rows)
    assert all("pretrained EfficientNet-Lite0" in " ".join(r["notes"]) for r in rows)
    for name in ("report.md", "report.csv", "report.png", "report.html", "robustness.png"):
        assert (tmp_path / "results" / name).exists()
    assert "biased_case1" in table and "scarce" in table

    # a second run finds everything done: no new result rows, same checkpoints
    mtimes = {p: p.stat().st_mtime_ns for p in stylizers.glob("*/*.ckpt")}
    run(tmp_path)
    assert len(read_jsonl(tmp_path / "results/results.jsonl")) == len(rows)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_pipeline_keys_are_not_passed_to_stages():
    assert stage_overrides(
        ["experiment=demo", "pipeline.seeds=[0]", "+pipeline.x=1", "seed=3"]
    ) == ["experiment=demo", "seed=3"]


def test_unknown_stage_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown stages"):
        run(tmp_path, "pipeline.stages=[prepare_data,train]")


def test_a_key_no_stage_knows_is_an_error(tmp_path):
    with pytest.raises(ConfigCompositionException, match="stylizer.max_step"):
        run(tmp_path, "stylizer.max_step=3")
