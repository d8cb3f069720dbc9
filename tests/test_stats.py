"""stats: McNemar's continuity correction and the paired test-image bootstrap on hand-made data."""

import pytest

from stylaug.stats import mcnemar


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
