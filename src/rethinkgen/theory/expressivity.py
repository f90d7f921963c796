"""Finite-sample expressivity (Section 4, Theorem 1, Lemma 1 and Appendix C of the paper).

A depth-2 ReLU network c(x) = sum_j w_j * max(<a, x> - b_j, 0) with 2n + d weights fits
any real targets on n distinct points: project with a, sort, put the biases between the
sorted projections, and the fit conditions y = A w become lower triangular.

Conditioning (measured on Fashion-MNIST, float64): the network evaluated at the sample
is a piecewise-linear interpolant whose slope on each gap is rebuilt from the slope on
the previous gap. With biases at the midpoints of the gaps (bias_gap_fraction = 0.5)
that recursion does not damp errors and 60,000 points are not fitted; biases a tenth of
the gap above the previous projection (0.1) damp it and fit 60,000 points to ~1e-5.
float32 fails at any of these sizes, so everything here is float64.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import torch
from torch import nn

from rethinkgen.theory.memory import expressivity_bytes, refuse_if_too_big

log = logging.getLogger(__name__)

# Rows of A (and of the network's hidden layer) handled at once: bounds memory at
# about block * column_chunk * 8 bytes whatever n is (A itself is never formed).
_ROW_BLOCK = 2048
_COLUMN_CHUNK = 16384


class TwoLayerReLUInterpolant(nn.Module):
    """c(x) = sum_j w_j relu(<a, x> - b_j). `output_weights` of shape (n, k) holds k
    networks that share a and b (each on its own has 2n + d weights)."""

    def __init__(
        self, projection: torch.Tensor, biases: torch.Tensor, output_weights: torch.Tensor
    ):
        super().__init__()
        self.projection = nn.Parameter(projection.to(torch.float64), requires_grad=False)
        self.biases = nn.Parameter(biases.to(torch.float64), requires_grad=False)
        self.output_weights = nn.Parameter(output_weights.to(torch.float64), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_scale(x)[0]

    def forward_with_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs and sum_j |w_j| relu(<a,x> - b_j): the size of the sum each output is
        computed from, against which float64 rounding of the output is judged."""
        weights = self.output_weights.reshape(len(self.biases), -1)
        k = weights.shape[1]
        both = torch.cat([weights, weights.abs()], dim=1)
        projected = x.to(torch.float64) @ self.projection
        # Visit points in projection order with biases sorted: each block of points then
        # only meets the biases below its largest projection (the rest give relu = 0 exactly).
        bias_order = torch.argsort(self.biases)
        biases, both = self.biases[bias_order], both[bias_order]
        point_order = torch.argsort(projected)
        result = torch.zeros(len(projected), 2 * k, dtype=torch.float64)
        for start in range(0, len(projected), _ROW_BLOCK):
            rows = point_order[start : start + _ROW_BLOCK]
            active = int(torch.searchsorted(biases, projected[rows].max()))
            for col in range(0, active, _COLUMN_CHUNK):
                cols = slice(col, min(col + _COLUMN_CHUNK, active))
                hidden = (projected[rows, None] - biases[None, cols]).clamp_min_(0.0)
                result[rows] += hidden @ both[cols]
        shape = (len(projected),) + tuple(self.output_weights.shape[1:])
        return result[:, :k].reshape(shape), result[:, k:].reshape(shape)


def num_weights(module: nn.Module) -> int:
    """Every weight of the network, frozen or not (Theorem 1 counts 2n + d of them);
    training.models.count_parameters counts trainable ones only."""
    return sum(p.numel() for p in module.parameters())


def choose_projection(
    points: np.ndarray, rng: np.random.Generator, candidates: int = 8
) -> np.ndarray:
    """Gaussian direction, best of `candidates` draws by smallest gap between sorted
    projections relative to their range (the smallest gap bounds min_i(x_i - b_i))."""
    points = np.asarray(points, dtype=np.float64)
    best, best_score = None, -1.0
    for _ in range(candidates):
        a = rng.standard_normal(points.shape[1])
        sorted_proj = np.sort(points @ a)
        spread = sorted_proj[-1] - sorted_proj[0]
        score = np.diff(sorted_proj).min() / spread if len(sorted_proj) > 1 and spread > 0 else 0.0
        if best is None or score > best_score:
            best, best_score = a, score
    return best


