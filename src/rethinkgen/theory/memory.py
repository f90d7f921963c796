"""Peak-memory estimates of the theory jobs (Table 3's kernel solves, Theorem 1's fits),
made before any expensive work: the rules set `mem_mb` from them and a job refuses to
start when its estimate exceeds the machine's memory.

Kernel solves (n training points, m test points, d features; bytes):
- float64 in memory: K (8 n^2), torch's CPU Cholesky work copy (8 n^2), K test x train
  (4 m n). Measured 2.05 x 4 n^2 for the float32 variant at n = 16k and 26k.
- float32 in memory: the same with 4-byte K and work copy.
- float32_refined: one float32 n x n buffer factored in place by LAPACK (4 n^2), the
  features in float32 and float64 (12 (n + m) d), and the float64 block scratch of the
  residual (8 x 512 x n); no work copy, no test x train matrix (kernel_refine.py).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

BASE_BYTES = 1_000_000_000  # interpreter, torch, the uint8 dataset, small buffers
REFINE_BLOCK = 512  # rows of K recomputed at once in float64 by the refined path
SOLVERS = ("float64", "float32", "float32_refined")

# Training/test sizes and pixels per image of every source, when a dataset spec sets none.
SOURCE_SIZES = {
    "mnist": (60000, 10000, 784),
    "fashion_mnist": (60000, 10000, 784),
    "cifar10": (50000, 10000, 3072),
}


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup limit of this job when that is lower (Slurm, containers)."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.exists() and limit.read_text().strip().isdigit():
        total = min(total, int(limit.read_text()))
    return total


def dataset_sizes(dataset_spec: dict) -> tuple[int, int, int]:
    """(training images, test images, values per image) of a `datasets:` entry."""
    n, m, dim = SOURCE_SIZES.get(dataset_spec["name"], (None, None, None))
    n = dataset_spec.get("n_train") or n
    m = dataset_spec.get("n_test") or m
    if n is None or m is None:
        raise ValueError(
            f"dataset {dataset_spec['name']!r}: set n_train and n_test for a memory estimate"
        )
    return n, m, dim


def feature_dim(features: dict, pixels: int) -> int:
    """Length of one feature vector of a `features:` spec (theory/features.py)."""
    side = math.isqrt(pixels if pixels % 3 else pixels // 3)
    if features["kind"] == "pixels":
        return pixels
    if features["kind"] == "gabor":
        return (
            len(features["wavelengths"])
            * features["orientations"]
            * math.ceil(side / features["pool"]) ** 2
        )
    return 4 * features["num_filters"]


def kernel_solve_bytes(solver: str, n: int, m: int, d: int) -> int:
    """Estimated peak bytes of one kernel solve (module docstring)."""
    if solver == "float32_refined":
        return BASE_BYTES + 4 * n * n + 12 * (n + m) * d + 8 * REFINE_BLOCK * max(n, m)
    width = {"float64": 8, "float32": 4}[solver]
    return BASE_BYTES + 2 * width * n * n + 4 * m * n


def choose_solver(requested: str, n: int, m: int, d: int, available: int) -> str:
    """`auto`: float64 in memory where it fits in 70% of `available`, else the refined float32."""
    if requested != "auto":
        return requested
    return (
        "float64"
        if kernel_solve_bytes("float64", n, m, d) <= 0.7 * available
        else "float32_refined"
    )


def kernel_solve_plan(
    spec: dict, dataset_spec: dict, available: int | None = None
) -> tuple[str, int]:
    """(solver, estimated peak bytes) of a `theory.kernel_solves` entry on its dataset."""
    n_all, m_all, pixels = dataset_sizes(dataset_spec)
    n, m = min(spec.get("n_train") or n_all, n_all), min(spec.get("n_test") or m_all, m_all)
    d = feature_dim(spec["features"], pixels or 784)
    solver = choose_solver(
        spec.get("solve_dtype", "auto"), n, m, d, available or machine_memory_bytes()
    )
    return solver, kernel_solve_bytes(solver, n, m, d)


def expressivity_bytes(n: int, pixels: int) -> int:
    """Theorem 1's fit: the sample in float64 (and a working copy) plus the row-block x
    column-chunk buffers of theory/expressivity.py (a few 2048 x 16384 float64 blocks)."""
    return BASE_BYTES + 2 * 8 * n * pixels + 4 * 8 * 2048 * 16384


def expressivity_sample_size(settings: dict, dataset_spec: dict) -> tuple[int, int]:
    """(largest n, values per image) of a `theory.expressivity` run on a dataset."""
    n_all, _, pixels = dataset_sizes(dataset_spec)
    sizes = [n_all if size == "all" else min(size, n_all) for size in settings["sample_sizes"]]
    return max(sizes), pixels or 784


def expressivity_mem_mb(settings: dict, dataset_spec: dict) -> int:
    return expressivity_bytes(*expressivity_sample_size(settings, dataset_spec)) // 10**6


def refuse_if_too_big(estimate: int, what: str, options: str, available: int | None = None) -> None:
    """Raise MemoryError before the work starts when `estimate` exceeds the machine's memory."""
    available = available or machine_memory_bytes()
    if estimate > available:
        raise MemoryError(
            f"{what} needs about {estimate / 1e9:.1f} GB but this machine has "
            f"{available / 1e9:.1f} GB; not starting. Options: {options}"
        )
