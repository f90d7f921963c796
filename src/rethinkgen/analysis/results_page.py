"""The tables of a results page (docs/results/README.md), generated from the Parquet files
of a results tree, so that no number in them is typed by hand.

A page marks each generated table with a pair of HTML comments, which Markdown does not
show::

    <!-- generated: sweep fig1b_convergence_slowdown fig1c_test_error_vs_corruption -->
    | ... the table ... |
    <!-- /generated -->

The first word names the block (BLOCKS), the rest are its arguments (figure keys, an
experiment). ``render_page`` rewrites every block from the tree; ``stale_blocks`` says
which differ from a regeneration. A block whose files are missing, an unknown block and
an unclosed marker are errors, never an empty table. The tree is a workflow's results/
folder or a copy of its files: ``figures/<key>.parquet`` (what each figure drew),
``tables/experiments/<experiment>/runs.parquet`` and ``tables/scorecard.parquet``.

    python benchmarks/summarize_results.py docs/results --update docs/results/README.md
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rethinkgen.analysis.figure_data import STRICT_COLUMNS, summarize
from rethinkgen.analysis.readout import RESULT_OUTCOMES, STRICT_FIT_ACCURACY
from rethinkgen.run import RUN_KEYS

MARKER = re.compile(
    r"<!-- generated: (?P<spec>[^>]*?) -->\n(?P<body>.*?)<!-- /generated -->", re.DOTALL
)
OPENING = re.compile(r"<!-- generated: ([^>]*?) -->")


class PageError(ValueError):
    """A results page whose generated blocks cannot be (re)built."""


def _parquet(root: Path, relative: str) -> pd.DataFrame:
    path = Path(root) / relative
    if not path.is_file():
        raise PageError(f"{path} is missing (the block needs it; copy it from results/)")
    return pd.read_parquet(path)


def _figure(root: Path, key: str) -> pd.DataFrame:
    data = _parquet(root, f"figures/{key}.parquet")
    return data[data["source"] == "ours"]


def _estimate(row: pd.Series, digits: int) -> str:
    """A censoring-aware summary (figure_data.censored_summary) as text."""
    if row["n"] == 0:
        return "-"
    if pd.isna(row["estimate"]):  # e.g. a ratio whose numerator and base are both censored
        return f"undefined ({int(row.get('n_censored', 0))} of {int(row['n'])} censored)"
    value = f"{row['estimate']:.{digits}f}"
    if row["summary"] == "median":
        bound = "≥ " if row["lower_bound"] else ""
        return f"{bound}{value} (median; {int(row['n_censored'])} of {int(row['n'])} censored)"
    sd = f" ± {row['sd']:.{digits}f}" if pd.notna(row["sd"]) else ""
    return f"{value}{sd} (n={int(row['n'])})"


def _runs_text(group: pd.DataFrame) -> str:
    """ "3" or "3 (1 censored, 1 diverged)": the runs of a cell and how they ended."""
    counts = group["outcome"].value_counts()
    other = ", ".join(f"{n} {k}" for k, n in counts.items() if k not in ("fitted", "budget"))
    return f"{len(group)}" + (f" ({other})" if other else "")


def _size(dataset: str) -> tuple[str, float]:
    """Sort key of a dataset key: its stem, then its size suffix (500 < 1k < 20k)."""
    match = re.search(r"_(\d+)(k?)$", dataset)
    if not match:
        return dataset, 0.0
    size = float(match.group(1)) * (1000 if match.group(2) else 1)
    return dataset[: match.start()], size


def _groups(frame: pd.DataFrame):
    """(key, rows) per dataset, model and p, datasets in order of size."""
    groups = list(frame.groupby(SWEEP_KEYS, sort=True))
    return sorted(groups, key=lambda g: (_size(g[0][0]), g[0][1], g[0][2]))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(no runs: the figure or table drew none)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


SWEEP_KEYS = ["dataset", "model", "label_corruption"]


def _cells(data: pd.DataFrame, value: str, censored: pd.Series | None = None) -> pd.DataFrame:
    results = data[data["outcome"].isin(RESULT_OUTCOMES)].copy()
    results["_censored"] = False if censored is None else censored.loc[results.index]
    return summarize(results, SWEEP_KEYS, value, "_censored").set_index(SWEEP_KEYS)


def sweep_block(root: Path, fig1b: str, fig1c: str | None = None) -> list[str]:
    """Figure 1b (and 1c) per dataset, model and p, from the figures' data: runs, epochs to
    fit (the read-out epoch of a fitted run; a censored run's cap is a lower bound),
    relative time to fit and test error at the read-out."""
    slow = _figure(root, fig1b)
    censored = slow["censored"].fillna(False).astype(bool)
    epochs = _cells(slow.assign(epochs=slow["readout_epoch"].astype(float)), "epochs", censored)
    ratio = _cells(slow, "relative_time_to_fit", censored)
    header = ["dataset", "model", "p", "runs", "epochs to fit", "relative time to fit"]
    error = None
    if fig1c:
        header.append("test error at the read-out")
        error = _cells(_figure(root, fig1c), "test_error")
    rows = []
    for key, group in _groups(slow):
        row = [key[0], key[1], f"{key[2]:g}", _runs_text(group)]
        row += [_estimate(epochs.loc[key], 1), _estimate(ratio.loc[key], 2)]
        if error is not None:
            row.append(_estimate(error.loc[key], 3) if key in error.index else "-")
        rows.append(row)
    return _table(header, rows)


def strict_fit_block(root: Path, fig1b: str, fig1c: str) -> list[str]:
    """Figure 1b/1c at the fit criterion beside the stricter fit (whole-set training
    accuracy >= 99%, from the same curves; figure_data.strict_fit)."""
    slow, error = _figure(root, fig1b), _figure(root, fig1c)
    missing = [c for c in STRICT_COLUMNS if c not in slow or c not in error]
    if missing:
        raise PageError(
            f"{fig1b}/{fig1c} data lack {', '.join(missing)}: rebuild the figures with "
            "this version (snakemake --forcerun plot_figure)"
        )
    strict = slow["strict_censored"].fillna(True).astype(bool)
    columns = [
        (slow, "relative_time_to_fit", slow["censored"].fillna(False).astype(bool), 2),
        (slow, "strict_relative_time_to_fit", strict, 2),
        (error, "test_error", None, 3),
        (error, "strict_test_error", None, 3),
    ]
    cells = [(_cells(d, v, c), digits) for d, v, c, digits in columns]
    strict_epochs = _cells(slow, "strict_epochs_to_fit", strict)
    header = [
        "dataset",
        "model",
        "p",
        "relative time (fit criterion)",
        f"epochs to whole-set ≥ {100 * STRICT_FIT_ACCURACY:g}%",
        "relative time (strict)",
        "test error (fit criterion)",
        "test error (strict)",
    ]
    rows = []
    for key, _ in _groups(slow):
        text = [_estimate(c.loc[key], d) if key in c.index else "-" for c, d in cells]
        rows.append(
            [key[0], key[1], f"{key[2]:g}", text[0], _estimate(strict_epochs.loc[key], 1)]
            + text[1:]
        )
    return _table(header, rows)


def _pct(value) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.1f}%"


def runs_block(root: Path, experiment: str) -> list[str]:
    """Every run of one experiment as that experiment reads it (runs.parquet)."""
    runs = _parquet(root, f"tables/experiments/{experiment}/runs.parquet")
    header = [
        "dataset",
        "model",
        "corruption",
        "regularizer",
        "seed",
        "params/example",
        "precision",
        "outcome",
        "read at epoch",
        "fitted at epoch",
        "whole-set train",
        "test",
    ]
    rows = [
        [
            r.dataset,
            r.model,
            r.corruption,
            r.regularizer,
            str(r.seed),
            f"{r.params_per_example:,.0f}",
            str(r.precision),
            r.outcome,
            str(int(r.readout_epoch)),
            "-" if pd.isna(r.epochs_to_fit) else str(int(r.epochs_to_fit)),
            _pct(r.final_train_accuracy),
            _pct(r.final_test_accuracy),
        ]
        for r in runs.sort_values(list(RUN_KEYS)).astype({"precision": object}).itertuples()
    ]
    return _table(header, rows)


def scorecard_block(root: Path) -> list[str]:
    """The scorecard's counts by verdict and every row that is not "not applicable"."""
    from rethinkgen.analysis.scorecard import verdict_counts  # pandas-only, but heavier

    card = _parquet(root, "tables/scorecard.parquet")
    counts = ", ".join(f"{n} {k}" for k, n in verdict_counts(card).items())
    shown = card[~card["result"].str.startswith("not applicable")]
    rows = [
        [f"{r.check_id}: {r.check}", r.experiment or "-", r.result, r.ours]
        for r in shown.itertuples()
    ]
    cleaned = [[str(c).replace("|", "/").replace("\n", " ") for c in r] for r in rows]
    return [f"{len(card)} checks: {counts}.", ""] + _table(
        ["check", "experiment", "result", "ours"], cleaned
    )


def precision_block(root: Path, experiment: str) -> list[str]:
    """bf16 against fp32 (analysis.precision) over one experiment's runs."""
    from rethinkgen.analysis.precision import compare_precisions, precision_markdown

    runs = _parquet(root, f"tables/experiments/{experiment}/runs.parquet")
    return precision_markdown(compare_precisions(runs)).splitlines()


def batchnorm_gain_block(root: Path, experiment: str) -> list[str]:
    """Figure 2b's gain per seed over the last five test evaluations (analysis.batchnorm_gain)."""
    from rethinkgen.analysis.batchnorm_gain import batchnorm_gains

    base = f"tables/experiments/{experiment}"
    gains = batchnorm_gains(
        _parquet(root, f"{base}/curves.parquet"), _parquet(root, f"{base}/runs.parquet")
    )
    if gains.empty:
        raise PageError(f"{base}: no seed has both a BatchNorm and a no-BatchNorm run")
    header = ["dataset", "seed", "nets", "read at epoch", "whole-set train", "test", "gain (sd)"]
    rows = [
        [
            g.dataset,
            str(g.seed),
            f"{g.bn_model} / {g.no_bn_model}",
            f"{g.readout_epoch_bn} / {g.readout_epoch_no_bn}",
            f"{_pct(g.bn_train_accuracy)} / {_pct(g.no_bn_train_accuracy)}",
            f"{_pct(g.bn_test_accuracy)} / {_pct(g.no_bn_test_accuracy)}",
            f"{100 * g.gain:+.1f} ({100 * g.gain_sd_over_evaluations:.1f}) points",
        ]
        for g in gains.itertuples()
    ]
    gain = gains["gain"] * 100
    sd = f" ± {gain.std():.1f}" if len(gain) > 1 else ""
    summary = (
        f"Mean gain over seeds: {gain.mean():+.1f}{sd} points (n={len(gain)}); both nets at "
        f"least 99% on the whole training set in {int(gains['both_fitted'].sum())} of "
        f"{len(gains)} seeds."
    )
    return _table(header, rows) + ["", summary]


BLOCKS: dict[str, Callable[..., list[str]]] = {
    "sweep": sweep_block,
    "strict_fit": strict_fit_block,
    "runs": runs_block,
    "scorecard": scorecard_block,
    "precision": precision_block,
    "batchnorm_gain": batchnorm_gain_block,
}


# What a results page keeps of a results tree: the figures, their data, the paper tables,
# the scorecard and each experiment's read-outs (what the blocks read).
PUBLISHED = (
    "figures/*.png",
    "figures/*.parquet",
    "tables/*.md",
    "tables/scorecard.parquet",
    "tables/experiments/*/runs.parquet",
    "tables/experiments/fig2b*/curves.parquet",  # the batchnorm_gain block's curves
)


def publish(results: Path, page_dir: Path) -> list[Path]:
    """Copy PUBLISHED from a results tree into a page's folder (same relative paths);
    returns the files written."""
    import shutil

    written = []
    for pattern in PUBLISHED:
        for source in sorted(Path(results).glob(pattern)):
            target = Path(page_dir) / source.relative_to(results)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(target)
    return written


def build_block(spec: str, root: Path) -> str:
    """The text of one block, from its marker's spec ("name arg ...")."""
    name, *args = spec.split()
    if name not in BLOCKS:
        raise PageError(f"unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
    return "\n".join(BLOCKS[name](Path(root), *args)) + "\n"


def _check_markers(text: str) -> None:
    opened, closed = len(OPENING.findall(text)), text.count("<!-- /generated -->")
    blocks = len(MARKER.findall(text))
    if not opened == closed == blocks:
        raise PageError(
            f"{opened} generated-block markers, {closed} closing markers, {blocks} complete "
            "blocks: every <!-- generated: ... --> needs its own <!-- /generated -->"
        )


def render_page(text: str, root: Path) -> str:
    """The page with every generated block rebuilt from the tree at `root`."""
    _check_markers(text)

    def rebuilt(match: re.Match) -> str:
        spec = match.group("spec")
        return f"<!-- generated: {spec} -->\n{build_block(spec, root)}<!-- /generated -->"

    return MARKER.sub(rebuilt, text)


def stale_blocks(text: str, root: Path) -> list[str]:
    """The specs of the blocks whose text differs from a regeneration."""
    _check_markers(text)
    return [
        m.group("spec")
        for m in MARKER.finditer(text)
        if m.group("body") != build_block(m.group("spec"), root)
    ]


def block_specs(text: str) -> list[str]:
    """The specs of the page's generated blocks, in order."""
    return [m.group("spec") for m in MARKER.finditer(text)]
