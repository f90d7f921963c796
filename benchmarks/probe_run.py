"""Train one run with the engine directly and print its curve: for measuring a protocol
choice (init, warmup, precision) before it goes into a config.

    python benchmarks/probe_run.py \\
        --data results/config/data/fashion_mnist_500/true_labels/data_seed20170424 \\
        --model '{"arch": "small_inception", "batch_norm": false, "lr": 0.1,
                  "init": "glorot_uniform"}' \\
        --training '{"max_epochs": 100, "lr_warmup_epochs": 10}' --out probe.json

The data folder is a corruption's output (train.npz, test.npz), e.g. after ``snakemake
--cores 2 results/config/data/fashion_mnist_500/true_labels/data_seed20170424/train.npz``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from rethinkgen.data.splits import load_split
from rethinkgen.training.engine import train
from rethinkgen.training.settings import TrainConfig

QUICK_TRAINING = {
    "batch_size": 128,
    "momentum": 0.9,
    "lr_decay": 0.95,
    "lr_decay_every_steps": 391,
    "eval_train_every": 1,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with train.npz and test.npz")
    parser.add_argument("--model", required=True, help="model spec (JSON)")
    parser.add_argument("--training", default="{}", help="training overrides (JSON)")
    parser.add_argument("--regularizer", default="{}", help="regularizer spec (JSON)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the summary and curve here (JSON)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run = {
        "dataset": Path(args.data).parent.name,
        "model": "probe",
        "corruption": Path(args.data).name,
        "regularizer": "probe",
        "seed": args.seed,
        "model_spec": json.loads(args.model),
        "regularizer_spec": json.loads(args.regularizer),
        "training": QUICK_TRAINING | json.loads(args.training),
    }
    cfg = TrainConfig.from_dict(run, num_threads=args.threads)
    start = time.perf_counter()
    result = train(
        cfg, load_split(Path(args.data) / "train.npz"), load_split(Path(args.data) / "test.npz")
    )
    curve = result.metrics.pivot_table(index="epoch", columns="split", values="accuracy")
    summary = {
        "run": run,
        "seconds": round(time.perf_counter() - start, 1),
        **{k: result.info[k] for k in ("status", "epochs", "epochs_to_fit")},
        "final": result.info["final"],
        "peak_train_accuracy": float(curve["train"].max()),
        "curve": {int(e): row.dropna().round(4).to_dict() for e, row in curve.iterrows()},
    }
    text = json.dumps(summary, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(json.dumps({k: v for k, v in summary.items() if k != "curve"}, indent=1))


if __name__ == "__main__":
    main()
