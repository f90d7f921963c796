"""What the per-example record costs (``training.record_examples``): one run of a config,
trained with the record off and on, alternately; the best CPU and wall time of each (CPU
seconds of this process: on a shared host they vary less than wall seconds), and the size
of its examples.parquet.

    python benchmarks/example_record_cost.py --configfile config/config.yaml \\
        --run fashion_mnist_1000 mem_mlp_1x512 labels_p020 none 0 \\
        --data results/config/data/fashion_mnist_1000/labels_p020/data_seed20170424

The data folder is the run's corruption output (train.npz, test.npz). ``--max-epochs``
shortens the run (the overhead per epoch is what matters; the size grows with epochs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

from rethinkgen.config import run_spec, spec_defaults
from rethinkgen.data.splits import load_split
from rethinkgen.run import RunKeys
from rethinkgen.training.engine import train
from rethinkgen.training.examples import write_examples

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, required=True)
    parser.add_argument("--run", nargs=5, required=True, metavar="KEY")
    parser.add_argument("--data", type=Path, required=True, help="train.npz and test.npz")
    parser.add_argument("--max-epochs", type=int, help="shorten the run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.configfile.read_text())
    *names, seed = args.run
    spec = run_spec(
        config, RunKeys(*names, int(seed)), spec_defaults(yaml.safe_load(SCHEMA.read_text()))
    )
    overrides = {"num_threads": args.threads, "device": "cpu", "tensorboard": False}
    if args.max_epochs:
        overrides["max_epochs"] = args.max_epochs
    train_split, test_split = (
        load_split(args.data / "train.npz"),
        load_split(args.data / "test.npz"),
    )
    seconds, cpu, results = {False: [], True: []}, {False: [], True: []}, {}
    for _ in range(args.repeats):
        for record in (False, True):
            cfg = spec.train_config(record_examples=record, **overrides)
            start, start_cpu = time.perf_counter(), time.process_time()
            outcome = train(cfg, train_split, test_split)
            seconds[record].append(round(time.perf_counter() - start, 2))
            cpu[record].append(round(time.process_time() - start_cpu, 2))
            results[record] = outcome
    result, numbers = results[True], ["epoch", "split", "loss", "accuracy"]
    same = results[False].metrics[numbers].equals(result.metrics[numbers])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "examples.parquet"
        write_examples(result.examples, path)
        size = path.stat().st_size
    off, on = min(cpu[False]), min(cpu[True])
    rows = result.examples.num_rows
    print(
        f"{spec.keys.subpath}: {result.info['epochs']} epochs, {len(train_split)} examples "
        f"({result.info['data']['n_train']} trained on), precision {result.info['precision']}, "
        f"{args.threads} thread(s)\n"
        f"  CPU s, best of {args.repeats}: off {off:.2f}, on {on:.2f} "
        f"(overhead {100 * (on / off - 1):+.1f}%); all: off {cpu[False]}, on {cpu[True]}\n"
        f"  wall s: off {seconds[False]}, on {seconds[True]}\n"
        f"  losses and accuracies with the record identical to those without: {same}\n"
        f"  examples.parquet: {rows:,} rows, {size:,} bytes ({size / rows:.2f} bytes/row); "
        f"in memory {result.examples.nbytes:,} bytes"
    )


if __name__ == "__main__":
    main()
