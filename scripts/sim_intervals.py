"""How often each interval for a paired difference between two arms excludes 0, in simulated studies.

    python scripts/sim_intervals.py                      # 3 seeds, 400 test images, 1000 studies
    python scripts/sim_intervals.py --seeds 2 --images 50

Studies come from stats.simulate_correctness (base accuracy 85%, per-seed effect sd 1 point,
correlated correctness between arms, arms' own affinities for test images). At a true effect of 0
the exclusion rate is the false-positive rate (95% intervals: 5% is honest); at the alternative it
is the power. Compared: the headline (stats.paired_effect), the seed t-interval, the image-only
bootstrap (stats.paired_bootstrap), Satterthwaite's single t on the same variance components
(the mixed model's usual interval), the two-level percentile bootstraps (seeds, then images
nested within each seed or crossed: one image draw shared by all seeds), and McNemar pooled over
seeds (counts summed) or "any seed p < 0.05".
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylaug.core.stats import (  # noqa: E402
    mcnemar,
    paired_bootstrap,
    paired_difference,
    paired_effect,
    simulate_correctness,
    variance_components,
)


def satterthwaite(diff: np.ndarray) -> tuple[float, float]:
    """t-interval of the grand mean with (MS_seed + MS_image - MS_res) / (S n), Satterthwaite df."""
    seeds, images = diff.shape
    vc = variance_components(diff)
    ms, dfs = vc["ms"], vc["df"]
    terms = [(ms["seed"], dfs["seed"])]
    if ms["image"] > ms["residual"]:
        terms += [(ms["image"], dfs["image"]), (-ms["residual"], dfs["residual"])]
    total = sum(m for m, _ in terms)
    if total <= 0:
        return vc["mean"], vc["mean"]
    df = total**2 / sum(m**2 / d for m, d in terms)
    half = st.t.ppf(0.975, df) * math.sqrt(total / (seeds * images))
    return vc["mean"] - half, vc["mean"] + half


def nested_bootstrap(diff, resamples, rng) -> tuple[float, float]:
    """Percentile interval: draw seeds, then each drawn seed draws its own test images."""
    seeds, images = diff.shape
    s = rng.integers(0, seeds, size=(resamples, seeds, 1))
    i = rng.integers(0, images, size=(resamples, seeds, images))
    return tuple(np.quantile(diff[s, i].mean(axis=(1, 2)), [0.025, 0.975]))


def crossed_bootstrap(diff, resamples, rng) -> tuple[float, float]:
    """Percentile interval: draw seeds and one set of test images that every drawn seed uses."""
    seeds, images = diff.shape
    s = rng.integers(0, seeds, size=(resamples, seeds))
    i = rng.integers(0, images, size=(resamples, images))
    per_seed = diff[:, i].mean(axis=2)  # (seeds, resamples): each seed on each image draw
    return tuple(
        np.quantile(per_seed[s, np.arange(resamples)[:, None]].mean(axis=1), [0.025, 0.975])
    )


def methods(a: np.ndarray, b: np.ndarray, resamples: int, rng) -> dict[str, bool]:
    """Whether each method rejects 'no difference' (its 95% interval excludes 0) in one study."""
    diff = b.astype(float) - a.astype(float)
    head = paired_effect(a, b)
    seed_t = paired_difference(a.mean(axis=1), b.mean(axis=1))
    image = paired_bootstrap(a, b, resamples=resamples, seed=int(rng.integers(1 << 31)))
    pooled = mcnemar(a.ravel(), b.ravel())["p"]
    per_seed = [mcnemar(x, y)["p"] for x, y in zip(a, b, strict=True)]
    intervals = {
        "headline (paired_effect)": (head["lo"], head["hi"]),
        "seed t-interval": (seed_t["lo"], seed_t["hi"]),
        "image-only bootstrap": (image["lo"], image["hi"]),
        "Satterthwaite single t": satterthwaite(diff),
        "two-level bootstrap, nested": nested_bootstrap(diff, resamples, rng),
        "two-level bootstrap, crossed": crossed_bootstrap(diff, resamples, rng),
    }
    out = {k: bool(lo > 0 or hi < 0) for k, (lo, hi) in intervals.items()}
    out["headline p < 0.05"] = head["p"] < 0.05
    out["McNemar pooled over seeds"] = pooled < 0.05
    out["McNemar any seed < 0.05"] = min(per_seed) < 0.05
    return out, {k: hi - lo for k, (lo, hi) in intervals.items()}


def run(args, effect: float) -> tuple[dict, dict, float]:
    rng = np.random.default_rng(args.seed)
    a, b = simulate_correctness(
        rng,
        args.studies,
        args.seeds,
        args.images,
        effect,
        seed_sd=args.seed_sd,
        difficulty=args.difficulty,
        arm_image=args.arm_image,
        shared_noise=args.shared_noise,
    )
    rejects, widths = [], []
    for k in range(args.studies):
        r, w = methods(a[k], b[k], args.resamples, rng)
        rejects.append(r)
        widths.append(w)
    rate = {m: float(np.mean([r[m] for r in rejects])) for m in rejects[0]}
    width = {m: float(np.mean([w[m] for w in widths])) for m in widths[0]}
    return rate, width, float((a != b).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--studies", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--seed-sd", type=float, default=0.01, help="per-seed sd of the effect (0-1)")
    p.add_argument("--difficulty", type=float, default=0.85, help="image difficulty's share")
    p.add_argument("--arm-image", type=float, default=0.01, help="arm-image affinity's share")
    p.add_argument("--shared-noise", type=float, default=0.95, help="noise shared by the arms")
    p.add_argument("--effect", type=float, default=0.02, help="the alternative for power (0-1)")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    null, width, disagree = run(args, 0.0)
    alt, _, _ = run(args, args.effect)
    se = math.sqrt(0.05 * 0.95 / args.studies)
    print(
        f"{args.studies} studies, {args.seeds} seeds, {args.images} test images, per-seed effect "
        f"sd {100 * args.seed_sd:g} points, difficulty {args.difficulty}, arm-image "
        f"{args.arm_image}, shared noise {args.shared_noise}; the arms disagree on "
        f"{100 * disagree:.1f}% of images per seed; 95% intervals (a 5% rate has sd {100 * se:.1f})"
    )
    print(
        f"{'method':34s} {'excl. 0 at 0':>13s} {f'power at +{100 * args.effect:g}':>13s} {'width':>8s}"
    )
    for m in null:
        w = f"{100 * width[m]:.2f}" if m in width else ""
        print(f"{m:34s} {100 * null[m]:12.1f}% {100 * alt[m]:12.1f}% {w:>8s}")
    print(f"({time.perf_counter() - t0:.0f} s; width: mean interval width in points at effect 0)")
    a, b = simulate_correctness(np.random.default_rng(0), 1, 10, 5000, 0.01)
    t0 = time.perf_counter()
    for _ in range(100):
        paired_effect(a[0], b[0])
    print(
        f"paired_effect, 100 comparisons of 10 seeds x 5000 images: {time.perf_counter() - t0:.2f} s"
    )


if __name__ == "__main__":
    main()
