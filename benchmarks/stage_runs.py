"""The run_info.json files of a stage of a long evidence run, to give Snakemake as targets.

    python benchmarks/stage_runs.py config/evidence.yaml precision:alexnet,alexnet_bf16 \
        fig1bc_full::0:true_labels,random_labels

Each selector is EXPERIMENT[:MODELS[:SEEDS[:CORRUPTIONS]]] (comma-separated lists; empty
means all), so a long run can train its most wanted cells first (benchmarks/evidence_run.sh).
"""

from __future__ import annotations

import sys

import yaml

from rethinkgen.config import experiment_runs


def stage_files(config: dict, selector: str) -> list[str]:
    experiment, models, seeds, corruptions = (selector.split(":") + ["", "", ""])[:4]
    return [
        str(run.paths().info)
        for run in experiment_runs(config, experiment)
        if (not models or run.model in models.split(","))
        and (not seeds or str(run.seed) in seeds.split(","))
        and (not corruptions or run.corruption in corruptions.split(","))
    ]


if __name__ == "__main__":
    config = yaml.safe_load(open(sys.argv[1]))
    print("\n".join(f for selector in sys.argv[2:] for f in stage_files(config, selector)))
