"""Theorem 1 beyond ReLU: keep the construction's first layer, solve the output layer.

Theorem 1 (paper section 4) builds c(x) = sum_j w_j relu(<a, x> - b_j): one projection a,
biases b_j interleaved with the sorted projections x_i. The fit conditions H w = y with
H_ij = sigma(x_i - b_j) are then lower triangular with a positive diagonal, because relu is
zero on one side of its kink: exactly solvable for any y. Other activations keep the same
first layer here and get their output layer from a dense LU solve; the residual and the
2-norm condition number of H say whether the fit is still exact in float64.

The finding is a trade-off, not a yes/no: in exact arithmetic every activation here is
solvable (H is invertible), but tanh and sigmoid need output weights of enormous norm unless
the first layer is scaled up until they act like step functions, the classical route of
Huang & Babri (1998) for bounded sigmoidal activations. Each row therefore reports the
residual, the output-weight norm ||w|| and the first-layer scale beside the condition
number. Where float64 saturates (the computed condition number reaches 1 / (n eps), where
the SVD's error is as large as the smallest singular value) the number is measured again
in higher precision with mpmath for n <= ``mp_max_n`` (the exact weights, their norm, and
the float64 residual of those exact weights), and otherwise reported as the lower bound
1 / (2 n eps). ReLU's triangular system is also solved at large n (``relu_sample_sizes``,
up to all 60,000 distinct images) without forming H (rethinkgen.theory.expressivity).

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
    solve_interleaved_system,
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
EPS = float(np.finfo(np.float64).eps)
MP_FUNCTIONS = {  # the same activations in mpmath's arbitrary precision
    "relu": lambda z, mp: max(z, mp.zero),
    "leaky_relu": lambda z, mp: z if z > 0 else mp.mpf("0.01") * z,
    "elu": lambda z, mp: z if z > 0 else mp.expm1(z),
    "tanh": lambda z, mp: mp.tanh(z),
    "sigmoid": lambda z, mp: 1 / (1 + mp.exp(-z)),
}


def saturated(condition: float, n: int) -> bool:
    """Whether a float64 condition number is float64's floor, not a measurement: the SVD's
    error on the smallest singular value (about n eps sigma_max) reaches it."""
    return not math.isfinite(condition) or condition >= 1.0 / (n * EPS)


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
        "weight_norm": float(np.linalg.norm(weights)) if np.isfinite(weights).all() else math.inf,
        "relative_residual": relative,
        "max_abs_residual": float(np.nanmax(np.abs(residual)))
        if np.isfinite(residual).any()
        else math.inf,
        "exact": bool(relative < EXACT_TOLERANCE),
    }


def exact_solve(
    x: np.ndarray, b: np.ndarray, targets: np.ndarray, activation: str, digits: int = 60
) -> dict:
    """The output layer in mpmath at ``digits`` significant digits (raised until the exact
    residual is below 1e-20): H's 2-norm condition number (sigma_max of H times sigma_max
    of its exact inverse, each from a float64 SVD, which is accurate for the largest
    singular value), the exact weights' norm, and the float64 residual of those weights."""
    import mpmath

    sigma = MP_FUNCTIONS[activation]
    hidden = hidden_matrix(x, b, activation)
    while True:
        with mpmath.workdps(digits):
            xs, bs = [mpmath.mpf(float(v)) for v in x], [mpmath.mpf(float(v)) for v in b]
            h = mpmath.matrix([[sigma(xi - bj, mpmath) for bj in bs] for xi in xs])
            inverse = mpmath.inverse(h)
            y = mpmath.matrix([mpmath.mpf(float(t)) for t in targets])
            w = inverse * y
            exact_residual = mpmath.norm(h * w - y) / mpmath.norm(y)
            if exact_residual < mpmath.mpf("1e-20") or digits >= 400:
                inverse64 = np.array(inverse.tolist(), dtype=np.float64)
                w64 = np.array([float(v) for v in w], dtype=np.float64)
                break
        digits *= 2
    top = float(np.linalg.svd(hidden, compute_uv=False)[0])
    inverse_top = float(np.linalg.svd(inverse64, compute_uv=False)[0])
    residual64 = hidden @ w64 - targets
    return {
        "condition_number": top * inverse_top,
        "exact_weight_norm": float(np.linalg.norm(w64)),
        "exact_weights_float64_residual": float(
            np.linalg.norm(residual64) / np.linalg.norm(targets)
        ),
        "mp_digits": digits,
    }


