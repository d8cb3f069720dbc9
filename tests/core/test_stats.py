"""stats: McNemar's continuity correction and the paired test-image bootstrap on hand-made data."""

import numpy as np
import pytest

from stylaug.core.stats import mcnemar, paired_bootstrap


def test_mcnemar_continuity_correction_never_goes_below_zero():
    # b = c = 20: no evidence either way. (|b - c| - 1)^2 would be 1, not 0, and give p < 1.
    a = [True] * 20 + [False] * 20 + [True] * 10
    b = [False] * 20 + [True] * 20 + [True] * 10
    r = mcnemar(a, b)
    assert (r["b"], r["c"], r["method"]) == (20, 20, "chi2-cc")
    assert r["p"] == 1.0
    # |b - c| = 1 (b = 13, c = 12): the corrected statistic is 0 as well
    r = mcnemar([True] * 13 + [False] * 12, [False] * 13 + [True] * 12)
    assert r["method"] == "chi2-cc" and r["p"] == 1.0
    # |b - c| = 2 (b = 14, c = 12): (2 - 1)^2 / 26
    r = mcnemar([True] * 14 + [False] * 12, [False] * 14 + [True] * 12)
    assert r["p"] == pytest.approx(0.8445, abs=1e-4)


def naive_bootstrap(base, arm, resamples, confidence, seed):
    """The statistic as the report defines it, one resample and one seed at a time."""
    base, arm = np.asarray(base, bool), np.asarray(arm, bool)
    idx = np.random.default_rng(seed).integers(0, base.shape[1], size=(resamples, base.shape[1]))
    stats = [
        np.mean([arm[s, i].mean() - base[s, i].mean() for s in range(base.shape[0])]) for i in idx
    ]
    return np.quantile(stats, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_bootstrap_of_identical_predictions_is_zero():
    rng = np.random.default_rng(1)
    ok = rng.random((3, 50)) < 0.7
    r = paired_bootstrap(ok, ok, resamples=500)
    assert (r["estimate"], r["lo"], r["hi"]) == (0.0, 0.0, 0.0)
    assert (r["seeds"], r["images"], r["resamples"]) == (3, 50, 500)


def test_bootstrap_is_the_mean_over_seeds_of_the_difference_on_shared_resamples():
    rng = np.random.default_rng(2)
    base = rng.random((4, 60)) < 0.6
    arm = rng.random((4, 60)) < 0.75
    r = paired_bootstrap(base, arm, resamples=300, confidence=0.9, seed=7)
    assert r["estimate"] == pytest.approx((arm.mean(axis=1) - base.mean(axis=1)).mean())
    lo, hi = naive_bootstrap(base, arm, 300, 0.9, 7)
    assert (r["lo"], r["hi"]) == (pytest.approx(lo), pytest.approx(hi))


def test_bootstrap_of_a_known_shift():
    # the arm fixes 80 of 400 images in every seed and breaks none: +0.2, with the binomial
    # standard error sqrt(0.2 * 0.8 / 400) = 0.02, so the 95% interval is about 0.2 +- 0.039
    base = np.zeros((3, 400), bool)
    arm = base.copy()
    arm[:, :80] = True
    r = paired_bootstrap(base, arm, resamples=4000, seed=3)
    assert r["estimate"] == pytest.approx(0.2)
    assert r["lo"] == pytest.approx(0.2 - 1.96 * 0.02, abs=0.008)
    assert r["hi"] == pytest.approx(0.2 + 1.96 * 0.02, abs=0.008)


def test_bootstrap_is_reproducible_for_a_seed_and_wider_with_fewer_images():
    rng = np.random.default_rng(4)
    base = rng.random((3, 400)) < 0.8
    arm = base ^ (rng.random((3, 400)) < 0.1)
    a = paired_bootstrap(base, arm, seed=5)
    assert paired_bootstrap(base, arm, seed=5) == a
    assert paired_bootstrap(base, arm, seed=6) != a
    few = paired_bootstrap(base[:, :40], arm[:, :40], seed=5)
    assert few["hi"] - few["lo"] > 2 * (a["hi"] - a["lo"])  # ~ sqrt(10) wider


def test_bootstrap_large_test_sets_are_drawn_in_chunks(monkeypatch):
    # the index matrix is bounded in memory; drawn in chunks, the interval is the same up to noise
    rng = np.random.default_rng(8)
    base, arm = rng.random((2, 30)) < 0.5, rng.random((2, 30)) < 0.5
    whole = paired_bootstrap(base, arm, resamples=200, seed=1)
    monkeypatch.setattr("stylaug.core.stats.BOOTSTRAP_CHUNK", 30 * 7)  # 7 resamples per draw
    chunked = paired_bootstrap(base, arm, resamples=200, seed=1)
    assert chunked["lo"] == pytest.approx(whole["lo"], abs=0.1)
    assert chunked["hi"] == pytest.approx(whole["hi"], abs=0.1)


def test_bootstrap_rejects_unpaired_or_empty_input():
    with pytest.raises(ValueError, match="same test"):
        paired_bootstrap(np.ones((2, 5)), np.ones((2, 6)))
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap(np.ones((1, 0)), np.ones((1, 0)))
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap(np.ones((1, 5)), np.ones((1, 5)), resamples=0)
