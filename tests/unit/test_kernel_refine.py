"""The full-size kernel solve (theory/kernel_refine.py) and the memory estimates that guard
every theory job (theory/memory.py)."""

import numpy as np
import pytest
import torch

from rethinkgen.theory import memory
from rethinkgen.theory.features import FEATURES
from rethinkgen.theory.kernel_refine import (
    FeatureKernel,
    KernelFunction,
    factor_float32_in_place,
    solve_refined,
)
from rethinkgen.theory.kernels import plan_solve, solve_kernel_interpolation


def _gaussian_problem(n=2000, d=50, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((n, d)))
    y = torch.nn.functional.one_hot(torch.from_numpy(rng.integers(0, 10, n)), 10).double()
    return x, y, KernelFunction("gaussian", float(torch.cdist(x[:500], x[:500]).median()))


def _dense(x, kernel):
    return torch.exp(-(torch.cdist(x, x) ** 2) / (2 * kernel.bandwidth**2))


def test_in_place_float32_factor_plus_refinement_reaches_float64_accuracy():
    x, y, kernel = _gaussian_problem()
    k = _dense(x, kernel)
    assert torch.linalg.cond(k) < 1e7  # well conditioned for float32 as preconditioner
    out = solve_refined(x, y, kernel, ridge=0.0, tolerance=1e-10, max_iterations=20)
    assert out["relative_residual"] <= 1e-10
    assert float((k @ out["alpha"] - y).norm() / y.norm()) <= 1e-10  # checked against the dense K
    exact = torch.linalg.solve(k, y)
    assert float((out["alpha"] - exact).norm() / exact.norm()) < 1e-8
    assert 1 <= out["iterations"] <= 10 and out["preconditioner_shift"] == 0.0


def test_factor_overwrites_one_fortran_buffer_with_the_cholesky_factor():
    x, _, kernel = _gaussian_problem(n=300)
    factor = factor_float32_in_place(x.float(), kernel, shift=0.0)
    assert factor.dtype == np.float32 and factor.flags.f_contiguous and factor.shape == (300, 300)
    lower = torch.from_numpy(np.tril(factor)).double()
    k = _dense(x, kernel)
    assert float((lower @ lower.T - k).norm() / k.norm()) < 1e-5


