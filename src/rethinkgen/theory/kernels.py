"""Minimum-norm kernel interpolation (Section 5, Appendix D and Table 3 of the paper).

SGD from zero on a linear model keeps w in the span of the data, so an interpolating
solution is w = X^T alpha with K alpha = y (eq. 3), the minimum-norm interpolant. We
solve K alpha = Y (Y one-hot, one column per class) for a kernel on pixels or on fixed
features.

Memory: K is built block by block on the compute device (float32 products, written into
one n x n matrix of the solve precision) and factored in place by Cholesky, so exactly
one n x n training matrix is kept (torch's CPU Cholesky adds a transient work copy:
see `cholesky_solve_in_place`). `solve_dtype: auto` solves in float64 in memory when
that fits, else by `float32_refined` (kernel_refine.py: one float32 n x n buffer factored
in place by LAPACK, float64 conjugate gradients recomputing K block by block; the full
n = 60,000 on a 24 GB machine). Every solve estimates its peak memory first and refuses to
start when the machine has less (memory.py). Train predictions come from the factor:
K alpha = L (L^T alpha), or from the refined path's last product with K.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from rethinkgen.paper import PAPER_TABLE3
from rethinkgen.theory.features import FEATURES
from rethinkgen.theory.kernel_refine import solve_refined_row
from rethinkgen.theory.memory import (
    choose_solver,
    feature_dim,
    kernel_solve_bytes,
    refuse_if_too_big,
)

log = logging.getLogger(__name__)

_ROW_BLOCK = 2048  # rows of K computed per product; bounds the float32 scratch memory
_BANDWIDTH_SAMPLE = 1000  # training points whose pairwise distances set the bandwidth


def kernel_device(device: str = "auto") -> torch.device:
    """The device of a kernel solve: "auto" is CUDA when there is one, else the CPU."""
    return torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else ("cpu" if device == "auto" else device)
    )


def available_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


MEMORY_OPTIONS = (
    "a smaller n_train (memory grows with n^2); solve_dtype: float32_refined (one float32 "
    "n x n matrix, 4 n^2 bytes); or a machine with more memory (the rule's mem_mb is this estimate)"
)


def plan_solve(n: int, m: int, d: int, device: torch.device, requested: str = "auto") -> str:
    """The solver of one Table 3 row (float64 | float32 | float32_refined), after checking
    that its estimated peak memory fits the machine (MemoryError with options if not)."""
    solver = choose_solver(requested, n, m, d, available_memory_bytes(device))
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    refuse_if_too_big(
        kernel_solve_bytes(solver, n, m, d),
        f"The kernel solve ({solver}, n = {n:,})",
        MEMORY_OPTIONS,
        total,
    )
    return solver


def accumulate_gram(
    chunks: Iterator[tuple[torch.Tensor, torch.Tensor]],
    n_train: int,
    n_test: int,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inner products summed over feature-column chunks (the random conv net yields its
    features a few thousand filters at a time): train Gram (dtype), test-by-train (float32),
    squared norms of train and test points (float64)."""
    gram = torch.zeros(n_train, n_train, dtype=dtype, device=device)
    cross = torch.zeros(n_test, n_train, dtype=torch.float32, device=device)
    sq_train = torch.zeros(n_train, dtype=torch.float64, device=device)
    sq_test = torch.zeros(n_test, dtype=torch.float64, device=device)
    product = torch.empty(min(_ROW_BLOCK, n_train), n_train, dtype=torch.float32, device=device)
    for train_chunk, test_chunk in chunks:
        for start in range(0, n_train, _ROW_BLOCK):
            rows = slice(start, start + _ROW_BLOCK)
            block = product[: len(train_chunk[rows])]
            torch.mm(train_chunk[rows], train_chunk.T, out=block)  # float32 product, reused buffer
            gram[rows] += block
        cross.addmm_(test_chunk, train_chunk.T)
        sq_train += train_chunk.double().square().sum(1)
        sq_test += test_chunk.double().square().sum(1)
    return gram, cross, sq_train, sq_test