def measured_condition(
    x: np.ndarray, b: np.ndarray, targets: np.ndarray, activation: str, solved: dict, mp_max_n: int
) -> dict:
    """The condition number as measured: float64's where it is below saturation, mpmath's
    for n <= mp_max_n, else only the lower bound 1 / (2 n eps)."""
    n = len(x)
    out = {"condition_source": "float64", "condition_lower_bound": np.nan}
    if not saturated(solved["condition_number"], n):
        return out | {"condition_number": solved["condition_number"]}
    if n <= mp_max_n:
        return out | exact_solve(x, b, targets, activation) | {"condition_source": "mpmath"}
    return out | {
        "condition_number": np.nan,
        "condition_source": "lower bound",
        "condition_lower_bound": 1.0 / (2 * n * EPS),
    }


def relu_rows(x: np.ndarray, targets: np.ndarray, bias_gap_fraction: float) -> dict:
    """ReLU's triangular system at any n, H never formed: residual (blockwise), weight
    norm, and the rigorous lower bound on the condition number max column norm / min
    diagonal (sigma_max >= any column norm; sigma_min <= |any eigenvalue| = diagonal)."""
    b = interleaving_biases(x, bias_gap_fraction)
    w = solve_interleaved_system(x, b, targets)
    # (H w)_i = x_i sum_{j<=i} w_j - sum_{j<=i} b_j w_j
    fitted = x * np.cumsum(w) - np.cumsum(b * w)
    residual = float(np.linalg.norm(fitted - targets) / np.linalg.norm(targets))
    # column j's squared norm: sum_{i>=j} (x_i - b_j)^2
    s0 = np.arange(len(x), 0, -1, dtype=np.float64)
    s1, s2 = np.cumsum(x[::-1])[::-1], np.cumsum((x**2)[::-1])[::-1]
    column = np.sqrt(np.maximum(s2 - 2 * b * s1 + s0 * b**2, 0.0))
    return {
        "weight_norm": float(np.linalg.norm(w)),
        "relative_residual": residual,
        "exact": bool(residual < EXACT_TOLERANCE),
        "condition_number": np.nan,
        "condition_source": "lower bound",
        "condition_lower_bound": float(column.max() / np.min(x - b)),
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
    mp_max_n: int = 0,
    relu_sample_sizes: list[int] = (),
) -> pd.DataFrame:
    """One row per (repeat, n, scaling, activation): Theorem 1's first layer on n distinct
    images (pixels / 255), its output layer solved for standard-normal targets. Each repeat
    draws its own images, projection and targets (seeded from ``seed`` and the repeat).
    ``relu_sample_sizes``: ReLU alone, projection as drawn, at larger n (H never formed)."""
    unique_index, _ = deduplicate_images(images)
    rows = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        for n in sample_sizes:
            draw = _draw(images, unique_index, n, rng)
            for scaling, factor in _scalings(draw["x"], projection_scales, min_gap_targets):
                x = draw["x"] * factor
                b = interleaving_biases(x, bias_gap_fraction)
                for activation in activations:
                    solved = solve_output_layer(hidden_matrix(x, b, activation), draw["y"])
                    solved |= measured_condition(x, b, draw["y"], activation, solved, mp_max_n)
                    rows.append(_row(activation, repeat, draw, scaling, factor, x) | solved)
        for n in relu_sample_sizes:
            draw = _draw(images, unique_index, n, rng)
            solved = relu_rows(draw["x"], draw["y"], bias_gap_fraction)
            rows.append(_row("relu", repeat, draw, "x1", 1.0, draw["x"]) | solved)
    return pd.DataFrame(rows)


def _draw(images: np.ndarray, unique_index: np.ndarray, n: int, rng) -> dict:
    """n distinct images, their targets, projection (norm kept) and sorted projections."""
    n = min(int(n), len(unique_index))
    subset = np.sort(rng.choice(unique_index, size=n, replace=False))
    points = images[subset].reshape(n, -1).astype(np.float64) / 255.0
    targets = rng.standard_normal(n)
    projection = choose_projection(points, rng)
    projected = points @ projection
    order = np.argsort(projected, kind="stable")
    return {
        "n": n,
        "d": points.shape[1],
        "x": projected[order],
        "y": targets[order],
        "projection_norm": float(np.linalg.norm(projection)),
    }


def _row(activation: str, repeat: int, draw: dict, scaling: str, factor: float, x) -> dict:
    gaps = np.diff(x)
    return {
        "activation": activation,
        "repeat": repeat,
        "n": draw["n"],
        "d": draw["d"],
        "num_parameters": 2 * draw["n"] + draw["d"],
        "scaling": scaling,
        "projection_scale": factor,
        # the first layer's weight norm: the projection times the scaling
        "first_layer_scale": factor * draw["projection_norm"],
        "min_gap": float(np.min(gaps)),
        "median_gap": float(np.median(gaps)),
    }
