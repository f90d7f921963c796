"""Estimate GPU-hours of the paper's 55-run CIFAR-10 grid from gpu_check.json: one run per
GPU (each run at its model's measured images/s) against k runs packed on each GPU (the
measured aggregate speed-up of k concurrent runs, applied to every model).

    python benchmarks/gpu_hours.py gpu_check_out/gpu_check.json [--config config/paper.yaml]

Work per run: its epochs (max_epochs; a fitted run stops earlier, so this is an upper
bound, or --epochs E) x (50,000 training images + evaluation of 60,000 at ~1/3 the cost).
"""

import argparse
import json
from pathlib import Path

import yaml

from rethinkgen.config import all_runs, run_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--config", type=Path, default=ROOT / "config/paper.yaml")
    parser.add_argument("--epochs", type=int, help="epochs per run instead of max_epochs")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    config = yaml.safe_load(args.config.read_text())
    speed = {row["model"]: row["ours_img_s"] for row in report["throughput"]}
    single = {
        c["model"]: c["aggregate_img_s"] for c in report["concurrency"] if c["concurrent_runs"] == 1
    }
    gains = {}
    for c in report["concurrency"]:
        gains.setdefault(c["concurrent_runs"], []).append(c["aggregate_img_s"] / single[c["model"]])
    seconds, unmeasured = 0.0, set()
    for run in all_runs(config):
        resolved = run_spec(config, run).to_dict()
        if run.model not in speed:
            unmeasured.add(run.model)  # the slowest measured model stands in
        epochs = args.epochs or resolved["training"]["max_epochs"]
        seconds += epochs * (50000 + 60000 / 3) / speed.get(run.model, min(speed.values()))
    if unmeasured:
        print(f"not measured, timed as the slowest measured model: {sorted(unmeasured)}")
    print(f"{len(all_runs(config))} runs, one per GPU: {seconds / 3600:.2f} GPU-hours")
    for k, values in sorted(gains.items()):
        gain = min(values)  # the least-scaling model measured bounds the packed estimate
        print(f"{k} runs per GPU: {seconds / 3600 / gain:.2f} GPU-hours (aggregate x{gain:.2f})")


if __name__ == "__main__":
    main()
