"""Minimum-norm kernel interpolation (Section 5, Appendix D; docs/paper.md checks 22-27)."""

import numpy as np
import pandas as pd
import pytest
import torch

from rethinkgen.theory.features import FEATURES, gabor_filter_bank
from rethinkgen.theory.kernels import (
    accumulate_gram,
    cholesky_factor,
    cholesky_solve_in_place,
    gram_to_gaussian_,
    sgd_least_squares,
    solve_kernel_interpolation,
    table3,
)
from tests.conftest import TEST_DEVICE

DEVICE = torch.device(TEST_DEVICE)  # RETHINKGEN_TEST_DEVICE (tests/conftest.py)


def test_sgd_from_zero_converges_to_minimum_norm_solution():
    """Item 27: every SGD iterate stays in the row space, so the limit is X^T (X X^T)^-1 y."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((15, 40)), rng.standard_normal(15)
    w_sgd = sgd_least_squares(x, y, epochs=400, rng=np.random.default_rng(1))
    w_min_norm = x.T @ np.linalg.solve(x @ x.T, y)
    np.testing.assert_allclose(w_sgd, w_min_norm, rtol=1e-8, atol=1e-10)
    # another interpolant (add a null-space direction) has a larger norm
    null_direction = np.linalg.svd(x)[2][-1]
    assert np.linalg.norm(w_min_norm + null_direction) > np.linalg.norm(w_min_norm)


def test_sgd_interpolants_from_different_starts_share_one_hessian():
    """Check 27: SGD from 0 and from another start reach different interpolants, and
    the loss's curvature cannot tell them apart (Hessian X^T X / n at both)."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 12)), rng.standard_normal(5)
    start = 3.0 * np.linalg.svd(x)[2][-1]  # a direction outside the row space of x
    w_zero = sgd_least_squares(x, y, epochs=300, rng=np.random.default_rng(1))
    w_other = sgd_least_squares(x, y, epochs=300, rng=np.random.default_rng(1), w0=start)
    for w in (w_zero, w_other):
        np.testing.assert_allclose(x @ w, y, atol=1e-8)
    assert np.linalg.norm(w_other - w_zero) > 2.9  # SGD kept the start's null-space part
    assert np.linalg.norm(w_other) > np.linalg.norm(w_zero)

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def hessian(w):
        loss = lambda v: 0.5 * ((xt @ v - yt) ** 2).mean()  # noqa: E731
        return torch.autograd.functional.hessian(loss, torch.from_numpy(w)).numpy()

    np.testing.assert_allclose(hessian(w_zero), hessian(w_other), atol=1e-12)
    np.testing.assert_allclose(hessian(w_zero), x.T @ x / len(y), atol=1e-12)