def test_blockwise_product_matches_the_dense_kernel_with_ridge():
    x, _, kernel = _gaussian_problem(n=1100)  # more than two blocks of 512 rows
    v = torch.randn(1100, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    op = FeatureKernel(x, kernel, ridge=0.5)
    expected = (_dense(x, kernel) + 0.5 * torch.eye(1100, dtype=torch.float64)) @ v
    assert torch.allclose(op.matmul(v), expected, rtol=1e-12, atol=1e-10)
    test = x[:7] + 0.01
    cross = torch.exp(-(torch.cdist(test, x) ** 2) / (2 * kernel.bandwidth**2)) @ v
    assert torch.allclose(op.cross_matmul(test, v), cross, rtol=1e-12, atol=1e-10)


def _blobs(rng, n):
    """8 x 8 images whose class sets the mean brightness (as in test_kernels.py)."""
    labels = rng.integers(0, 3, n)
    images = np.clip(
        60 + 60 * labels[:, None, None, None] + rng.normal(0, 20, (n, 8, 8, 1)), 0, 255
    )
    return images.astype(np.uint8), labels.astype(np.int64)


@pytest.mark.parametrize("kernel, ridge", [("gaussian", 0.0), ("linear", 0.1)])
def test_refined_row_agrees_with_the_float64_in_memory_row(kernel, ridge):
    rng = np.random.default_rng(6)
    (xtr, ytr), (xte, yte) = _blobs(rng, 300), _blobs(rng, 100)
    spec = {
        "n_train": 200,
        "n_test": None,
        "features": {"kind": "pixels"},
        "kernel": kernel,
        "bandwidth_scale": 1.0,
        "ridge": ridge,
    }
    rows = {
        dtype: solve_kernel_interpolation(
            xtr, ytr, xte, yte, spec | {"solve_dtype": dtype}, seed=0, device="cpu"
        )
        for dtype in ("float64", "float32_refined")
    }
    ref, ours = rows["float64"], rows["float32_refined"]
    assert ours["solve_dtype"] == "float32_refined" and ours["relative_residual"] < 1e-9
    assert ours["iterations"] >= 1 and ref["iterations"] == 0
    assert (ours["train_error"], ours["test_error"]) == (ref["train_error"], ref["test_error"])
    assert ours["bandwidth"] == pytest.approx(
        ref["bandwidth"], rel=1e-6, nan_ok=True
    )  # in-memory Gram: float32 products
    # the in-memory path forms K from float32 products (entries off by ~1e-7 relative)
    assert ours["solution_norm_mean"] == pytest.approx(ref["solution_norm_mean"], rel=1e-3)


def test_auto_solver_is_float64_where_it_fits_else_the_refined_path():
    assert memory.choose_solver("auto", 1000, 100, 784, available=10**10) == "float64"
    assert (
        memory.choose_solver("auto", 60000, 10000, 784, available=24 * 10**9) == "float32_refined"
    )
    assert memory.choose_solver("float32", 60000, 10000, 784, available=1) == "float32"
    # one float32 n x n buffer at the paper's n fits 24 GB; float64 in memory needs 16 n^2
    assert memory.kernel_solve_bytes("float32_refined", 60000, 10000, 784) < 17 * 10**9
    assert memory.kernel_solve_bytes("float64", 60000, 10000, 784) > 57 * 10**9


def test_plan_refuses_before_any_work_with_options(monkeypatch):
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: 8 * 10**9)
    monkeypatch.setattr("rethinkgen.theory.kernels.available_memory_bytes", lambda dev: 8 * 10**9)
    with pytest.raises(
        MemoryError, match=r"needs about 16\.3 GB but this machine has 8\.0 GB.*n_train"
    ):
        plan_solve(60000, 10000, 784, torch.device("cpu"), "auto")
    assert plan_solve(20000, 10000, 784, torch.device("cpu"), "auto") == "float32_refined"


def test_estimates_use_the_real_n_and_feature_width():
    fm = {"name": "fashion_mnist"}
    assert memory.dataset_sizes(fm) == (60000, 10000, 784)
    assert memory.dataset_sizes({"name": "cifar10", "n_train": 5000}) == (5000, 10000, 3072)
    spec = {"n_train": None, "features": {"kind": "pixels"}, "solve_dtype": "float64"}
    assert memory.kernel_solve_plan(spec, {"name": "cifar10"})[1] == memory.kernel_solve_bytes(
        "float64", 50000, 10000, 3072
    )
    with pytest.raises(ValueError, match="set n_train and n_test"):
        memory.dataset_sizes({"name": "imagenet"})
    assert memory.expressivity_sample_size({"sample_sizes": [1000, "all"]}, fm) == (60000, 784)


@pytest.mark.parametrize(
    "features",
    [
        {"kind": "gabor", "wavelengths": [3, 6], "orientations": 6, "pool": 4},
        {"kind": "random_conv", "num_filters": 8, "patch_size": 5},
    ],
)
def test_feature_width_estimate_matches_the_feature_maps(features):
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    spec = dict(features)
    stream = FEATURES[spec.pop("kind")](images, images, device=torch.device("cpu"), seed=0, **spec)
    assert (
        memory.feature_dim(features, 784)
        == stream.feature_dim
        == sum(c[0].shape[1] for c in stream.chunks)
    )


def test_theorem1_fit_refuses_before_work_when_memory_is_short(monkeypatch):
    from rethinkgen.theory.expressivity import expressivity_rows

    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: 10**8)
    images = np.random.default_rng(0).integers(0, 256, (50, 4, 4, 1), dtype=np.uint8)
    with pytest.raises(MemoryError, match=r"Theorem 1's fit at n = 50 .*smaller sample_sizes"):
        expressivity_rows(
            "toy",
            images,
            num_classes=10,
            sample_sizes=[20, "all"],
            bias_gap_fractions=[0.1],
            seed=0,
        )