def median_distance(gram: torch.Tensor, sq_norms: torch.Tensor, rng: np.random.Generator) -> float:
    """Median pairwise Euclidean distance among a seeded sample of training points."""
    idx = torch.from_numpy(
        rng.choice(len(sq_norms), min(_BANDWIDTH_SAMPLE, len(sq_norms)), replace=False)
    )
    idx = idx.to(gram.device)
    sub = gram[idx][:, idx].double()
    d2 = (sq_norms[idx, None] + sq_norms[None, idx] - 2 * sub).clamp_min(0)
    upper = torch.triu_indices(len(idx), len(idx), 1, device=gram.device)
    return float(d2[upper[0], upper[1]].sqrt().median())


def gram_to_gaussian_(
    gram: torch.Tensor, sq_rows: torch.Tensor, sq_cols: torch.Tensor, bandwidth: float
) -> None:
    """In place: G_ij -> exp(-||x_i - x_j||^2 / (2 bandwidth^2)), row block by row block,
    without temporaries the size of a block (allocations dominated the time)."""
    sq_rows, sq_cols = sq_rows.to(gram.dtype), sq_cols.to(gram.dtype)
    for start in range(0, len(gram), _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        block = gram[rows]
        block.mul_(-2).add_(sq_rows[rows, None]).add_(sq_cols[None, :]).clamp_min_(0)
        block.mul_(-1.0 / (2 * bandwidth**2)).exp_()


def cholesky_solve_in_place(
    kernel: torch.Tensor, targets: torch.Tensor, ridge: float
) -> torch.Tensor:
    """alpha = (K + ridge I)^-1 Y; `kernel` (symmetric, row-major) is overwritten: its upper
    triangle, read column-major, becomes the Cholesky factor L (see `cholesky_factor`)."""
    if ridge > 0:
        kernel.diagonal().add_(ridge)
    # K.T is the same memory in the column-major order LAPACK works in; torch factors in
    # place into it. (scipy's potrf with overwrite_a segfaulted inside its bundled OpenBLAS
    # at n = 20,000 beside torch, so torch does both devices. Measured at n = 20,000: peak
    # RSS 5.0 GB after the build, 7.6 GB after the solve, i.e. torch's CPU path keeps
    # a transient work copy during the factorisation.)
    factor = kernel.T
    info = torch.empty((), dtype=torch.int32, device=kernel.device)
    torch.linalg.cholesky_ex(factor, out=(factor, info))
    if int(info) != 0:
        raise RuntimeError(
            f"Cholesky failed at pivot {int(info)} ({kernel.dtype}): the kernel matrix is "
            "numerically singular (a linear kernel needs at least as many features as points). "
            "Use float64 (solve_dtype), a ridge > 0, or a smaller bandwidth."
        )
    return torch.cholesky_solve(targets.to(kernel.dtype), factor)


def cholesky_factor(kernel: torch.Tensor) -> torch.Tensor:
    """L after `cholesky_solve_in_place` (a view, lower triangular, zeros above)."""
    return kernel.T


def one_hot(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(
        torch.as_tensor(labels, dtype=torch.int64), num_classes
    ).double()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _random_subset(labels: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Seeded random subset of size n (all when n is None), sorted."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    return np.sort(rng.choice(len(labels), size=n, replace=False))


def build_kernels(
    train_images: np.ndarray,
    test_images: np.ndarray,
    spec: dict,
    seed: int,
    dtype: torch.dtype,
    dev: torch.device,
    rng: np.random.Generator,
):
    """(K train x train in `dtype`, K test x train in float32, feature dim, bandwidth) for one
    `theory.kernel_solves` entry; the Gaussian bandwidth is bandwidth_scale x the median
    pairwise distance of a seeded sample (NaN for a linear kernel)."""
    feature_spec = dict(spec["features"])
    make_chunks = FEATURES[feature_spec.pop("kind")]
    stream = make_chunks(train_images, test_images, device=dev, seed=seed, **feature_spec)
    kernel, cross, sq_train, sq_test = accumulate_gram(
        stream.chunks, len(train_images), len(test_images), dtype, dev
    )
    log.info("Gram matrices built; peak memory %.0f MB", peak_memory_mb(dev))
    bandwidth = float("nan")
    if spec["kernel"] == "gaussian":
        bandwidth = spec["bandwidth_scale"] * median_distance(kernel, sq_train, rng)
        gram_to_gaussian_(kernel, sq_train, sq_train, bandwidth)
        gram_to_gaussian_(cross, sq_test, sq_train, bandwidth)
    elif spec["kernel"] != "linear":
        raise ValueError(f"unknown kernel {spec['kernel']!r}; expected 'gaussian' or 'linear'")
    return kernel, cross, stream.feature_dim, bandwidth


def solve_kernel_interpolation(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    spec: dict,
    seed: int,
    device: str = "auto",
) -> dict:
    """One row of Table 3: solve (K + ridge * mean(diag K) I) alpha = Y on a seeded subset
    and report errors, the per-class solution norm sqrt(alpha_c^T K alpha_c), timings
    and peak memory. `spec` is one `theory.kernel_solves` config entry."""
    rng = np.random.default_rng(seed)
    dev = kernel_device(device)
    train_idx = _random_subset(train_labels, spec.get("n_train"), rng)
    test_idx = _random_subset(test_labels, spec.get("n_test"), rng)
    n, m = len(train_idx), len(test_idx)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    solver = plan_solve(
        n,
        m,
        feature_dim(spec["features"], train_images[0].size),
        dev,
        spec.get("solve_dtype", "auto"),
    )
    if solver == "float32_refined":  # LAPACK on the host
        dev = torch.device("cpu")
    log.info("n_train=%d n_test=%d device=%s solver=%s", n, m, dev, solver)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    targets = one_hot(train_labels[train_idx], num_classes).to(dev)
    train_images, test_images = train_images[train_idx], test_images[test_idx]
    if solver == "float32_refined":
        solved = solve_refined_row(train_images, test_images, targets, spec, seed, rng)
    else:
        solved = _solve_in_memory(
            train_images, test_images, targets, spec, seed, rng, getattr(torch, solver), dev
        )
    alpha, train_pred, test_pred, targets = (
        solved.pop("alpha"),
        solved.pop("train_pred"),
        solved.pop("test_pred"),
        targets.double(),
    )
    ridge = solved["ridge_absolute"]
    # alpha_c^T K alpha_c = alpha_c^T (K alpha_c), with K alpha = Y - ridge * alpha
    norms = (alpha * (targets - ridge * alpha)).sum(0).clamp_min(0).sqrt().cpu().numpy()
    row = {
        "n_train": n,
        "n_test": m,
        "features": spec["features"]["kind"],
        "kernel": spec["kernel"],
        "feature_dim": solved["feature_dim"],
        "bandwidth_scale": spec.get("bandwidth_scale", float("nan")),
        "bandwidth": solved["bandwidth"],
        "ridge": spec.get("ridge", 0.0),
        "solve_dtype": solver,
        "relative_residual": float((train_pred + ridge * alpha - targets).norm() / targets.norm()),
        "iterations": solved["iterations"],
        "train_error": float(
            (train_pred.argmax(1).cpu().numpy() != train_labels[train_idx]).mean()
        ),
        "test_error": float((test_pred.argmax(1).cpu().numpy() != test_labels[test_idx]).mean()),
        "max_train_residual": float((train_pred - targets).abs().max()),
        "solution_norm_mean": float(norms.mean()),
        "solution_norm_total": float(math.sqrt((norms**2).sum())),
        "solution_norm_per_class": norms.tolist(),
        "build_time_s": solved["build_time_s"],
        "solve_time_s": solved["solve_time_s"],
        "peak_memory_mb": peak_memory_mb(dev),
        "device": str(dev),
    }
    log.info("%s", {k: v for k, v in row.items() if k != "solution_norm_per_class"})
    return row


def _solve_in_memory(train_images, test_images, targets, spec, seed, rng, dtype, dev) -> dict:
    """K and K test x train in memory, K factored in place by torch (float64 or float32)."""
    start = time.perf_counter()
    kernel, cross, dim, bandwidth = build_kernels(
        train_images, test_images, spec, seed, dtype, dev, rng
    )
    build_time = time.perf_counter() - start
    start = time.perf_counter()
    ridge = spec.get("ridge", 0.0) * float(kernel.diagonal().double().mean())
    alpha = cholesky_solve_in_place(kernel, targets, ridge)
    solve_time = time.perf_counter() - start
    log.info("built and solved; peak memory %.0f MB", peak_memory_mb(dev))
    factor = cholesky_factor(kernel)
    train_pred = (factor @ (factor.T @ alpha) - ridge * alpha).double()
    test_pred = torch.cat(
        [
            cross[r : r + _ROW_BLOCK].to(alpha.dtype) @ alpha
            for r in range(0, len(cross), _ROW_BLOCK)
        ]
    )
    return {
        "alpha": alpha.double(),
        "train_pred": train_pred,
        "test_pred": test_pred,
        "ridge_absolute": ridge,
        "feature_dim": dim,
        "bandwidth": bandwidth,
        "iterations": 0,
        "build_time_s": build_time,
        "solve_time_s": solve_time,
    }


def table3(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Our rows beside the paper's (matched by `paper_row`), and the Markdown version."""
    paper = (
        pd.DataFrame.from_dict(PAPER_TABLE3, orient="index").rename_axis("paper_row").reset_index()
    )
    table = rows.merge(paper, on="paper_row", how="left", validate="many_to_one")
    table["same_dataset_as_paper"] = table["dataset_name"].str.replace("_", "").str.lower() == (
        table["paper_dataset"].str.lower()
    )
    columns = [
        "kernel_solve",
        "dataset",
        "n_train",
        "n_test",
        "features",
        "kernel",
        "bandwidth",
        "ridge",
        "solve_dtype",
        "relative_residual",
        "iterations",
        "train_error",
        "test_error",
        "paper_dataset",
        "paper_features",
        "paper_test_error",
        "solution_norm_mean",
        "solution_norm_total",
        "paper_solution_norm",
        "build_time_s",
        "solve_time_s",
        "peak_memory_mb",
        "same_dataset_as_paper",
    ]
    differing = sorted(set(table.loc[~table["same_dataset_as_paper"], "dataset"]))
    note = (
        f"**Dataset differs from the paper's** for: {', '.join(differing)} "
        "(e.g. Fashion-MNIST offline instead of MNIST/CIFAR10): compare trends, not values.\n\n"
        if differing
        else ""
    )
    markdown = (
        "# Table 3: minimum-norm kernel interpolation (no regularization unless ridge > 0)\n\n"
        "Errors are fractions. Solution norm: sqrt(alpha_c^T K alpha_c) per class c with one-hot "
        "targets (mean over classes, and the root of their sum of squares); the paper's label "
        "encoding is not stated. Ridge is relative to the mean diagonal of K.\n\n"
        + note
        + table[[c for c in columns if c in table]].to_markdown(index=False, floatfmt=".4g")
        + "\n"  # rows from before the refined solver lack its columns
    )
    return table, markdown


def sgd_least_squares(
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    rng: np.random.Generator,
    w0: np.ndarray | None = None,
) -> np.ndarray:
    """Plain SGD on (1/2) sum_i (w^T x_i - y_i)^2 from `w0` (default 0), one sample per step
    in a seeded random order, step 1 / ||x_i||^2 (the largest stable step for one sample).

    Every step moves w along a data point, so the part of `w0` outside the row space of x
    is kept: from 0 the limit is the minimum-norm interpolant (Section 5), from elsewhere
    another interpolant."""
    w = np.zeros(x.shape[1]) if w0 is None else np.array(w0, dtype=float)
    step = 1.0 / np.einsum("ij,ij->i", x, x)
    for _ in range(epochs):
        for i in rng.permutation(len(x)):
            w -= step[i] * (x[i] @ w - y[i]) * x[i]
    return w
