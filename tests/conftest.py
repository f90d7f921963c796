"""Shared fixtures: tiny synthetic datasets in memory and in the real on-disk formats."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
import torch

from rethinkgen.data.splits import Split

matplotlib.use("Agg")  # no display on CI or cluster nodes
os.environ.setdefault("MPLBACKEND", "Agg")


# The engine's and the kernel solve's unit tests run on this device:
# RETHINKGEN_TEST_DEVICE=cuda pytest tests/unit   (benchmarks/gpu_check.sh does).
TEST_DEVICE = os.environ.get("RETHINKGEN_TEST_DEVICE", "cpu")


def pytest_configure(config):
    if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"RETHINKGEN_TEST_DEVICE={TEST_DEVICE} but torch sees no CUDA GPU")


@pytest.fixture
def test_device() -> torch.device:
    return torch.device(TEST_DEVICE)


def make_split(
    n: int = 200, h: int = 8, w: int = 8, c: int = 3, k: int = 10, seed: int = 0
) -> Split:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)
    labels = rng.integers(0, k, size=n).astype(np.int64)
    return Split(images, labels, [f"class{i}" for i in range(k)])


@pytest.fixture
def tiny_split() -> Split:
    return make_split()


@pytest.fixture
def tiny_test_split() -> Split:
    return make_split(n=50, seed=1)


def spec_of(
    config: dict, dataset: str, model: str, corruption: str, regularizer: str, seed: int = 0
) -> dict:
    """The RunSpec dict a run of ``config`` records in its run_info.json."""
    from rethinkgen.config import run_spec
    from rethinkgen.run import RunKeys

    return run_spec(config, RunKeys(dataset, model, corruption, regularizer, seed)).to_dict()


def design_of(config: dict, dataset: str, model: str, corruption: str, regularizer: str) -> dict:
    """A run's design columns (runs.parquet), from the spec it would record."""
    from rethinkgen.analysis.aggregate import design_columns

    return design_columns(spec_of(config, dataset, model, corruption, regularizer))
