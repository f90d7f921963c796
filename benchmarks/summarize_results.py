"""Print a Markdown summary of a finished workflow run (the numbers the README and
docs/results quote), read from its results/tables/runs.parquet and scorecard.parquet.

    python benchmarks/summarize_results.py results/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

PLAIN = "weight_decay == 0 and not random_crop and not augment and dropout == 0"


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.1f}%"


def fit_lines(runs: pd.DataFrame) -> list[str]:
    """One line per plain run of a Figure 1a/Table 1 condition: fit, train, test."""
    plain = runs.query(PLAIN).sort_values(["dataset", "model", "corruption", "seed"])
    lines = ["| dataset | model | corruption | seed | budget | fitted at epoch | whole-set train | test |",
             "|---|---|---|---|---|---|---|---|"]
    for r in plain.itertuples():
        fit = "not within budget" if pd.isna(r.epochs_to_fit) else str(int(r.epochs_to_fit))
        lines.append(f"| {r.dataset} | {r.model} | {r.corruption} | {r.seed} | {int(r.max_epochs)} "
                     f"| {fit} | {_pct(r.final_train_accuracy)} | {_pct(r.final_test_accuracy)} |")
    return lines


def sweep_lines(runs: pd.DataFrame) -> list[str]:
    """Figure 1b/1c per model and p: mean and sd over seeds."""
    sweep = runs.query(PLAIN).dropna(subset=["corruption_prob"])
    base = (sweep[sweep["corruption_prob"] == 0].set_index(["dataset", "model", "seed"])
            ["epochs_to_fit"].rename("base"))
    sweep = sweep.join(base, on=["dataset", "model", "seed"])
    sweep["ratio"] = sweep["epochs_to_fit"] / sweep["base"]
    sweep["test_error"] = 1 - sweep["final_test_accuracy"]
    stats = sweep.groupby(["dataset", "model", "corruption_prob"]).agg(
        seeds=("seed", "size"), fitted=("fitted", "sum"), ratio=("ratio", "mean"),
        ratio_sd=("ratio", "std"), error=("test_error", "mean"), error_sd=("test_error", "std"))
    lines = ["| dataset | model | p | seeds (fitted) | relative time to fit | test error |",
             "|---|---|---|---|---|---|"]
    for (dataset, model, p), r in stats.iterrows():
        sd = lambda v: "" if pd.isna(v) else f" ± {v:.2f}"  # noqa: E731
        ratio = "n/a" if pd.isna(r.ratio) else f"{r.ratio:.2f}{sd(r.ratio_sd)}"
        lines.append(f"| {dataset} | {model} | {p:.1f} | {int(r.seeds)} ({int(r.fitted)}) "
                     f"| {ratio} | {r.error:.3f}{sd(r.error_sd)} |")
    return lines


def scorecard_lines(scorecard: pd.DataFrame) -> list[str]:
    counts = scorecard["result"].str.split(" ").str[0].value_counts()
    lines = [", ".join(f"{n} {k}" for k, n in counts.items()), "",
             "| check | result | ours |", "|---|---|---|"]
    for r in scorecard.itertuples():
        if not str(r.result).startswith("not applicable"):
            lines.append(f"| {r.check_id}: {r.check} | {r.result} | {str(r.ours)[:140]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a workflow's results/ folder")
    args = parser.parse_args()
    runs = pd.read_parquet(args.results / "tables" / "runs.parquet")
    print("## Runs\n")
    print("\n".join(fit_lines(runs)))
    print("\n## Label-corruption sweep\n")
    print("\n".join(sweep_lines(runs)))
    scorecard = args.results / "tables" / "scorecard.parquet"
    if scorecard.exists():
        print("\n## Scorecard\n")
        print("\n".join(scorecard_lines(pd.read_parquet(scorecard))))


if __name__ == "__main__":
    main()