def test_gram_accumulates_over_feature_chunks_and_gaussian_matches_definition():
    rng = np.random.default_rng(3)
    train, test = (
        torch.from_numpy(rng.standard_normal((30, 8), dtype=np.float32)),
        torch.randn(7, 8),
    )
    chunks = iter([(train[:, :5], test[:, :5]), (train[:, 5:], test[:, 5:])])
    gram, cross, sq_train, sq_test = accumulate_gram(chunks, 30, 7, torch.float64, DEVICE)
    torch.testing.assert_close(gram, (train @ train.T).double(), rtol=1e-5, atol=1e-5)
    gram_to_gaussian_(gram, sq_train, sq_train, bandwidth=2.0)
    gram_to_gaussian_(cross, sq_test, sq_train, bandwidth=2.0)
    expected = torch.exp(-(torch.cdist(train.double(), train.double()) ** 2) / 8.0)
    torch.testing.assert_close(gram, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        cross, torch.exp(-(torch.cdist(test, train) ** 2) / 8.0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_in_place_cholesky_solves_and_keeps_the_factor(dtype):
    rng = np.random.default_rng(4)
    a = torch.from_numpy(rng.standard_normal((50, 80)))
    kernel = (a @ a.T).to(dtype)
    original, targets = kernel.double().clone(), torch.from_numpy(rng.standard_normal((50, 3)))
    pointer = kernel.data_ptr()
    alpha = cholesky_solve_in_place(kernel, targets, ridge=0.5)
    assert kernel.data_ptr() == pointer  # overwritten, no second matrix
    tol = 1e-8 if dtype == torch.float64 else 2e-3
    torch.testing.assert_close(
        (original + 0.5 * torch.eye(50, dtype=torch.float64)) @ alpha.double(),
        targets,
        rtol=tol,
        atol=tol,
    )
    factor = cholesky_factor(kernel).double()
    torch.testing.assert_close(
        factor @ factor.T, original + 0.5 * torch.eye(50, dtype=torch.float64), rtol=tol, atol=tol
    )


def test_singular_kernel_raises_clear_error():
    kernel = torch.ones(4, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="numerically singular"):
        cholesky_solve_in_place(kernel, torch.eye(4, dtype=torch.float64), ridge=0.0)


def test_gabor_filters_are_zero_mean_and_unit_norm():
    for bank in gabor_filter_bank([3.0, 6.0], orientations=4):
        assert bank.shape[:2] == (8, 1)
        assert bank.sum((1, 2, 3)).abs().max() < 1e-4
        torch.testing.assert_close(bank.flatten(1).norm(dim=1), torch.ones(8))


@pytest.mark.parametrize(
    "features",
    [
        {"kind": "pixels"},
        {"kind": "gabor", "wavelengths": [3.0], "orientations": 4, "pool": 4},
        {
            "kind": "random_conv",
            "num_filters": 24,
            "patch_size": 3,
            "filter_chunk": 10,
            "whitening_patches": 500,
        },
    ],
)
def test_feature_streams_have_declared_width(features):
    rng = np.random.default_rng(5)
    train, test = (
        rng.integers(0, 256, (12, 10, 10, 3), dtype=np.uint8),
        rng.integers(0, 256, (5, 10, 10, 3), dtype=np.uint8),
    )
    spec = dict(features)
    stream = FEATURES[spec.pop("kind")](train, test, device=DEVICE, seed=0, **spec)
    blocks = list(stream.chunks)
    assert sum(b[0].shape[1] for b in blocks) == stream.feature_dim
    assert all(
        b[0].shape[0] == 12 and b[1].shape[0] == 5 and b[0].dtype == torch.float32 for b in blocks
    )


def _blobs(rng, n, num_classes=3):
    """Images whose class sets the mean brightness: easy for a Gaussian kernel."""
    labels = rng.integers(0, num_classes, n)
    images = np.clip(
        60 + 60 * labels[:, None, None, None] + rng.normal(0, 20, (n, 8, 8, 1)), 0, 255
    )
    return images.astype(np.uint8), labels.astype(np.int64)


@pytest.mark.parametrize("ridge", [0.0, 0.1])
def test_kernel_interpolation_fits_train_and_generalizes_on_easy_data(ridge):
    rng = np.random.default_rng(6)
    (xtr, ytr), (xte, yte) = _blobs(rng, 300), _blobs(rng, 100)
    spec = {
        "n_train": 200,
        "n_test": None,
        "features": {"kind": "pixels"},
        "kernel": "gaussian",
        "bandwidth_scale": 1.0,
        "ridge": ridge,
    }
    row = solve_kernel_interpolation(xtr, ytr, xte, yte, spec, seed=0, device=TEST_DEVICE)
    assert row["n_train"] == 200 and row["n_test"] == 100
    if ridge == 0.0:
        assert row["train_error"] == 0.0 and row["max_train_residual"] < 1e-6
    assert row["test_error"] < 0.1
    assert len(row["solution_norm_per_class"]) == 3 and row["solution_norm_mean"] > 0


def test_table3_puts_paper_values_beside_ours_and_flags_other_datasets():
    rows = pd.DataFrame(
        [
            {
                "kernel_solve": "a",
                "dataset": "fashion_mnist",
                "dataset_name": "fashion_mnist",
                "paper_row": "mnist_pixels",
                "n_train": 10,
                "n_test": 5,
                "features": "pixels",
                "kernel": "gaussian",
                "bandwidth": 1.0,
                "ridge": 0.0,
                "solve_dtype": "float64",
                "train_error": 0.0,
                "test_error": 0.12,
                "solution_norm_mean": 3.0,
                "solution_norm_total": 9.0,
                "build_time_s": 1.0,
                "solve_time_s": 1.0,
                "peak_memory_mb": 1.0,
            },
        ]
    )
    rows2 = rows.assign(
        kernel_solve="b", dataset="mnist", dataset_name="mnist", paper_row="mnist_gabor"
    )
    table, markdown = table3(pd.concat([rows, rows2]))
    assert list(table["paper_test_error"]) == [0.012, 0.006]
    assert list(table["same_dataset_as_paper"]) == [False, True]
    assert "differs from the paper" in markdown and "fashion_mnist" in markdown
