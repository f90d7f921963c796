"""One concurrent run for benchmarks/gpu_check.py: print our engine's images/s for one model
on CIFAR-shaped synthetic data (32x32x3)."""

import argparse

import numpy as np
import torch
from train_throughput import engine_images_per_s

from rethinkgen.paper import PAPER_MODEL_SPECS

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", required=True)
parser.add_argument("--device", default="cuda")
parser.add_argument("--n", type=int, default=50000)
parser.add_argument("--steps", type=int, default=200)
args = parser.parse_args()
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (args.n, 32, 32, 3), np.uint8)
labels = rng.integers(0, 10, args.n).astype(np.int64)
spec = dict(PAPER_MODEL_SPECS[args.model], lr=0.01)
print(
    engine_images_per_s(
        spec, images, labels, 28, torch.device(args.device), args.steps, 128, "auto"
    )
)
