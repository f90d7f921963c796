"""The tests behind the beyond findings' claims: a fit rate's confidence interval and
Fisher's exact test of two fit rates (scipy.stats)."""

from __future__ import annotations

import math

from scipy import stats


def proportion_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a rate ``successes / trials``; (nan, nan) at 0."""
    if trials == 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(level, method="exact")
    return (float(ci.low), float(ci.high))


def fisher_p(fits_a: int, runs_a: int, fits_b: int, runs_b: int) -> float:
    """Two-sided Fisher's exact test that two fit rates differ (the 2 x 2 table of fitted
    and not fitted runs); 1.0 where either arm has no runs."""
    if runs_a == 0 or runs_b == 0:
        return 1.0
    table = [[fits_a, runs_a - fits_a], [fits_b, runs_b - fits_b]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)
