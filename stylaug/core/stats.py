"""The numbers behind the tables: classification metrics (scikit-learn) and statistics over seeds.

The paper reports single runs on 400 test images, where a 2-point gap is 8 images. Here every
scenario gets a mean and a t-interval over seeds, the paired (same seed, same test set) difference
between arms with its interval, McNemar's test on the per-image predictions of each seed, and a
paired bootstrap over the test images. Seeds vary the scenario draw and the head's initialisation
but never the test set, so only the bootstrap speaks to the test set's own sampling error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

EXACT_BELOW = 25  # discordant pairs below this: exact binomial McNemar; else chi-square (corrected)
BOOTSTRAP_CHUNK = 1 << 22  # resampled indices held at once (32 MiB): the 400-image case is one draw


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes) -> dict:
    """accuracy, balanced accuracy, macro-F1, per-class accuracy (recall) and the confusion matrix."""
    labels = list(range(len(classes)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    per_class = {
        c: (float(cm[i, i] / support[i]) if support[i] else None) for i, c in enumerate(classes)
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean, sample std and the t-distribution interval of the mean (None bounds for n < 2)."""
    x = np.asarray([v for v in values if v is not None], float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "lo": None, "hi": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "lo": None, "hi": None}
    std = float(x.std(ddof=1))
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "lo": mean - half, "hi": mean + half}


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """``b - a`` per pair (same seed), with the t-interval of its mean."""
    if len(a) != len(b):
        raise ValueError(f"paired difference needs equal lengths, got {len(a)} and {len(b)}")
    return mean_ci([y - x for x, y in zip(a, b, strict=True)], confidence)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """McNemar's test on paired per-image correctness of two classifiers on the same test set.

    b = images only A gets right, c = images only B gets right. Exact two-sided binomial test on
    the discordant pairs when b + c < 25, else the chi-square statistic with continuity correction,
    ``max(|b - c| - 1, 0)^2 / (b + c)``: the correction shrinks |b - c| towards 0, never past it, so
    b = c gives p = 1.
    """
    a = np.asarray(correct_a, bool)
    bb = np.asarray(correct_b, bool)
    if a.shape != bb.shape:
        raise ValueError(
            f"McNemar needs the same test images for both arms ({a.shape} vs {bb.shape})"
        )
    b = int((a & ~bb).sum())
    c = int((~a & bb).sum())
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "p": 1.0, "method": "exact"}
    if n < EXACT_BELOW:
        return {"b": b, "c": c, "p": float(st.binomtest(b, n, 0.5).pvalue), "method": "exact"}
    chi2 = max(abs(b - c) - 1, 0) ** 2 / n
    return {"b": b, "c": c, "p": float(st.chi2.sf(chi2, 1)), "method": "chi2-cc"}


def paired_bootstrap(
    correct_base,
    correct_arm,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Percentile interval of mean-over-seeds (acc_arm - acc_base) when the test images are resampled.

    ``correct_*`` are (seeds, images) booleans: row s holds seed s's per-image correctness of each
    arm on the same test images in the same order. Each resample draws one index vector of test
    images with replacement and applies it to both arms and every seed (paired), so the interval is
    the fixed test set's sampling error with the trained heads held fixed - what seed intervals
    cannot show. Accuracies are fractions (0-1); ``estimate`` is the statistic on the real test set.
    """
    base = np.atleast_2d(np.asarray(correct_base, bool))
    arm = np.atleast_2d(np.asarray(correct_arm, bool))
    if base.shape != arm.shape or base.ndim != 2:
        raise ValueError(
            "the paired bootstrap needs (seeds, images) correctness of both arms on the same test "
            f"images, got shapes {base.shape} and {arm.shape}"
        )
    seeds, n = base.shape
    if seeds == 0 or n == 0:
        raise ValueError(
            f"the paired bootstrap needs at least one seed and image, got {base.shape}"
        )
    if int(resamples) < 1:
        raise ValueError(f"resamples={resamples} must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1")
    # mean over seeds of (acc_arm - acc_base) on images idx = mean over idx of the per-image
    # mean-over-seeds difference: one (n,) vector, indexed by a (resamples, n) matrix.
    per_image = (arm.astype(np.int8) - base.astype(np.int8)).mean(axis=0)
    rng = np.random.default_rng(seed)
    draws = np.empty(int(resamples))
    rows = max(1, BOOTSTRAP_CHUNK // n)
    for start in range(0, len(draws), rows):
        k = min(rows, len(draws) - start)
        draws[start : start + k] = per_image[rng.integers(0, n, size=(k, n))].mean(axis=1)
    lo, hi = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "estimate": float(per_image.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "seeds": int(seeds),
        "images": int(n),
        "resamples": int(resamples),
    }
