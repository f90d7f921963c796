"""Print a Markdown summary of a finished workflow run (the numbers the README and
docs/results quote), read from each experiment's table
(results/tables/experiments/<experiment>/runs.parquet: every run read at that experiment's
epoch), the figures' data files and the scorecard.

    python benchmarks/summarize_results.py results/

With --update PAGE it instead rewrites the generated tables of a results page (markers
``<!-- generated: ... -->``; rethinkgen.analysis.results_page) from the tree, and with
--check PAGE it exits 1 when one differs from a regeneration:

    python benchmarks/summarize_results.py docs/results --update docs/results/README.md

--publish DIR copies what a page shows and its blocks read (figures, their data, the paper
tables, the scorecard, each experiment's runs.parquet) from the tree into DIR:

    python benchmarks/summarize_results.py results --publish docs/results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from rethinkgen.analysis.derived import relative_time_to_fit
from rethinkgen.analysis.figure_data import split_results, summarize
from rethinkgen.analysis.results_page import publish, render_page, runs_block, stale_blocks
from rethinkgen.analysis.scorecard import verdict_counts

PLAIN = "weight_decay == 0 and not random_crop and not augment and dropout == 0"


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.1f}%"


def _mean_sd(values: pd.Series, scale: float = 1.0, digits: int = 2) -> str:
    values = values.dropna() * scale
    if values.empty:
        return "n/a"
    sd = f" ± {values.std():.{digits}f}" if len(values) > 1 else ""
    return f"{values.mean():.{digits}f}{sd} (n={len(values)})"


def sweep_lines(runs: pd.DataFrame) -> list[str]:
    """Figure 1b/1c per dataset, model and p: censoring-aware time to fit, test error."""
    results, failed = split_results(runs.query(PLAIN).dropna(subset=["corruption_prob"]))
    sweep = relative_time_to_fit(results)
    sweep["censored"] = sweep["outcome"].eq("censored")
    bound = sweep["readout_epoch"].astype(float) / sweep["base_epochs_to_fit"].astype(float)
    sweep["ratio"] = sweep["relative_time_to_fit"].fillna(bound)
    sweep["test_error"] = 1 - sweep["final_test_accuracy"]
    by = ["dataset", "model", "corruption_prob"]
    ratio = summarize(sweep, by, "ratio", "censored").set_index(by)
    error = sweep.groupby(by)["test_error"].apply(lambda v: _mean_sd(v, digits=3))
    epochs = sweep.groupby(by)["epochs_to_fit"].apply(lambda v: _mean_sd(v.astype(float), digits=1))
    lines = [
        "| dataset | model | p | runs (censored) | epochs to fit | relative time to fit "
        "| test error |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in ratio.iterrows():
        value = f"{r.estimate:.2f}" + (f" ± {r.sd:.2f}" if pd.notna(r.sd) else "")
        if r.summary == "median":
            value = ("≥ " if r.lower_bound else "") + f"{r.estimate:.2f} (median)"
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]:.1f} | {int(r.n)} ({int(r.n_censored)}) "
            f"| {epochs[key]} | {value} | {error[key]} |"
        )
    if len(failed):
        lines.append(f"\nNot results (diverged or unfinished): {len(failed)} run(s).")
    return lines


def fig1a_lines(runs: pd.DataFrame) -> list[str]:
    """Figure 1a per training-set size: the epoch each condition fitted, in order."""
    lines = [
        "| dataset | params/example | fit order (epoch the loss fell below 0.1) "
        "| final loss, largest |",
        "|---|---|---|---|",
    ]
    for dataset, rows in runs.groupby("dataset"):
        rows = rows.sort_values("epochs_to_fit")
        order = ", ".join(
            f"{r.paper_condition} {'-' if pd.isna(r.epochs_to_fit) else int(r.epochs_to_fit)}"
            for r in rows.itertuples()
        )
        lines.append(
            f"| {dataset} | {rows['params_per_example'].max():,.0f} | {order} "
            f"| {rows['final_train_online_loss'].max():.4f} |"
        )
    return lines


def scorecard_lines(scorecard: pd.DataFrame) -> list[str]:
    counts = verdict_counts(scorecard)
    lines = [
        ", ".join(f"{n} {k}" for k, n in counts.items()),
        "",
        "| check | result | ours |",
        "|---|---|---|",
    ]
    for r in scorecard.itertuples():
        if not str(r.result).startswith("not applicable"):
            lines.append(f"| {r.check_id}: {r.check} | {r.result} | {str(r.ours)[:160]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a workflow's results/ folder")
    parser.add_argument("--update", type=Path, help="rewrite this page's generated tables")
    parser.add_argument("--check", type=Path, help="exit 1 if this page's tables are stale")
    parser.add_argument(
        "--publish", type=Path, help="copy the tree's figures and tables into this folder"
    )
    args = parser.parse_args()
    if args.publish:
        print(f"{len(publish(args.results, args.publish))} files copied to {args.publish}")
        return
    if args.update or args.check:
        page = args.update or args.check
        text = page.read_text()
        if args.update:
            page.write_text(render_page(text, args.results))
            return
        stale = stale_blocks(text, args.results)
        if stale:
            raise SystemExit(f"{page}: stale generated tables: {'; '.join(stale)}")
        return
    experiments = args.results / "tables" / "experiments"
    for folder in sorted(experiments.iterdir()):
        runs = pd.read_parquet(folder / "runs.parquet")
        print(f"## {folder.name}\n")
        print("\n".join(runs_block(args.results, folder.name)))
        if folder.name == "fig1a":
            print("\n" + "\n".join(fig1a_lines(runs)))
        if runs["corruption_prob"].notna().sum() > 1 and folder.name.startswith("fig1b"):
            print("\n" + "\n".join(sweep_lines(runs)))
        print()
    scorecard = args.results / "tables" / "scorecard.parquet"
    if scorecard.exists():
        print("## Scorecard\n")
        print("\n".join(scorecard_lines(pd.read_parquet(scorecard))))


if __name__ == "__main__":
    main()
