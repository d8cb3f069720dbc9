"""The numbers behind the tables: classification metrics (scikit-learn) and statistics over seeds.

The paper reports single runs on 400 test images, where a 2-point gap is 8 images. Here every
scenario gets a mean and a t-interval over seeds, the paired (same seed, same test set) difference
between arms with its interval, McNemar's test on the per-image predictions of each seed, and a
paired bootstrap over the test images. Seeds vary the scenario draw and the head's initialisation
but never the test set, so only the bootstrap speaks to the test set's own sampling error.

The headline comparison of two arms (``paired_effect``) covers both: its interval and p-value
count the seeds' spread and the shared test images at once, and Holm's adjustment (``holm``,
``compare_with_reference``) covers the arms compared with one reference. It replaces McNemar per
seed as the test; the image-only bootstrap is a diagnostic of test-set noise only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import optimize
from scipy import stats as st
from scipy.special import stdtrit
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from statsmodels.stats.multitest import multipletests

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


# --- The headline: a paired difference whose interval covers seeds and test images ---------------


def _paired_rows(correct_a, correct_b, what: str) -> np.ndarray:
    """(seeds, images) per-image differences b - a, checked to be a paired, usable design."""
    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{what} needs (seeds, images) correctness of both arms on the same test images in the "
            f"same order, got shapes {a.shape} and {b.shape}"
        )
    seeds, images = a.shape
    if seeds < 2 or images < 2:
        raise ValueError(
            f"{what} needs at least 2 seeds and 2 test images, got {seeds} seeds x {images} images: "
            "with one seed the seed-to-seed variation is unknown (paired_bootstrap gives the "
            "test-set noise only)"
        )
    return b.astype(float) - a.astype(float)


def variance_components(diff) -> dict:
    """Mean squares of the crossed seeds x test-images layout of per-image differences.

    Model: ``diff[s, i] = mu + seed_s + image_i + residual_si``. The test images are the same in
    every seed, so an image that favours one arm does so in every seed: ``image_i`` is shared
    across seeds (crossed, not nested). Balanced two-way ANOVA without replication; ``seed``,
    ``image`` and ``residual`` are the components' variance estimates (REML's in this balanced
    design when none is truncated at 0).
    """
    d = np.asarray(diff, float)
    seeds, images = d.shape
    grand = d.mean()
    seed_means, image_means = d.mean(axis=1), d.mean(axis=0)
    ss_seed = images * float(((seed_means - grand) ** 2).sum())
    ss_image = seeds * float(((image_means - grand) ** 2).sum())
    ss_total = float(((d - grand) ** 2).sum())
    df_seed, df_image = seeds - 1, images - 1
    df_res = df_seed * df_image
    ms_seed, ms_image = ss_seed / df_seed, ss_image / df_image
    ms_res = max(ss_total - ss_seed - ss_image, 0.0) / df_res
    return {
        "mean": float(grand),
        "ms": {"seed": ms_seed, "image": ms_image, "residual": ms_res},
        "df": {"seed": df_seed, "image": df_image, "residual": df_res},
        "seed": max(ms_seed - ms_res, 0.0) / images,
        "image": max(ms_image - ms_res, 0.0) / seeds,
        "residual": ms_res,
    }


def paired_effect(correct_a, correct_b, confidence: float = 0.95) -> dict:
    """The headline: mean over seeds and test images of (acc_b - acc_a), its interval and p-value.

    ``correct_*`` are (seeds, images) booleans: row s is seed s's per-image correctness of arm a
    and arm b on the same test images in the same order, for the seeds both arms ran. Accuracies
    are fractions (0-1).

    The estimate's variance is the seed t-interval's, ``A = MS_seed / (seeds * images)`` (the
    effect's seed-to-seed variation plus each seed's own test-set noise), plus what the seeds
    share and so cannot show: the same test images favour one arm in every seed,
    ``B = max(MS_image - MS_residual, 0) / (seeds * images)`` (see ``variance_components``).
    ``A`` rests on seeds - 1 degrees of freedom, ``B`` on images - 1, so the half-width is
    Banerjee's ``sqrt(t(seeds-1)^2 A + t(images-1)^2 B)``: never below nominal coverage, exactly the
    seed t-interval when the images add nothing and the test-set interval when the seeds agree.
    Satterthwaite's single t (lmerTest's) and percentile bootstraps over 2-3 seeds are too narrow
    (scripts/sim_intervals.py).

    ``p`` inverts the same interval (the level at which it just touches 0), so
    ``p < 1 - confidence`` exactly when the interval excludes 0. It is the one test of the
    comparison; McNemar per seed conditions on each seed's trained heads and sees test-set noise
    only, and summing McNemar's counts over seeds treats the reused images as new ones.
    No resampling: time and memory are O(seeds x images), a 10 x 5000 comparison takes a
    millisecond.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1")
    diff = _paired_rows(correct_a, correct_b, "paired_effect")
    seeds, images = diff.shape
    vc = variance_components(diff)
    ms = vc["ms"]
    seed_var = ms["seed"] / (seeds * images)
    image_var = max(ms["image"] - ms["residual"], 0.0) / (seeds * images)

    def half_width(alpha: float) -> float:
        t = -stdtrit([seeds - 1, images - 1], alpha / 2)  # upper alpha/2 points
        sd = np.sqrt([seed_var, image_var])
        # a zero part adds 0 (not inf * 0 when alpha is tiny)
        return math.hypot(*(float(ti) * float(si) for ti, si in zip(t, sd, strict=True) if si > 0))

    estimate = vc["mean"]
    half = half_width(1 - confidence)
    if estimate == 0:
        p = 1.0
    elif half_width(1e-300) <= abs(estimate):  # also: no variance at all, the difference is exact
        p = 0.0
    else:  # solved in log(alpha), so that tiny p-values keep their relative precision
        log_p = optimize.brentq(lambda u: half_width(math.exp(u)) - abs(estimate), -690.0, 0.0)
        p = math.exp(log_p)
    return {
        "estimate": estimate,
        "lo": estimate - half,
        "hi": estimate + half,
        "p": p,
        "seed_var": seed_var,
        "image_var": image_var,
        "seeds": int(seeds),
        "images": int(images),
    }


