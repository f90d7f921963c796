"""Time one training epoch against one test pass with the engine, per model: what scoring
the test set every epoch costs (the offline configs' `eval_test_every`).

    python benchmarks/eval_cost.py \\
        --data results/config/data/fashion_mnist_500/true_labels/data_seed20170424

The data folder is a corruption's output (train.npz, test.npz) of the offline default.
Each number is the best of `--repeats` timings, on `--threads` CPU threads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from rethinkgen.data.splits import load_split
from rethinkgen.training import engine, session
from rethinkgen.training.settings import TrainConfig

MODELS = {
    "small_inception": {"arch": "small_inception", "batch_norm": True, "lr": 0.1},
    "small_alexnet": {"arch": "small_alexnet", "lr": 0.01},
}


def best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with train.npz and test.npz"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_split, test_split = (
        load_split(args.data / "train.npz"),
        load_split(args.data / "test.npz"),
    )
    print(
        f"{len(train_split)} training, {len(test_split)} test images, "
        f"{args.threads} thread(s), bf16"
    )
    print(f"{'model':<18}{'train epoch s':>14}{'test pass s':>13}{'test share':>12}")
    for name, spec in MODELS.items():
        run = {
            "dataset": "bench",
            "model": name,
            "corruption": args.data.name,
            "regularizer": "none",
            "seed": 0,
            "model_spec": spec,
            "regularizer_spec": {},
            "training": {"batch_size": 128, "max_epochs": 1, "amp": "bf16"},
        }
        cfg = TrainConfig.from_dict(run, num_threads=args.threads)
        prepared = session.setup(cfg, train_split, test_split)
        train_s = best_seconds(lambda: engine._train_epoch(prepared, cfg, 1), args.repeats)
        test_s = best_seconds(
            lambda: engine._evaluate(prepared, cfg, prepared.test_batches), args.repeats
        )
        print(f"{name:<18}{train_s:>14.2f}{test_s:>13.2f}{test_s / (train_s + test_s):>12.0%}")


if __name__ == "__main__":
    main()
