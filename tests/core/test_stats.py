"""stats: McNemar's continuity correction, the paired test-image bootstrap and the headline
paired difference over seeds and test images, on hand-made and simulated data."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from stylaug.core.stats import (
    class_paired_effect,
    compare_with_reference,
    holm,
    mcnemar,
    paired_bootstrap,
    paired_difference,
    paired_effect,
    simulate_correctness,
    variance_components,
)


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


# --- the headline paired difference over seeds and test images ---------------------------------


def exclusion_rate(studies_a, studies_b, interval) -> float:
    """Share of simulated studies whose interval excludes 0."""
    ivs = [interval(a, b) for a, b in zip(studies_a, studies_b, strict=True)]
    return float(np.mean([lo > 0 or hi < 0 for lo, hi in ivs]))


def headline(a, b):
    r = paired_effect(a, b)
    return r["lo"], r["hi"]


def image_only(a, b):
    r = paired_bootstrap(a, b, resamples=300, seed=0)
    return r["lo"], r["hi"]


def test_headline_is_honest_with_three_seeds_where_the_image_bootstrap_is_not():
    # issue 20: true effect 0, 3 seeds, 400 test images, per-seed effect sd 1 point, 85% accuracy,
    # arms that agree on ~96% of images. At most 8% of 95% intervals may exclude 0.
    a, b = simulate_correctness(np.random.default_rng(20), 400, 3, 400, effect=0.0, seed_sd=0.01)
    assert 0.83 < a.mean() < 0.87 and 0.02 < (a != b).mean() < 0.06
    assert exclusion_rate(a, b, headline) <= 0.08
    assert exclusion_rate(a, b, image_only) > 0.12  # the old column: test-set noise only


def loosely_correlated(seed, seeds, images, seed_sd=0.01):
    """Arms that disagree on ~15% of images, with their own image affinities shared by all seeds."""
    rng = np.random.default_rng(seed)
    return simulate_correctness(
        rng, 400, seeds, images, 0.0, seed_sd, difficulty=0.5, arm_image=0.2, shared_noise=0.5
    )


def seed_t(a, b):
    r = paired_difference(a.mean(axis=1), b.mean(axis=1))
    return r["lo"], r["hi"]


def test_headline_is_honest_with_two_seeds():
    # per-seed sd 2 points, where Satterthwaite's single t (lmerTest's) excludes 0 in ~10%
    a, b = loosely_correlated(21, seeds=2, images=400, seed_sd=0.02)
    assert exclusion_rate(a, b, headline) <= 0.08


def test_headline_sees_the_shared_images_the_seed_t_interval_misses():
    # 10 seeds, 50 test images: an image that favours an arm does so in every seed, which the
    # spread of the seeds cannot show
    a, b = loosely_correlated(22, seeds=10, images=50)
    assert exclusion_rate(a, b, headline) <= 0.08
    assert exclusion_rate(a, b, seed_t) > 0.12


def test_headline_covers_a_real_effect():
    # true effect +2 points: the interval covers it (95%) and excludes 0 more often than at 0
    a, b = simulate_correctness(np.random.default_rng(22), 400, 5, 400, effect=0.02)
    res = [paired_effect(x, y) for x, y in zip(a, b, strict=True)]
    assert np.mean([r["lo"] <= 0.02 <= r["hi"] for r in res]) >= 0.92
    assert np.mean([r["lo"] > 0 for r in res]) > 0.2


def test_headline_p_value_matches_its_interval():
    a, b = simulate_correctness(np.random.default_rng(23), 200, 3, 100, effect=0.03)
    for x, y in zip(a, b, strict=True):
        for confidence in (0.9, 0.95):
            r = paired_effect(x, y, confidence)
            assert (r["p"] < 1 - confidence) == (r["lo"] > 0 or r["hi"] < 0)
    # at the interval's own level the p-value is where the interval just touches 0
    r = paired_effect(a[0], b[0], confidence=1 - paired_effect(a[0], b[0])["p"])
    assert min(abs(r["lo"]), abs(r["hi"])) == pytest.approx(0, abs=1e-9)


def test_headline_is_the_seed_t_interval_when_images_add_nothing():
    # the arm fixes 20, 8 and 12 of 40 images in seeds 0, 1, 2, each image in exactly one seed:
    # every image's mean over seeds is the same, so only the seeds vary
    base = np.zeros((3, 40), bool)
    arm = base.copy()
    arm[0, :20], arm[1, 20:28], arm[2, 28:] = True, True, True
    r = paired_effect(base, arm)
    t = paired_difference(base.mean(axis=1), arm.mean(axis=1))
    assert r["image_var"] == 0
    assert (r["estimate"], r["lo"], r["hi"]) == (
        pytest.approx(t["mean"]),
        pytest.approx(t["lo"]),
        pytest.approx(t["hi"]),
    )


def test_headline_sees_images_favoured_in_every_seed():
    # the arm fixes the same 80 of 400 images in every seed: the seeds agree exactly (the seed
    # t-interval has zero width) but another test set could show another gain; binomial se 0.02
    base = np.zeros((3, 400), bool)
    arm = base.copy()
    arm[:, :80] = True
    r = paired_effect(base, arm)
    assert r["estimate"] == pytest.approx(0.2)
    assert r["seed_var"] == 0
    half = 1.966 * np.sqrt(0.2 * 0.8 / 399)  # t(399) quantile, sample variance
    assert (r["lo"], r["hi"]) == (
        pytest.approx(0.2 - half, abs=1e-4),
        pytest.approx(0.2 + half, abs=1e-4),
    )
    assert r["p"] < 1e-10


def test_variance_components_match_statsmodels_crossed_mixed_model():
    # balanced crossed design: the ANOVA estimates are REML's (statsmodels MixedLM, crossed
    # random effects as variance components of one group)
    rng = np.random.default_rng(5)
    seeds, images = 4, 30
    d = (
        0.3
        + 0.5 * rng.standard_normal((seeds, 1))
        + 0.8 * rng.standard_normal((1, images))
        + rng.standard_normal((seeds, images))
    )
    vc = variance_components(d)
    df = pd.DataFrame(
        {
            "d": d.ravel(),
            "seed": np.repeat(np.arange(seeds), images),
            "image": np.tile(np.arange(images), seeds),
            "one": 1,
        }
    )
    fit = smf.mixedlm(
        "d ~ 1",
        df,
        groups="one",
        re_formula="0",
        vc_formula={"seed": "0 + C(seed)", "image": "0 + C(image)"},
    ).fit(reml=True)
    comps = dict(zip(fit.model.exog_vc.names, fit.vcomp, strict=True))
    assert vc["mean"] == pytest.approx(fit.fe_params.iloc[0])
    assert vc["seed"] == pytest.approx(comps["seed"], rel=1e-3)
    assert vc["image"] == pytest.approx(comps["image"], rel=1e-3)
    assert vc["residual"] == pytest.approx(fit.scale, rel=1e-3)
    # the grand mean's variance: seed/S + image/n + residual/(S n), statsmodels' squared se
    var = vc["seed"] / seeds + vc["image"] / images + vc["residual"] / (seeds * images)
    assert var == pytest.approx(fit.bse_fe.iloc[0] ** 2, rel=1e-3)


def test_identical_arms_and_exact_differences():
    rng = np.random.default_rng(6)
    ok = rng.random((3, 50)) < 0.8
    r = paired_effect(ok, ok)
    assert (r["estimate"], r["lo"], r["hi"], r["p"]) == (0.0, 0.0, 0.0, 1.0)
    r = paired_effect(np.zeros((2, 5), bool), np.ones((2, 5), bool))  # right everywhere, no noise
    assert (r["estimate"], r["lo"], r["hi"], r["p"]) == (1.0, 1.0, 1.0, 0.0)


def test_headline_rejects_unpaired_or_single_seed_input():
    with pytest.raises(ValueError, match="same test images"):
        paired_effect(np.ones((2, 5)), np.ones((2, 6)))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_effect(np.ones((1, 5)), np.ones((1, 5)))
    with pytest.raises(ValueError, match="confidence"):
        paired_effect(np.ones((2, 5)), np.ones((2, 5)), confidence=95)


def test_class_paired_effect_is_the_headline_on_that_class_only():
    rng = np.random.default_rng(7)
    a, b = rng.random((3, 60)) < 0.8, rng.random((3, 60)) < 0.8
    targets = np.repeat([0, 1, 2], 20)
    b[:, targets == 2] = True  # only class 2 improves
    r = class_paired_effect(a, b, targets, 2)
    assert r == paired_effect(a[:, 40:], b[:, 40:])
    assert r["images"] == 20
    assert r["estimate"] == pytest.approx(1 - a[:, 40:].mean())
    with pytest.raises(ValueError, match="class 5 has 0 test images"):
        class_paired_effect(a, b, targets, 5)
    with pytest.raises(ValueError, match="one class index per test image"):
        class_paired_effect(a, b, targets[:10], 2)


def test_holm_adjusts_a_family_in_its_order():
    # step-down: sorted 0.01, 0.02, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 1 * 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
    with pytest.raises(ValueError, match="without NaN"):
        holm([0.1, float("nan")])


def test_compare_with_reference_holm_over_the_family():
    a, b = simulate_correctness(np.random.default_rng(8), 3, 3, 200, effect=0.05)
    ref = a[0]
    arms = {"style": b[0], "same": a[0], "other": b[1]}
    out = compare_with_reference(ref, arms)
    assert list(out) == ["style", "same", "other"]
    raw = [out[k]["p"] for k in arms]
    assert raw[1] == 1.0
    assert [out[k]["p_holm"] for k in arms] == pytest.approx(holm(raw))
    assert all(out[k]["p_holm"] >= out[k]["p"] for k in arms)
    assert out["style"]["estimate"] == pytest.approx(paired_effect(ref, b[0])["estimate"])