def interleaving_biases(sorted_projections: np.ndarray, bias_gap_fraction: float) -> np.ndarray:
    """b_i = x_{i-1} + fraction * (x_i - x_{i-1}), so b_1 < x_1 < b_2 < ... < b_n < x_n.
    The first bias sits the median gap's fraction below x_1."""
    if not 0.0 < bias_gap_fraction < 1.0:
        raise ValueError(f"bias_gap_fraction must lie in (0, 1), got {bias_gap_fraction}")
    x = np.asarray(sorted_projections, dtype=np.float64)
    gaps = np.diff(x)
    first_gap = np.median(gaps) if len(gaps) else 1.0
    previous = np.concatenate([[x[0] - first_gap], x[:-1]])
    return previous + bias_gap_fraction * (x - previous)


def solve_interleaved_system(x: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve A w = y, A_ij = max(x_i - b_j, 0) lower triangular, by blocked forward
    substitution: the diagonal blocks go to LAPACK's triangular solve, the blocks left of
    them are subtracted from the right-hand side. A (n^2 floats, 29 GB at n = 60,000)
    is never formed."""
    x_t, b_t = torch.from_numpy(x), torch.from_numpy(b)
    w = torch.zeros(y.shape, dtype=torch.float64)
    rhs = torch.from_numpy(np.array(y, dtype=np.float64))
    for start in range(0, len(x), _ROW_BLOCK):
        block = slice(start, start + _ROW_BLOCK)
        for col in range(0, start, _COLUMN_CHUNK):
            cols = slice(col, min(col + _COLUMN_CHUNK, start))
            rhs[block] -= (x_t[block, None] - b_t[None, cols]).clamp_min_(0.0) @ w[cols]
        diagonal_block = (x_t[block, None] - b_t[None, block]).clamp_min_(0.0).numpy()
        w[block] = torch.from_numpy(
            scipy.linalg.solve_triangular(
                diagonal_block, rhs[block].numpy(), lower=True, check_finite=False
            )
        )
    return w.numpy()


@dataclass
class InterpolantFit:
    model: TwoLayerReLUInterpolant
    order: np.ndarray  # sample indices sorted by projection
    min_diagonal: float  # min_i (x_i - b_i), the smallest eigenvalue of A
    fit_time_s: float


def fit_two_layer_interpolant(
    points: np.ndarray,
    targets: np.ndarray,
    projection: np.ndarray,
    bias_gap_fraction: float = 0.1,
) -> InterpolantFit:
    """Theorem 1's construction: weights that make the network equal `targets` (shape (n,)
    or (n, k)) on `points` (n, d). Raises ValueError when two points share a projection
    (duplicate points, or a degenerate direction): no network of this form can fit them."""
    start = time.perf_counter()
    points = np.asarray(points, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if len(targets) != len(points):
        raise ValueError(f"{len(points)} points but {len(targets)} targets")
    projections = points @ np.asarray(projection, dtype=np.float64)
    order = np.argsort(projections, kind="stable")
    x = projections[order]
    ties = np.flatnonzero(np.diff(x) <= 0)
    if len(ties):
        i, j = order[ties[0]], order[ties[0] + 1]
        raise ValueError(
            f"{len(ties)} pairs of points share a projection (e.g. points {i} and {j}); "
            "remove duplicate points or choose another projection"
        )
    b = interleaving_biases(x, bias_gap_fraction)
    w_sorted = solve_interleaved_system(x, b, targets[order])
    model = TwoLayerReLUInterpolant(
        torch.from_numpy(projection), torch.from_numpy(b), torch.from_numpy(w_sorted)
    )
    return InterpolantFit(model, order, float((x - b).min()), time.perf_counter() - start)


def deduplicate_images(images: np.ndarray) -> tuple[np.ndarray, int]:
    """Indices of the first copy of each distinct image (in original order), and how many
    copies were dropped. Identical images cannot take different random targets."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    keys = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    first.sort()
    return first, len(images) - len(first)


