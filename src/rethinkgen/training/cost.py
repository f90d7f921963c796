"""A training run's estimated cost, which Snakemake uses as the job's priority.

Snakemake starts the ready jobs of highest priority first; without priorities it prefers
jobs with larger input files, which starts the cheap MLP runs (10,000 images) before the
costly conv nets (500 images) and leaves one long run alone on the machine at the end.
Longest first keeps every core busy until the last few minutes. Only the ratios matter.
"""

from __future__ import annotations

import math

# Single-thread CPU seconds per training image and epoch, a test pass every epoch included
# (bf16, batch 128, 28x28 crops): the offline default's benchmark files on this project's
# 2-core development machine (CPU time / (images x epochs)).
SECONDS_PER_IMAGE = {"small_inception": 1.1e-2, "small_alexnet": 1.7e-3, "inception_v3": 0.5}
# MLPs: seconds per weight and image (MLP 1x512: 2.4e-5 s per image, 3x512: 5.7e-5).
MLP_SECONDS_PER_WEIGHT = 6.0e-11
MLP_INPUT_SIZE = 28 * 28
DEFAULT_SECONDS_PER_IMAGE = 1.0e-3
# Training-set sizes of the datasets a spec may leave whole.
FULL_TRAIN_SIZES = {
    "mnist": 60_000,
    "fashion_mnist": 60_000,
    "cifar10": 50_000,
    "imagenet": 1_281_167,
}
TEST_PASS_SHARE = 0.28  # of a conv-net epoch on 500 images: benchmarks/eval_cost.py, 28-31%


def seconds_per_image(model_spec: dict) -> float:
    arch = model_spec.get("arch")
    if arch == "mlp":
        widths = [MLP_INPUT_SIZE, *model_spec.get("hidden", []), 10]
        weights = sum(a * b for a, b in zip(widths, widths[1:]))
        return MLP_SECONDS_PER_WEIGHT * weights
    return SECONDS_PER_IMAGE.get(arch, DEFAULT_SECONDS_PER_IMAGE)


def estimated_seconds(run: dict) -> float:
    """Single-thread CPU seconds ``run`` (a resolved run dict) takes for its whole budget."""
    spec = run.get("dataset_spec") or {}
    n_train = spec.get("n_train") or FULL_TRAIN_SIZES.get(spec.get("name"), 50_000)
    training = run.get("training") or {}
    epochs = training.get("max_epochs", 1)
    if training.get("stop_when_fitted") and training.get("min_epochs"):
        epochs = training["min_epochs"]  # a shared run's longest budget; its cap is a bound
    skipped_test_passes = TEST_PASS_SHARE * (1 - 1 / training.get("eval_test_every", 1))
    return seconds_per_image(run["model_spec"]) * n_train * epochs * (1 - skipped_test_passes)


MAX_PRIORITY = 100


def priority(run: dict) -> int:
    """Snakemake priority: larger for costlier runs (log scale, 0 to MAX_PRIORITY)."""
    return max(0, min(MAX_PRIORITY, round(10 * math.log10(1 + estimated_seconds(run)))))
