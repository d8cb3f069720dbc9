"""The numbers behind the tables: classification metrics (scikit-learn) and statistics over seeds.

The paper reports single runs on 400 test images, where a 2-point gap is 8 images. Here every
scenario gets a mean and a t-interval over seeds, the paired (same seed, same test set) difference
between arms with its interval, and McNemar's test on the per-image predictions of each seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

EXACT_BELOW = 25  # discordant pairs below this: exact binomial McNemar; else chi-square (corrected)


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
