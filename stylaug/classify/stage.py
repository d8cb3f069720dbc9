"""``python -m stylaug.classify scenario=biased_case1``: the paper's classifier, one row per arm.

A frozen backbone in eval mode (ResNet-18, the paper's; or EfficientNet-Lite0) with a new linear
layer, trained with the reference code's defaults (Adam 1e-3, weight decay 1e-3, 25 epochs, batch
50, Resize 224 + the network's normalisation); the epoch with the best validation accuracy is
tested. The arms (``classifier.arms``) are described in ``stylaug.classify.arms``.

Because the backbone is a fixed function, the head trains on cached features
(``stylaug.classify.features``): after the first pass a run is a plain PyTorch loop over a tensor
(``stylaug.classify.linear_head.fit_on_features``; Lightning's result, ~3x faster). Runs
that make the backbone's output vary - traditional arms with ``classifier.aug_views=0`` (a fresh
random transform every epoch), ``model.backbone.bn_train_mode=true`` (the reference code's quirk),
or ``classifier.feature_cache=false`` - push images through the backbone every epoch instead.
Traditional arms with ``aug_views=K`` cache K fixed random views per image and cycle through them.
What happens inside one arm (its sets, training and test) is ``stylaug.classify.arm_training``; this module
decides which arms run and writes their rows.

Each arm appends one row to ``results/results.jsonl`` (with per-test-image predictions for the
report's paired tests); an arm whose row (same ``config_hash``) exists is skipped unless
``classifier.force=true``.

Beyond clean accuracy: with ``classifier.robustness`` each head is also tested on the test split
under ImageNet-C's corruptions (``stylaug.classify.corrupted_test_sets``; the ``none`` arm runs first, since the other
arms' corruption errors are relative to it); ``classifier.quality_filter`` leaves a style arm's
low-content-score images out (``stylaug.classify.quality_filter``); and with an ImageNet-pretrained backbone,
style rows record whether an ImageNet classifier still sees each stylized image as its source
(``stylaug.classify.imagenet_agreement``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from stylaug.artifacts.training_lists import LEAK_NOTE
from stylaug.classify.arm_training import ArmJob, run_arm
from stylaug.classify.arms import (
    RANDOM_DROP,
    UNSTYLIZED,
    StyleSet,
    arm_specs,
    style_set,
    traditional_part,
    unstylized_set,
)
from stylaug.classify.corrupted_test_sets import (
    BASELINE_ARM,
    CorruptedTestSet,
    add_relative_errors,
    find_baseline,
    robustness_spec,
    write_samples,
)
from stylaug.classify.features import ScenarioFeatures, load_backbone
from stylaug.classify.finetune import (
    FINETUNE,
    MODE_KEYS,
    ONLINE_NOTE,
    check_mode,
    mode_payload,
    online_payload,
    run_finetune_arm,
    uses_images,
)
from stylaug.classify.imagenet_agreement import agreement, imagenet_head
from stylaug.classify.quality_filter import (
    check_filters,
    filtered_style,
    manifest_entries,
    random_drop,
)
from stylaug.core.identity import RESULT_FREE_KEYS, digest, node_settings
from stylaug.core.io import append_jsonl, read_jsonl
from stylaug.core.runtime import finish_logger, make_logger, run_dir
from stylaug.core.settings_check import check_settings
from stylaug.data.images import check_on_bad_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.scenarios import ScenarioSplit, sample_scenario
from stylaug.data.visual import data_notes, log_notes
from stylaug.models.weights import PRETRAINED_NOTE, PretrainedWeightsMissing

log = logging.getLogger(__name__)

# classifier.* keys that cannot change a result (everything else is part of its identity)


# --- identity of a result -------------------------------------------------------------------------


def index_digest(index: DatasetIndex) -> str:
    """What the dataset holds: its classes and every file of every split (a re-indexed copy with
    other files is another dataset, whatever its config says)."""
    return digest([index.name, index.classes, index.files])


def setup_payload(cfg: DictConfig, index: DatasetIndex) -> dict:
    """Everything that makes two runs comparable, except seed and arm: the dataset's contents and
    the whole dataset, scenario, classifier and backbone nodes minus keys that cannot change a
    result."""
    return {
        "index": index_digest(index),
        "dataset": node_settings(cfg.dataset, ("dir", "source")),
        "scenario": node_settings(cfg.scenario),
        "classifier": node_settings(cfg.classifier, RESULT_FREE_KEYS["classifier"] + MODE_KEYS),
        "backbone": node_settings(cfg.model.backbone),
        "precision": str(cfg.trainer.precision),
        **mode_payload(cfg.classifier),
    }


def config_hash(cfg: DictConfig, index: DatasetIndex, arm: str, style: StyleSet | None) -> str:
    payload = {**setup_payload(cfg, index), "seed": int(cfg.seed), "arm": arm}
    if style is not None:
        payload["style"] = style.fingerprint
    if traditional_part(arm):
        payload["aug_views"] = int(cfg.classifier.aug_views)
    if online := online_payload(cfg.classifier, arm):
        payload["online"] = online
    spec = robustness_spec(cfg.classifier)
    if spec is not None:  # a row made without these corrupted test sets lacks their numbers
        payload["robustness"] = spec.key
    return digest(payload)


# --- the stage ------------------------------------------------------------------------------------


def pending_arms(cfg: DictConfig, arms: list[str], hashes: dict, split: ScenarioSplit) -> list[str]:
    """The arms without a result row (all with ``classifier.force=true``)."""
    done = {r.get("config_hash") for r in read_jsonl(cfg.classifier.results_file)}
    todo = [a for a in arms if cfg.classifier.force or hashes[a] not in done]
    for a in (a for a in arms if a not in todo):
        log.info(
            "skip %s/%s seed %s: result %s exists (classifier.force=true reruns)",
            split.scenario, a, cfg.seed, hashes[a],
        )  # fmt: skip
    return todo


def classify(cfg: DictConfig) -> list[dict]:
    """Run every configured arm of one (scenario, seed); append and return the new result rows."""
    check_settings(cfg)  # every numeric setting in range, before any work
    check_on_bad_image(cfg.data.on_bad_image)
    c = cfg.classifier
    check_filters(c)
    if int(c.aug_views) < 0 or int(c.epochs) < 1 or int(c.batch_size) < 1:
        raise ValueError("classifier.epochs and batch_size must be >= 1 and aug_views >= 0")
    index = load_index(cfg.dataset)
    split = sample_scenario(index, cfg.scenario, int(cfg.seed))
    specs = arm_specs(cfg, split.minority)  # the drawn split says whether there is a minority
    arms = list(specs)
    styles, filters = added_images(cfg, index, split, specs)
    hashes = {a: config_hash(cfg, index, a, styles.get(a)) for a in arms}
    todo = pending_arms(cfg, arms, hashes, split)
    if not todo:
        return []
    if robustness_spec(c) is not None and cfg.model.backbone.bn_train_mode:
        raise ValueError(
            "classifier.robustness needs the frozen eval-mode backbone; with "
            "model.backbone.bn_train_mode=true each arm moves its own batch-norm statistics. "
            "Turn one of them off (classifier.robustness.corruptions=[])."
        )
    todo.sort(key=lambda a: a != BASELINE_ARM)  # none first: the others' errors are relative to it
    mode = check_mode(c)
    if mode == FINETUNE and (robustness_spec(c) is not None or cfg.model.backbone.bn_train_mode):
        raise ValueError(
            "classifier.mode=finetune trains the backbone, so the corrupted test sets' cached "
            "features and the batch-norm quirk do not apply: set classifier.robustness."
            "corruptions=[] and model.backbone.bn_train_mode=false"
        )
    image_mode = not c.feature_cache or bool(cfg.model.backbone.bn_train_mode) or mode == FINETUNE
    backbone, weights = load_backbone(cfg.model.backbone)
    job = ArmJob(
        cfg, index, split, ScenarioFeatures(cfg, backbone, weights, not image_mode), image_mode
    )
    notes = data_notes(index.name, weights)
    if weights.startswith("efficientnet_lite0:imagenet"):
        notes.append(PRETRAINED_NOTE)
    log_notes(log, notes, logging.WARNING)
    name = f"classify-{split.scenario}-seed{cfg.seed}"
    logger = make_logger(cfg, name=name, group=f"classify-{index.name}", job_type="classify")
    rows = []
    try:
        start = time.perf_counter()
        if not image_mode:  # one backbone pass over every cache miss of every arm
            paths = [
                p for part in (split.train, split.val, split.test) for p, _ in job.labelled(part)
            ]
            added = [(p, v) for a in todo if a in styles for p, v in added_views(styles[a])]
            job.features.load(paths + [p for p, v in added if v == 0])
            job.features.load([p for p, v in added if v == 1], mirrored=True)
        prepare_extras(job, any(a in styles and styles[a].folder for a in todo))
        feature_s = time.perf_counter() - start
        for arm in todo:
            t0 = time.perf_counter()
            if uses_images(c, arm):  # fine-tuning, or an online arm (stylaug.classify.finetune)
                result = run_finetune_arm(job, arm, styles.get(arm), logger, hashes[arm])
                if not result:  # a non-zero rank of a multi-device fit: rank 0 writes the row
                    continue
            else:
                result = run_arm(job, arm, styles.get(arm), logger)
            result.update(extras(job, arm, styles.get(arm), filters.get(arm)))
            row = result_row(job, arm, styles.get(arm), hashes[arm], notes, result)
            row["control"], row["controls"] = specs[arm].control, specs[arm].controls
            add_baseline_errors(job, row, rows)
            row["mode"] = mode
            if mode != FINETUNE and uses_images(c, arm):
                row["notes"].append(ONLINE_NOTE)
            row["feature_cache"] = {
                "used": not image_mode and not uses_images(c, arm),
                **job.features.stats,
                "feature_s": round(feature_s, 3),
            }
            row["elapsed_s"] = round(time.perf_counter() - t0, 3)
            append_jsonl(c.results_file, row)
            rows.append(row)
            report_row(job, row, logger)
    finally:
        finish_logger(logger)
    return rows


def added_images(cfg: DictConfig, index, split: ScenarioSplit, specs: dict) -> tuple[dict, dict]:
    """Per arm that adds images: its ``StyleSet`` (style arms, their controls) and its quality
    filter's report. A random-drop control drops as many images per class as its arm's filter."""
    styles, filters = {}, {}
    for arm, spec in specs.items():
        if spec.control == UNSTYLIZED:
            styles[arm] = unstylized_set(index, split)
        elif spec.control == RANDOM_DROP:
            style = style_set(cfg, index, split, spec.controls, spec.folder)
            styles[arm], filters[arm] = random_drop(style, filters[spec.controls], cfg.seed, arm)
        elif spec.folder is not None:
            style = style_set(cfg, index, split, arm, spec.folder)
            styles[arm], filters[arm] = filtered_style(cfg, arm, style)
    return styles, filters


def added_views(style: StyleSet) -> list[tuple[Path, int]]:
    """(file, view) of each image an arm adds (stylized images and unmirrored sources: view 0)."""
    views = style.views or [0] * len(style.items)
    return [(p, int(v)) for (p, _), v in zip(style.items, views, strict=True)]


def prepare_extras(job: ArmJob, style_arms: bool) -> None:
    """The corrupted test sets (classifier.robustness) and, for style arms, the ImageNet classifier
    that checks whether stylized images still look like their sources."""
    spec = robustness_spec(job.cfg.classifier)
    if spec is not None:
        test = job.labelled(job.split.test)
        job.robustness = CorruptedTestSet(job.features, test, spec, job.classes)
        log.info(
            "robustness: %d corrupted test sets (%s; severities %s): %d features from the cache, "
            "%d computed, %.1f s",
            len(spec.conditions), ", ".join(spec.corruptions), list(spec.severities),
            job.robustness.stats["hits"], job.robustness.stats["computed"], job.robustness.seconds,
        )  # fmt: skip
        grid = samples_path(job.cfg, job.index.name, spec.key)
        if test and not grid.exists():
            write_samples(grid, test[0][0], spec, job.index.name)
    if style_arms and job.cfg.model.backbone.weights == "imagenet":
        try:
            job.imagenet = imagenet_head(job.cfg.model.backbone.arch)
        except PretrainedWeightsMissing as err:  # the backbone loaded, so this is unexpected
            log.warning("no ImageNet classifier for the stylized-image agreement: %s", err)


def samples_path(cfg: DictConfig, dataset: str, spec_key: str) -> Path:
    """Where the corrupted test image grid goes: beside the results, named by dataset and spec."""
    return Path(cfg.classifier.results_file).parent / f"corruptions_{dataset}_{spec_key[:8]}.png"


def extras(job: ArmJob, arm: str, style: StyleSet | None, filter_report) -> dict:
    """The row's quality-filter count, its stylized set's folder and ImageNet agreement."""
    out = {"quality_filter": filter_report}
    if style is not None and style.folder is not None:
        out["style_source"] = str(style.folder)
        if job.imagenet is not None and style.items:
            entries = manifest_entries(out["style_source"], style.items)
            out["imagenet_agreement"] = agreement(job, arm, style, entries, *job.imagenet)
    return out


def add_baseline_errors(job: ArmJob, row: dict, rows: list[dict]) -> None:
    """Fill the row's corruption errors relative to the ``none`` arm (this job's, or the newest
    matching row in results.jsonl)."""
    rob = row.get("robustness")
    if not rob:
        return
    if row["arm"] == BASELINE_ARM:
        add_relative_errors(rob, row, row)
        return
    key = (row["setup_hash"], row["scenario"], row["seed"], rob["spec_key"])
    base = find_baseline(rows, *key) or find_baseline(
        read_jsonl(job.cfg.classifier.results_file), *key
    )
    add_relative_errors(rob, row, base)


def result_row(
    job: ArmJob, arm: str, style: StyleSet | None, config_hash_: str, notes, result
) -> dict:
    """One results.jsonl row: what was run, on what, with which networks, and what came out."""
    return {
        "scenario": job.split.label or job.split.scenario,  # fewshot_k4, not just fewshot
        "arm": arm,
        "seed": int(job.cfg.seed),
        "dataset": job.index.name,
        "minority": list(job.split.minority),  # every minority class ([] if none)
        "weights": {
            "backbone": job.features.weights,
            "stylizers": style.stylizers if style else None,
        },
        "stylizer_pool": style.pool if style else None,
        "style_quality": style.quality if style else None,
        "style_family": style.family if style else None,
        "style_alpha": style.alpha if style else None,
        "style_compute": style.compute if style else None,
        "traditional": traditional_part(arm),
        "protocol": {  # what the report states where it departs from the paper's reference code
            "backbone_batch_norm": "train" if job.cfg.model.backbone.bn_train_mode else "eval",
            "stylizer_pool": str(job.cfg.stylizer.pool),
            "epochs": int(job.cfg.classifier.epochs),
        },
        **result,
        "config_hash": config_hash_,
        "setup_hash": digest(setup_payload(job.cfg, job.index)),
        "notes": notes + ([LEAK_NOTE] if style and style.pool == "class" else []),
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def report_row(job: ArmJob, row: dict, logger) -> None:
    """The row's line in the log, its confusion matrix as PNG, and both in the experiment logger."""
    m, rob = row["metrics"], row.get("robustness")
    corrupted = ""
    if rob:
        mce = rob["mce"]
        sets = len(rob["corruptions"]) * len(rob["severities"])
        corrupted = (
            f"; corrupted ({sets} sets) acc {rob['mean_corruption_accuracy']:.4f}, mCE (none = 100) "
            + ("—" if mce is None else f"{100 * mce:.1f}")
        )
    log.info(
        "%s seed %s arm %-16s acc %.4f  bal %.4f  macro-F1 %.4f  (best epoch %d, val %.4f)%s",
        row["scenario"], row["seed"], row["arm"], m["accuracy"], m["balanced_accuracy"],
        m["macro_f1"], row["best_epoch"], row["val_accuracy"], corrupted,
    )  # fmt: skip
    png = _confusion_png(
        np.array(m["confusion"]),
        job.classes,
        f"{row['dataset']} {row['scenario']} seed {row['seed']} arm {row['arm']}",
        # one run folder can hold many (scenario, seed) jobs: the pipeline's does
        run_dir(job.cfg, "classify")
        / f"confusion_{row['scenario']}_seed{row['seed']}_{row['arm']}.png",
    )
    log_to_logger(logger, row, png)


