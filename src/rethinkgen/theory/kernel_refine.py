"""The full-size kernel solve: one float32 n x n buffer factored in place by LAPACK, then
float64 preconditioned conjugate gradients whose products with K recompute K block by block.

Why: the float64 in-memory solve needs 16 n^2 bytes (K and torch's Cholesky work copy),
29 GB at n = 60,000. Here K exists once, in float32 (4 n^2 = 14.4 GB at 60,000), and LAPACK's
`spotrf` factors it where it lies. That factor only preconditions: the system solved is
(K + ridge I) alpha = Y with K's entries computed in float64 from the features, so the
answer reaches float64 accuracy when the float32 factor is a good enough preconditioner
(condition number well below 1 / float32 epsilon), and the relative residual says how
far it got otherwise. Memory estimate: theory/memory.py.
"""

from __future__ import annotations

import ctypes
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import lapack

from rethinkgen.theory.features import FEATURES
from rethinkgen.theory.memory import REFINE_BLOCK

log = logging.getLogger(__name__)


@dataclass
class KernelFunction:
    """k(x, z) on feature rows: Gaussian exp(-|x - z|^2 / (2 bandwidth^2)) or linear x.z."""

    kind: str
    bandwidth: float = float("nan")

    def block_(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        sq_rows: torch.Tensor,
        sq_cols: torch.Tensor,
        out: torch.Tensor,
    ) -> torch.Tensor:
        """k(rows, cols) written into `out` (its dtype is the arithmetic's), without temporaries."""
        torch.mm(rows, cols.T, out=out)
        if self.kind == "gaussian":
            out.mul_(-2).add_(sq_rows[:, None]).add_(sq_cols[None, :]).clamp_min_(0)
            out.mul_(-1.0 / (2 * self.bandwidth**2)).exp_()
        return out


