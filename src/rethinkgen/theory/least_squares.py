"""Section 5's least-squares fact (docs/paper.md, check 27): SGD started at w = 0 on an
under-determined problem converges to the minimum-norm solution X^T (X X^T)^-1 y, because
every step moves w along a data point and so never leaves the row space of X."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.theory.kernels import sgd_least_squares


def min_norm_agreement(n: int = 15, d: int = 40, epochs: int = 400, seed: int = 0) -> pd.DataFrame:
    """One row: SGD from 0 on a seeded Gaussian problem (n points, d > n dimensions) against
    the minimum-norm interpolant; `relative_difference` is ||w_sgd - w*|| / ||w*||."""
    if d <= n:
        raise ValueError(f"needs an under-determined problem (d > n); got n = {n}, d = {d}")
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    w_sgd = sgd_least_squares(x, y, epochs=epochs, rng=np.random.default_rng(seed + 1))
    w_min_norm = x.T @ np.linalg.solve(x @ x.T, y)
    difference = np.linalg.norm(w_sgd - w_min_norm) / np.linalg.norm(w_min_norm)
    return pd.DataFrame(
        [dict(n=n, d=d, epochs=epochs, seed=seed, relative_difference=float(difference))]
    )