def _confusion_png(cm, classes, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    from stylaug.core.io import atomic_path

    n = len(classes)  # sized to the classes; numbers in the cells while they fit
    fig, ax = plt.subplots(figsize=(max(4.2, 1.6 + 0.2 * n), max(3.8, 1.4 + 0.2 * n)))
    ConfusionMatrixDisplay(np.asarray(cm), display_labels=classes).plot(
        ax=ax, cmap="Blues", colorbar=n > 20, xticks_rotation=45 if n <= 12 else 90,
        include_values=n <= 20,
    )  # fmt: skip
    ax.tick_params(labelsize=7 if n <= 12 else 6)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def log_to_logger(logger, row: dict, png: Path) -> None:
    """A wandb Table of the metrics and the confusion-matrix image (wandb only)."""
    if not logger or type(logger).__name__ != "WandbLogger":
        return
    from PIL import Image

    m, arm = row["metrics"], row["arm"]
    columns = [
        "scenario",
        "arm",
        "seed",
        "dataset",
        "backbone",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        *[f"acc_{c}" for c in row["classes"]],
    ]
    data = [
        [
            row["scenario"],
            arm,
            row["seed"],
            row["dataset"],
            row["weights"]["backbone"],
            m["accuracy"],
            m["balanced_accuracy"],
            m["macro_f1"],
            *[m["per_class"][c] for c in row["classes"]],
        ]
    ]
    logger.log_table(key=f"{arm}/metrics", columns=columns, data=data)
    rob = row.get("robustness")
    if rob:
        logger.log_table(
            key=f"{arm}/robustness",
            columns=["corruption", "severity", "accuracy", *[f"acc_{c}" for c in row["classes"]]],
            data=[
                [name, int(s), a, *[rob["per_class"][name][s][c] for c in row["classes"]]]
                for name, by_sev in rob["accuracy"].items()
                for s, a in by_sev.items()
            ],
        )
    logger.log_image(key=f"{arm}/confusion", images=[Image.open(png)])