class FeatureKernel:
    """K = k(X, X) + ridge I known only through its features X (n x d, float64)."""

    def __init__(self, features: torch.Tensor, kernel: KernelFunction, ridge: float):
        self.x = features.double()
        self.sq = self.x.square().sum(1)
        self.kernel, self.ridge = kernel, ridge
        self.scratch = torch.empty(REFINE_BLOCK, len(self.x), dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.x)

    def matmul(self, v: torch.Tensor) -> torch.Tensor:
        """(K + ridge I) v in float64; each block below the diagonal is computed once and
        used for both triangles (half the arithmetic of a full sweep)."""
        out = self.ridge * v
        for start in range(0, len(self), REFINE_BLOCK):
            rows = slice(start, min(start + REFINE_BLOCK, len(self)))
            block = self.kernel.block_(
                self.x[rows],
                self.x[: rows.stop],
                self.sq[rows],
                self.sq[: rows.stop],
                self.scratch[: rows.stop - start, : rows.stop],
            )
            out[rows] += block @ v[: rows.stop]
            out[:start] += block[:, :start].T @ v[rows]
        return out

    def cross_matmul(self, test_features: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """k(test, X) v in float64, block by block of test rows."""
        test = test_features.double()
        sq_test, out = test.square().sum(1), []
        for start in range(0, len(test), REFINE_BLOCK):
            rows = slice(start, start + REFINE_BLOCK)
            block = self.kernel.block_(
                test[rows], self.x, sq_test[rows], self.sq, self.scratch[: len(test[rows])]
            )
            out.append(block @ v)
        return torch.cat(out)


def _mkl_routine(name: str):
    """An ILP64 LAPACK routine of the MKL inside torch's CPU library, or None (other builds).
    Measured at n = 12,000 on 2 cores: MKL's spotrf 123 GFLOP/s, scipy's OpenBLAS 73."""
    try:
        routine = getattr(
            ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")), name
        )
    except (OSError, AttributeError):
        return None
    routine.restype = None
    return routine


def _int64(value: int) -> ctypes.c_int64:
    return ctypes.c_int64(value)


def potrf_lower_in_place(matrix: np.ndarray) -> int:
    """LAPACK spotrf on a Fortran-ordered float32 array, overwriting its lower triangle with
    L (MKL when torch carries it, else scipy's LAPACK); returns LAPACK's info."""
    if not (matrix.flags.f_contiguous and matrix.dtype == np.float32):
        raise ValueError("potrf_lower_in_place needs a Fortran-ordered float32 array")
    routine = _mkl_routine("spotrf_64_")
    if routine is None:
        factor, info = lapack.spotrf(matrix, lower=1, overwrite_a=1, clean=0)
        if not np.shares_memory(factor, matrix):
            raise RuntimeError("scipy's spotrf copied the matrix")
        return int(info)
    n, info = len(matrix), _int64(0)
    routine(
        ctypes.c_char_p(b"L"),
        ctypes.byref(_int64(n)),
        matrix.ctypes.data_as(ctypes.c_void_p),
        ctypes.byref(_int64(n)),
        ctypes.byref(info),
    )
    return info.value


def potrs_lower(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """(L L^T)^-1 rhs for the float32 factor of `potrf_lower_in_place` (rhs: float32)."""
    routine = _mkl_routine("spotrs_64_")
    if routine is None:
        solution, info = lapack.spotrs(factor, rhs, lower=1)
    else:
        solution, info = np.asfortranarray(rhs, dtype=np.float32).copy(order="F"), _int64(0)
        n, k = solution.shape
        routine(
            ctypes.c_char_p(b"L"),
            ctypes.byref(_int64(n)),
            ctypes.byref(_int64(k)),
            factor.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(_int64(n)),
            solution.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(_int64(n)),
            ctypes.byref(info),
        )
        info = info.value
    if info != 0:
        raise RuntimeError(f"spotrs failed (info {info})")
    return solution


def factor_float32_in_place(
    features: torch.Tensor, kernel: KernelFunction, shift: float
) -> np.ndarray:
    """The lower Cholesky factor of k(X, X) + shift I in one Fortran-ordered float32 n x n
    array: its lower triangle is filled column block by column block, then LAPACK's spotrf
    overwrites it in place (no second n x n array at any time)."""
    n = len(features)
    matrix = np.empty((n, n), dtype=np.float32, order="F")
    by_column = torch.from_numpy(matrix.T)  # row j of this view = column j of the matrix
    x = features.float()
    sq = x.square().sum(1)
    scratch = torch.empty(REFINE_BLOCK, n, dtype=torch.float32)
    for start in range(0, n, REFINE_BLOCK):
        cols = slice(start, min(start + REFINE_BLOCK, n))
        block = kernel.block_(
            x[cols], x[start:], sq[cols], sq[start:], scratch[: cols.stop - start, : n - start]
        )
        by_column[cols, start:] = block  # = the matrix's rows start.. of columns `cols`
    by_column.diagonal().add_(shift)
    del scratch, x
    info = potrf_lower_in_place(matrix)
    if info != 0:
        raise np.linalg.LinAlgError(f"float32 Cholesky failed at pivot {info}")
    return matrix


def preconditioner(factor: np.ndarray):
    """r -> (L L^T)^-1 r: float32 triangular solves of each column scaled to unit norm."""

    def apply(r: torch.Tensor) -> torch.Tensor:
        scale = r.norm(dim=0).clamp_min(torch.finfo(torch.float64).tiny)
        z = potrs_lower(factor, (r / scale).numpy().astype(np.float32))
        return torch.from_numpy(z).double() * scale

    return apply


def pcg(
    operator: FeatureKernel,
    targets: torch.Tensor,
    precondition,
    tolerance: float,
    max_iterations: int,
):
    """Preconditioned conjugate gradients, each column on its own step sizes; stops when
    the relative residual of every column is below `tolerance`. Returns (solution,
    (K + ridge I) solution from a final product, iterations)."""
    x = torch.zeros_like(targets)
    r = targets.clone()
    z = precondition(r)
    p, rz = z.clone(), (r * z).sum(0)
    target_norm = targets.norm(dim=0)
    iterations = 0
    while iterations < max_iterations and float((r.norm(dim=0) / target_norm).max()) > tolerance:
        q = operator.matmul(p)
        step = rz / (p * q).sum(0)
        x += step * p
        r -= step * q
        z = precondition(r)
        rz_next = (r * z).sum(0)
        p = z + (rz_next / rz) * p
        rz = rz_next
        iterations += 1
        log.info(
            "PCG iteration %d: relative residual %.3g", iterations, float(r.norm() / targets.norm())
        )
    return x, operator.matmul(x), iterations


def solve_refined(
    train_features: torch.Tensor,
    targets: torch.Tensor,
    kernel: KernelFunction,
    ridge: float,
    tolerance: float = 1e-10,
    max_iterations: int = 30,
) -> dict:
    """alpha = (K + ridge I)^-1 Y through the in-place float32 factor and float64 PCG.
    Returns alpha, K alpha (without the ridge), the relative residual (Frobenius), the
    iterations, the preconditioner's shift and the factor and refinement times."""
    start = time.perf_counter()
    shift, mean_diag = (
        ridge,
        1.0 if kernel.kind == "gaussian" else float(train_features.double().square().sum(1).mean()),
    )
    while True:  # a float32 factor of a nearly singular K needs a small shift (preconditioner only)
        try:
            factor = factor_float32_in_place(train_features, kernel, shift)
            break
        except np.linalg.LinAlgError as err:
            if shift > 1e-2 * mean_diag:
                raise
            shift = max(10 * shift, 1e-6 * mean_diag)
            log.warning("%s; refactoring with shift %.3g", err, shift)
    factor_time = time.perf_counter() - start
    log.info("float32 factor in %.1f s (shift %.3g)", factor_time, shift)
    operator = FeatureKernel(train_features, kernel, ridge)
    start = time.perf_counter()
    alpha, product, iterations = pcg(
        operator, targets.double(), preconditioner(factor), tolerance, max_iterations
    )
    residual = float((targets - product).norm() / targets.norm())
    return {
        "alpha": alpha,
        "k_alpha": product - ridge * alpha,
        "relative_residual": residual,
        "iterations": iterations,
        "preconditioner_shift": shift,
        "factor_time_s": factor_time,
        "refine_time_s": time.perf_counter() - start,
        "operator": operator,
    }


def median_pairwise_distance(
    features: torch.Tensor, rng: np.random.Generator, sample: int = 1000
) -> float:
    """Median Euclidean distance among a seeded sample of rows (as kernels.median_distance)."""
    idx = torch.from_numpy(rng.choice(len(features), min(sample, len(features)), replace=False))
    x = features[idx].double()
    sq = x.square().sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0)
    upper = torch.triu_indices(len(idx), len(idx), 1)
    return float(d2[upper[0], upper[1]].sqrt().median())


def solve_refined_row(
    train_images: np.ndarray,
    test_images: np.ndarray,
    targets: torch.Tensor,
    spec: dict,
    seed: int,
    rng: np.random.Generator,
) -> dict:
    """One Table 3 solve by the refined path (CPU): features, bandwidth, factor, PCG, test
    predictions; the fields `kernels.solve_kernel_interpolation` puts into its row."""
    start = time.perf_counter()
    feature_spec = dict(spec["features"])
    stream = FEATURES[feature_spec.pop("kind")](
        train_images, test_images, device=torch.device("cpu"), seed=seed, **feature_spec
    )
    parts = list(stream.chunks)
    train, test = (torch.cat([part[i] for part in parts], 1).float() for i in (0, 1))
    del parts
    if spec["kernel"] not in ("gaussian", "linear"):
        raise ValueError(f"unknown kernel {spec['kernel']!r}; expected 'gaussian' or 'linear'")
    kernel = KernelFunction(spec["kernel"])
    if kernel.kind == "gaussian":
        kernel.bandwidth = spec["bandwidth_scale"] * median_pairwise_distance(train, rng)
    mean_diag = 1.0 if kernel.kind == "gaussian" else float(train.double().square().sum(1).mean())
    ridge = spec.get("ridge", 0.0) * mean_diag
    build_time = time.perf_counter() - start
    out = solve_refined(
        train,
        targets,
        kernel,
        ridge,
        spec.get("refine_tolerance", 1e-10),
        spec.get("refine_max_iterations", 30),
    )
    log.info(
        "refined: relative residual %.3g after %d iterations",
        out["relative_residual"],
        out["iterations"],
    )
    return {
        "alpha": out["alpha"],
        "train_pred": out["k_alpha"],
        "test_pred": out["operator"].cross_matmul(test, out["alpha"]),
        "ridge_absolute": ridge,
        "feature_dim": stream.feature_dim,
        "bandwidth": kernel.bandwidth,
        "iterations": out["iterations"],
        "build_time_s": build_time,
        "solve_time_s": out["factor_time_s"] + out["refine_time_s"],
    }