def expressivity_rows(
    dataset: str,
    images: np.ndarray,
    num_classes: int,
    sample_sizes: list,
    bias_gap_fractions: list[float],
    seed: int,
    projection_candidates: int = 8,
) -> pd.DataFrame:
    """Fit random real targets (standard normal) and random class labels (fitted as real
    numbers, read back by rounding) on random subsets of the distinct images."""
    rng = np.random.default_rng(seed)
    unique_index, n_duplicates = deduplicate_images(images)
    log.info("%d images, %d exact duplicates dropped", len(images), n_duplicates)
    largest = max(
        len(unique_index) if size == "all" else min(int(size), len(unique_index))
        for size in sample_sizes
    )
    refuse_if_too_big(
        expressivity_bytes(largest, images[0].size),
        f"Theorem 1's fit at n = {largest:,}",
        "smaller sample_sizes, or a machine with more memory",
    )
    rows = []
    for requested in sample_sizes:
        n = len(unique_index) if requested == "all" else min(int(requested), len(unique_index))
        subset = np.sort(rng.choice(unique_index, size=n, replace=False))
        points = images[subset].reshape(n, -1).astype(np.float64) / 255.0
        targets = {
            "real": rng.standard_normal(n),
            "labels": rng.integers(0, num_classes, n).astype(np.float64),
        }
        projection = choose_projection(points, rng, projection_candidates)
        for fraction in bias_gap_fractions:
            fit = fit_two_layer_interpolant(
                points, np.stack(list(targets.values()), axis=1), projection, fraction
            )
            rows += _score_fit(fit, points, targets, num_classes, requested, n_duplicates, fraction)
    return pd.DataFrame(rows).assign(dataset=dataset)[["dataset", *rows[0]]]


def _score_fit(fit, points, targets, num_classes, requested, n_duplicates, fraction) -> list[dict]:
    start = time.perf_counter()
    outputs, scale = (t.numpy() for t in fit.model.forward_with_scale(torch.from_numpy(points)))
    eval_time = time.perf_counter() - start
    n, d = points.shape
    rows = []
    for k, (kind, y) in enumerate(targets.items()):
        residual = np.abs(outputs[:, k] - y)
        w = fit.model.output_weights[:, k].numpy()
        predicted = np.clip(np.rint(outputs[:, k]), 0, num_classes - 1)
        rows.append(
            dict(
                n_requested=str(requested),
                n=n,
                d=d,
                n_duplicates_dropped=n_duplicates,
                target=kind,
                bias_gap_fraction=fraction,
                num_parameters=d + 2 * n,
                max_abs_residual=float(residual.max()),
                max_relative_residual=float(
                    (residual / np.maximum(scale[:, k], np.finfo(float).tiny)).max()
                ),
                min_diagonal=fit.min_diagonal,
                max_abs_weight=float(np.abs(w).max()),
                weight_norm=float(np.linalg.norm(w)),
                label_accuracy=float((predicted == y).mean()) if kind == "labels" else float("nan"),
                fit_time_s=fit.fit_time_s,
                eval_time_s=eval_time,
            )
        )
        log.info("n=%d fraction=%.2f %s: max residual %.3g", n, fraction, kind, residual.max())
    return rows


def expressivity_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown with a header that says what was fitted."""
    columns = [
        "dataset",
        "n",
        "d",
        "num_parameters",
        "target",
        "bias_gap_fraction",
        "max_abs_residual",
        "max_relative_residual",
        "min_diagonal",
        "max_abs_weight",
        "weight_norm",
        "label_accuracy",
        "fit_time_s",
        "eval_time_s",
        "n_duplicates_dropped",
    ]
    header = (
        "# Theorem 1: a depth-2 ReLU network with 2n + d weights fits random targets\n\n"
        "Random real targets (standard normal) and random class labels (fitted as reals, read "
        "back by rounding) on n distinct training images (pixels / 255), float64. Biases at "
        "x_(i-1) + fraction * (x_i - x_(i-1)); 0.5 = midpoints. `max_relative_residual` is "
        "|c(x) - y| over sum_j |w_j| relu(<a,x> - b_j).\n\n"
    )
    return header + table[columns].to_markdown(index=False, floatfmt=".3g") + "\n"
