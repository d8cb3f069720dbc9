"""Your own dataset, end to end: a folder of real photos (mixed sizes, JPEG and PNG, upper-case
extensions, stray files, a truncated download) through every stage, under imbalanced, longtail
and fewshot, at 3 classes (and 10, marked slow)."""

import pytest
from hydra import compose, initialize_config_dir

from stylaug.core.config import CONFIG_DIR
from stylaug.core.io import read_jsonl
from stylaug.data.index import load_index
from stylaug.data.scenarios import sample_scenario
from stylaug.models.stylizer import load_stylizer
from stylaug.pipeline import run_pipeline
from tests.folder_fixture import class_names, make_folder

TINY = [
    "logger=none",
    "trainer=cpu",
    "data.num_workers=0",
    "dataset=folder",
    "dataset.image_size=32",
    "model.loss_net.arch=efficientnet_lite0",
    "model.backbone.arch=efficientnet_lite0",
    "stylizer.image_size=32",
    "stylizer.batch_size=2",
    "stylizer.max_steps=2",
    "stylizer.checkpoint_every=2",
    "stylizer.sample_images=2",
    "augment.batch_size=16",
    "classifier.epochs=2",
    "classifier.image_size=32",
    "report.bootstrap=100",
    "pipeline.seeds=[0]",
]
SCENARIOS = ("imbalanced", "longtail", "fewshot")


def run(root, source, *extra):
    overrides = [*TINY, f"dataset.source={source}", f"paths.root={root}", *extra]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("pipeline", overrides)
        return cfg, run_pipeline(cfg, overrides)


def scenario_cfg(source, name: str, minority: str):
    """The scenario node the stages composed (the minority override belongs to imbalanced)."""
    extra = [f"scenario.minority=['{minority}']"] if name == "imbalanced" else []
    overrides = [o for o in TINY if not o.startswith("pipeline.")]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "classify", [*overrides, f"dataset.source={source}", f"scenario={name}", *extra]
        )
        return cfg.scenario


@pytest.mark.parametrize("n", [3, pytest.param(10, marks=pytest.mark.slow)])
def test_a_folder_of_photos_goes_to_a_report(tmp_path, one_thread, n):
    # folder names as people write them: spaces, a digit-only name (Hydra would read 1 as a number)
    names = ["cat", "coffee cup", "1"] if n == 3 else class_names(16)[6:]
    source = tmp_path / "my photos"
    make_folder(source, names, per_class=12, test_per_class=3, size=(36, 90))
    minority = "1" if n == 3 else "camera man"
    cfg, table = run(
        tmp_path / "study", source, "scenario=imbalanced", f"scenario.minority=['{minority}']",
        f"augment.scenarios=[{','.join(SCENARIOS)}]",
    )  # fmt: skip
    index = load_index(cfg.dataset)
    assert index.name == "folder:my photos" and index.classes == sorted(names)
    rows = read_jsonl(tmp_path / "study/results/results.jsonl")
    labels = {
        "imbalanced": "imbalanced_r0.25",
        "longtail": "longtail_rho10",
        "fewshot": "fewshot_k4",
    }
    assert all(r["dataset"] == "folder:my photos" for r in rows)
    splits = {s: sample_scenario(index, scenario_cfg(source, s, minority), 0) for s in SCENARIOS}
    # each style arm with its matched control, and a class-balanced loss where there is a minority
    assert sorted((r["scenario"], r["arm"]) for r in rows) == sorted(
        (labels[s], arm)
        for s in SCENARIOS
        for arm in ("none", "style", "unstylized", *(["reweighted"] if splits[s].minority else []))
    )
    for r in rows:
        split = next(sp for sp in splits.values() if sp.label == r["scenario"])
        assert r["minority"] == split.minority  # the row names every minority class
        assert r["counts"]["train"] == {c: len(v) for c, v in split.train.items()}
    assert splits["imbalanced"].minority == [minority]
    assert len(splits["longtail"].minority) >= 1 and splits["fewshot"].minority == []
    # 10 training images per class after 2 for validation; minority: 0.25 x 10 = 2.5, rounds to 3
    assert splits["imbalanced"].counts()["train"] == {c: 3 if c == minority else 10 for c in names}

    # every stylizer trained on one scenario's training images of its class, nothing else
    lists = {(c, tuple(sorted(sp.train[c]))) for sp in splits.values() for c in names}
    stylizers = list((tmp_path / "study/artifacts/stylizers/folder:my photos").glob("*/*.ckpt"))
    assert stylizers
    for path in stylizers:
        meta = load_stylizer(path)[1]
        assert (meta["class"], tuple(sorted(meta["train_list"]))) in lists
    # every stylized image's source is a training image of its class in some scenario
    manifest = read_jsonl(tmp_path / "study/data/augmented/folder:my photos/johnson/manifest.jsonl")
    train = {(c, p) for sp in splits.values() for c in names for p in sp.train[c]}
    assert manifest and all((m["class"], m["source"]) in train for m in manifest)

    results = tmp_path / "study/results"
    md = (results / "report.md").read_text()
    assert "folder:my photos" in md and "Places365" not in md  # never beside the paper's numbers
    assert "places365" not in (results / "report.csv").read_text()
    for name in ("report.html", "report.png", "per_class.png", "confusion_fewshot_k4.png"):
        assert (results / name).is_file()
    assert "missing image" not in (results / "report.html").read_text()  # spaces in paths
    assert "imbalanced_r0.25" in table and minority in table