def class_paired_effect(correct_a, correct_b, targets, cls: int, confidence: float = 0.95):
    """``paired_effect`` on the test images of one class (e.g. the minority class): its recall.

    ``targets`` is the (images,) true class index of each test image, the same in every seed.
    """
    y = np.asarray(targets)
    a, b = np.asarray(correct_a), np.asarray(correct_b)
    if y.ndim != 1 or a.shape[-1:] != y.shape:
        raise ValueError(
            f"targets must be one class index per test image ({a.shape[-1:]}), got shape {y.shape}"
        )
    keep = y == cls
    if keep.sum() < 2:
        raise ValueError(
            f"class {cls} has {int(keep.sum())} test images; its paired difference needs at least 2"
        )
    return paired_effect(a[:, keep], b[:, keep], confidence)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (statsmodels) of a family of p-values; keeps their order."""
    p = np.asarray(pvalues, float)
    if p.ndim != 1 or np.isnan(p).any():
        raise ValueError(f"holm needs a flat list of p-values without NaN, got {pvalues!r}")
    if len(p) == 0:
        return []
    return [float(x) for x in multipletests(p, method="holm")[1]]


def compare_with_reference(reference, arms: Mapping[str, object], confidence: float = 0.95):
    """``paired_effect(reference, arm)`` for every arm, with Holm's p over this family (``p_holm``).

    ``reference`` and each arm are (seeds, images) correctness on the same seeds and test images.
    The family is the arms given: pass every arm compared with this reference in the scenario.
    """
    out = {name: paired_effect(reference, arm, confidence) for name, arm in arms.items()}
    for r, p in zip(out.values(), holm([r["p"] for r in out.values()]), strict=True):
        r["p_holm"] = p
    return out


def simulate_correctness(
    rng: np.random.Generator,
    studies: int,
    seeds: int,
    images: int,
    effect: float,
    seed_sd: float = 0.01,
    accuracy: float = 0.85,
    difficulty: float = 0.85,
    arm_image: float = 0.01,
    shared_noise: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correctness of arms a and b in simulated studies: the null model the intervals
    are checked against (tests/test_stats.py, scripts/sim_intervals.py).

    Returns two (studies, seeds, images) boolean arrays. An image is right when a unit-variance
    latent score clears the arm's threshold for the seed. Each seed's expected accuracy is
    ``accuracy`` (+-``seed_sd`` shared by both arms) for a and that + ``effect`` (+-``seed_sd`` of
    its own) for b, so the effect's true value is ``effect`` with per-seed sd ``seed_sd``. The
    score's variance splits into the image's difficulty (``difficulty``, shared by both arms and
    all seeds), the arm's affinity for the image (``arm_image``, the same in every seed: a test
    set can favour one arm) and training noise (the rest; a ``shared_noise`` share of it common to
    both arms in a seed, which train on the same draw). The defaults make the arms disagree on
    about 3.5% of images per seed, and give the image-only bootstrap of 3 seeds x 600 images the
    sd the README demo's shows (about 0.5 points).
    """
    noise = 1.0 - difficulty - arm_image
    if noise <= 0 or not 0 <= shared_noise <= 1:
        raise ValueError(
            f"difficulty={difficulty} + arm_image={arm_image} must leave training noise (< 1) "
            f"and shared_noise={shared_noise} must be in [0, 1]"
        )
    acc_a = accuracy + seed_sd * rng.standard_normal((studies, seeds, 1))
    acc_b = acc_a + effect + seed_sd * rng.standard_normal((studies, seeds, 1))
    z = math.sqrt(difficulty) * rng.standard_normal((studies, 1, images))
    common = math.sqrt(noise * shared_noise) * rng.standard_normal((studies, seeds, images))

    def latent(acc):
        own_image = math.sqrt(arm_image) * rng.standard_normal((studies, 1, images))
        own_noise = math.sqrt(noise * (1 - shared_noise)) * rng.standard_normal(common.shape)
        return st.norm.ppf(np.clip(acc, 0.001, 0.999)) + z + own_image + common + own_noise

    return latent(acc_a) > 0, latent(acc_b) > 0
