"""Theorem 1 beyond ReLU: keep the construction's first layer, solve the output layer.

Theorem 1 (paper section 4) builds c(x) = sum_j w_j relu(<a, x> - b_j): one projection a,
biases b_j interleaved with the sorted projections x_i. The fit conditions H w = y with
H_ij = sigma(x_i - b_j) are then lower triangular with a positive diagonal, because relu is
zero on one side of its kink: exactly solvable for any y. Other activations keep the same
first layer here and get their output layer from a dense LU solve; the residual and the
2-norm condition number of H say whether the fit is still exact in float64.

Why it can fail: tanh and sigmoid are nonzero on both sides, so H is dense. Where the gaps
between projections are small against the activation's scale, sigma(x_i - b_j) is nearly
affine in x_i - b_j and H is close to rank 2 (its condition number grows with n); where
they are large, sigma saturates and the columns again look alike. Leaky ReLU and ELU keep
a kink or a one-sided exponential, so H is triangular plus an almost low-rank part.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.linalg

from rethinkgen.theory.expressivity import (
    choose_projection,
    deduplicate_images,
    interleaving_biases,
)

ACTIVATION_FUNCTIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "tanh": np.tanh,
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # overflow-free logistic
}
# Relative residual below which a solve counts as an exact fit (float64).
EXACT_TOLERANCE = 1e-6


def hidden_matrix(x: np.ndarray, b: np.ndarray, activation: str) -> np.ndarray:
    """H_ij = sigma(x_i - b_j) for sorted projections x and interleaved biases b."""
    if activation not in ACTIVATION_FUNCTIONS:
        raise KeyError(f"unknown activation {activation!r}; known: {sorted(ACTIVATION_FUNCTIONS)}")
    return ACTIVATION_FUNCTIONS[activation](x[:, None] - b[None, :])


def solve_output_layer(hidden: np.ndarray, targets: np.ndarray) -> dict:
    """Output weights w from H w = y (LU); residuals and H's condition number."""
    singular = np.linalg.svd(hidden, compute_uv=False)
    condition = math.inf if singular[-1] == 0 else float(singular[0] / singular[-1])
    try:
        weights = scipy.linalg.lu_solve(
            scipy.linalg.lu_factor(hidden, check_finite=False), targets, check_finite=False
        )
    except (np.linalg.LinAlgError, ValueError):
        weights = np.full_like(targets, np.nan)
    residual = hidden @ weights - targets
    relative = float(np.linalg.norm(residual) / np.linalg.norm(targets))
    if not math.isfinite(relative):
        relative = math.inf
    return {
        "condition_number": condition,
        "relative_residual": relative,
        "max_abs_residual": float(np.nanmax(np.abs(residual)))
        if np.isfinite(residual).any()
        else math.inf,
        "exact": bool(relative < EXACT_TOLERANCE),
    }


def _scalings(
    projected_sorted: np.ndarray, projection_scales, min_gap_targets
) -> list[tuple[str, float]]:
    """(label, factor) per scaling: fixed factors, and factors that set the smallest gap
    between sorted projections to each target (the remedy for ill-conditioning)."""
    min_gap = float(np.min(np.diff(projected_sorted)))
    return [(f"x{s:g}", float(s)) for s in projection_scales] + [
        (f"min gap {t:g}", float(t) / min_gap) for t in min_gap_targets
    ]


def activation_rows(
    images: np.ndarray,
    sample_sizes: list[int],
    activations: list[str],
    projection_scales: list[float],
    bias_gap_fraction: float,
    seed: int,
    min_gap_targets: list[float] = (),
    repeats: int = 1,
) -> pd.DataFrame:
    """One row per (repeat, n, scaling, activation): Theorem 1's first layer on n distinct
    images (pixels / 255), its output layer solved for standard-normal targets. Each repeat
    draws its own images, projection and targets (seeded from ``seed`` and the repeat)."""
    unique_index, _ = deduplicate_images(images)
    rows = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        for n in sample_sizes:
            n = min(int(n), len(unique_index))
            subset = np.sort(rng.choice(unique_index, size=n, replace=False))
            points = images[subset].reshape(n, -1).astype(np.float64) / 255.0
            targets = rng.standard_normal(n)
            projected = points @ choose_projection(points, rng)
            order = np.argsort(projected, kind="stable")
            for scaling, factor in _scalings(projected[order], projection_scales, min_gap_targets):
                x = projected[order] * factor
                b = interleaving_biases(x, bias_gap_fraction)
                for activation in activations:
                    solved = solve_output_layer(hidden_matrix(x, b, activation), targets[order])
                    rows.append(
                        {
                            "activation": activation,
                            "repeat": repeat,
                            "n": n,
                            "d": points.shape[1],
                            "num_parameters": 2 * n + points.shape[1],
                            "scaling": scaling,
                            "projection_scale": factor,
                            "min_gap": float(np.min(np.diff(x))),
                            "median_gap": float(np.median(np.diff(x))),
                            **solved,
                        }
                    )
    return pd.DataFrame(rows)
