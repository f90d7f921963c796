"""Helpers shared by the scorecard's checks (checks_runs, checks_gains, checks_fig1a,
checks_curves, checks_theory).

A check returns one row: its id (the numbering of docs/paper.md, "Reproduction checks"),
what it checks, the experiment whose read-outs it judged, the paper's value, ours, the
tolerance, the result (one of VERDICTS, with its reason) and `runs`: the runs or table
rows it read, compactly. RULES states the rule of each kind of check.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rethinkgen.analysis.readout import STRICT_FIT_ACCURACY, outcome_of
from rethinkgen.paper import (
    MODEL_LABELS,
    PAPER_BATCH_SIZE,
    PAPER_DATASET,
    PAPER_TRAIN_SIZE,
    read_paper_table,
)
from rethinkgen.run import RUN_KEYS as _RUN_KEYS

SCORECARD_COLUMNS = [
    "check_id",
    "check",
    "experiment",
    "paper",
    "ours",
    "tolerance",
    "result",
    "runs",
]
RUN_KEYS = list(_RUN_KEYS)
PAPER_STEPS_PER_EPOCH = math.ceil(PAPER_TRAIN_SIZE / PAPER_BATCH_SIZE)  # 391
CELL_KEYS = RUN_KEYS[:-1]  # a cell: the runs that differ only in their seed
NO_RUNS = "no such runs configured"
SD_MULTIPLE = 3.0
MIN_SEEDS_FOR_SPREAD = 3  # replicates needed to measure a cell's run-to-run sd
FIT_ACCURACY = STRICT_FIT_ACCURACY  # a training set is fitted at >= 99%, at every size
# Every row's result starts with one of these (the headline counts them).
VERDICTS = (
    "pass",
    "fail",
    "inconclusive",
    "holds by construction",
    "cannot fail on this data",
    "not applicable",
)
# One rule per kind of check, printed under the scorecard (docs/paper.md, "Verdicts and rules").
RULES = {
    "chance": (
        "Chance (checks 3, 15): a cell's mean test accuracy within 3 sd of its chance level c, "
        "the draw's expected chance level sum_c pi_test(c) P(random label = c | true class c) "
        "from its saved labels (1/K where they were not read); sd^2 = c(1 - c)/n_test (the null "
        "hypothesis' variance) + the cell's run-to-run variance over its replicates. A cell "
        f"with fewer than {MIN_SEEDS_FOR_SPREAD} replicates is inconclusive."
    ),
    "fit": (
        f"Fitting (checks 2, 9, 18, 19): training accuracy >= {100 * FIT_ACCURACY:g}% at the "
        "read-out, each run, at every training-set size (a stated threshold, no sampling sd)."
    ),
    "difference": (
        "Values and gains (checks 4-8, 5b, 6b, 16b, 17, 20): within 3 sd of the difference; "
        "ours is the larger of the binomial sd at n_test and the seed sd of a cell with "
        f">= {MIN_SEEDS_FOR_SPREAD} replicates (fewer: inconclusive), the paper's one run is "
        "binomial on its test set. Off the paper's data a gain is judged by its sign: "
        "pass beyond +3 sd, fail below -3 sd, inconclusive between."
    ),
    "shape": (
        "Ratios, orders and curves (checks 10-14, 16a, 16c, 21): each row states its own tolerance."
    ),
    "evidence": (
        "Evidence: every check reads the read-outs of the experiment it stands for (column "
        "`experiment`); a diverged, unfinished or censored run is never evidence, and the row "
        "names it."
    ),
}
MAX_RUNS_TEXT = 200  # characters of the exact `runs` list before it is summarized


def row(
    check_id: str,
    check: str,
    paper: str,
    ours: str,
    tolerance: str,
    runs: str = "",
    passed: bool | None = None,
    na: str | None = None,
    verdict: str | None = None,
    experiment: str = "",
) -> dict:
    """One scorecard row. The result is `verdict` (one of VERDICTS, with an optional
    "(reason)") where given, else "not applicable (na)" with `na`, else pass or fail."""
    if verdict is None:
        verdict = f"not applicable ({na})" if na else ("pass" if passed else "fail")
    if verdict_of(verdict) is None:
        raise ValueError(f"unknown verdict {verdict!r}")
    return dict(
        check_id=check_id,
        check=check,
        experiment=experiment,
        paper=paper,
        ours=ours,
        tolerance=tolerance,
        result=verdict,
        runs=runs,
    )


def verdict_of(result: str) -> str | None:
    """The verdict a result starts with (None for anything else)."""
    return next((v for v in VERDICTS if str(result).startswith(v)), None)


def combine(verdicts: list[str]) -> str:
    """Several cells' verdicts as one: any fail fails; else any inconclusive is
    inconclusive; else pass (no cells: inconclusive)."""
    kinds = [verdict_of(v) for v in verdicts]
    if "fail" in kinds:
        return "fail"
    if not kinds or "inconclusive" in kinds:
        return "inconclusive"
    return "pass"


def few_runs(seeds: int) -> str:
    """The inconclusive verdict of a cell with too few replicates."""
    return (
        f"inconclusive ({seeds} run{'s' if seeds != 1 else ''}; the run-to-run term needs "
        f"{MIN_SEEDS_FOR_SPREAD} replicates)"
    )


def not_evidence(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(the runs that are evidence, a note naming the others): a diverged, unfinished or
    censored run is never evidence (rethinkgen.analysis.readout)."""
    outcome = outcome_of(runs)
    ok = outcome.isin(("fitted", "budget")).to_numpy()
    left = runs[~ok].assign(outcome=outcome[~ok].to_numpy())
    if left.empty:
        return runs[ok], ""
    parts = [
        f"{len(group)} {kind} ({describe_runs(group).split(': ', 1)[-1]})"
        for kind, group in left.groupby("outcome")
    ]
    return runs[ok], "not evidence: " + "; ".join(parts)


def unless_missing(verdict: str, note: str) -> str:
    """A pass with runs left out as not evidence (`note`) is inconclusive: the runs that
    would have been judged are missing. Other verdicts stand."""
    if verdict == "pass" and note:
        return "inconclusive (runs left out: not evidence)"
    return verdict


def with_note(text: str, note: str) -> str:
    return "; ".join(t for t in (text, note) if t)


def accuracy_sd(mean, n, spread=np.nan, seeds=1) -> np.ndarray:
    """One run's sd of an accuracy (a fraction) by RULES["difference"]: the binomial sd at the size
    `n` of the set it was measured on, or the sd `spread` measured over `seeds` seeds where
    there are at least MIN_SEEDS_FOR_SPREAD and it is larger."""
    mean, n = np.asarray(mean, dtype=float), np.asarray(n, dtype=float)
    binomial = np.sqrt(np.clip(mean * (1 - mean), 0, None) / n)
    measured = np.where(
        np.asarray(seeds) >= MIN_SEEDS_FOR_SPREAD, np.nan_to_num(np.asarray(spread, float)), 0.0
    )
    return np.maximum(binomial, measured)


def cell_accuracy(
    runs: pd.DataFrame, column: str, n_column: str, extra: list[str] | None = None
) -> pd.DataFrame:
    """Per cell (CELL_KEYS + `extra`): the mean of an accuracy column over seeds, its one-run
    sd by RULES["difference"] (n from `n_column`, e.g. n_test) and the number of seeds."""
    cells = runs.groupby(CELL_KEYS + (extra or []), dropna=False).agg(
        mean=(column, "mean"),
        spread=(column, "std"),
        seeds=("seed", "nunique"),
        n=(n_column, "min"),
    )
    cells["sd"] = accuracy_sd(cells["mean"], cells["n"], cells["spread"], cells["seeds"])
    return cells.reset_index()


def by_model(runs: pd.DataFrame) -> list[str]:
    """Group by model, and by dataset key too when the runs span several."""
    return ["model"] if runs["dataset"].nunique() <= 1 else ["dataset", "model"]


def paper_cells(table: str, metric: str, **flags) -> pd.Series:
    """The paper's values (fractions) of one table's metric, indexed by paper model, where
    each given column equals its value (e.g. paper_condition="random_labels")."""
    cells = read_paper_table(table)
    cells = cells[cells["metric"] == metric]
    for column, value in flags.items():
        cells = cells[cells[column] == value]
    return cells.set_index("paper_model")["value"].dropna() / 100


def against_paper(
    ours: pd.Series, sd, paper: pd.Series, paper_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(|ours - paper|, tolerance) in points: 3 sd of the difference of our cell and the
    paper's one run (its binomial sd on `paper_n` images), by RULES["difference"]."""
    paper_sd = accuracy_sd(paper / 100, paper_n)
    tolerance = 100 * SD_MULTIPLE * np.hypot(np.asarray(sd), paper_sd)
    return np.abs(np.asarray(ours) - np.asarray(paper)), tolerance


def ours_sd(cells: pd.DataFrame, used: pd.DataFrame) -> np.ndarray:
    """One run's sd (fraction) of each compared cell (compare_with_paper's long rows): binomial
    at our test set's size, or the seed sd where a cell has 3 or more seeds."""
    n_test = used["n_test"].min() if len(used) else np.nan
    return accuracy_sd(
        cells["ours"] / 100, n_test, cells["ours_sd"] / 100, cells["n_seeds"].fillna(0)
    )


def plain(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs without any explicit regularizer (the paper's randomization-test setting)."""
    return runs[
        (runs["weight_decay"] == 0)
        & ~runs["random_crop"].astype(bool)
        & ~runs["augment"].astype(bool)
        & (runs["dropout"] == 0)
    ]


def label(model: str, runs: pd.DataFrame) -> str:
    """The paper's name for one of our model keys (the key itself if it is no paper model)."""
    paper_model = runs.loc[runs["model"] == model, "paper_model"].iloc[0]
    return MODEL_LABELS.get(paper_model, model)


def key_name(key) -> str:
    """A groupby key as text: tuples joined with '/'."""
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def fmt_pct(values: pd.Series) -> str:
    """ "key: 99.50, ..." from fractions indexed by a key."""
    return ", ".join(f"{key_name(k)}: {100 * v:.2f}" for k, v in values.items())


def paper_data_reason(runs: pd.DataFrame, paper: str = PAPER_DATASET) -> str | None:
    """None if every run is on the paper's dataset, else why a quantitative check is skipped."""
    names = sorted(set(runs["dataset_name"].dropna()))
    if not names:
        return NO_RUNS
    return None if names == [paper] else f"paper value is for {paper}; ours is {', '.join(names)}"


def paper_steps_reason(runs: pd.DataFrame) -> str | None:
    """None if the runs take the paper's steps per epoch (CIFAR-10's 50,000 images at batch
    128); step counts scale with the dataset size, so a step-count check needs that."""
    reason = paper_data_reason(runs)
    if reason:
        return reason if reason == NO_RUNS else reason + "; step counts scale with the dataset size"
    per_epoch = (runs["steps"] / runs["epochs"]).round()
    if not ((per_epoch == PAPER_STEPS_PER_EPOCH) & (runs["n_train"] == PAPER_TRAIN_SIZE)).all():
        return (
            f"needs the paper's {PAPER_TRAIN_SIZE:,} images at batch {PAPER_BATCH_SIZE} "
            f"({PAPER_STEPS_PER_EPOCH} steps per "
            f"epoch); ours: n_train {sorted(set(runs['n_train']))}, steps per epoch "
            f"{sorted(set(per_epoch))}"
        )
    return None


def _braced(values) -> str:
    text = [str(v) for v in sorted(set(values))]
    return text[0] if len(text) == 1 else "{" + ",".join(text) + "}"


def _patterns(keys: pd.DataFrame) -> list[str]:
    """Brace patterns whose expansion is exactly the rows of `keys` (split where needed)."""
    sizes = [keys[c].nunique() for c in keys.columns]
    if math.prod(sizes) == len(keys):
        return ["/".join(_braced(keys[c]) for c in keys.columns)]
    split_on = next(c for c, n in zip(keys.columns, sizes) if n > 1)
    return [p for _, part in keys.groupby(split_on, sort=True) for p in _patterns(part)]


def describe_runs(runs: pd.DataFrame) -> str:
    """The runs a check read, as dataset/model/corruption/regularizer/seedN brace patterns,
    e.g. "2 runs: fashion_mnist_500/{alexnet,inception}/random_labels/none/seed0". An exact
    list longer than MAX_RUNS_TEXT gives way to one pattern per dataset key ("runs within")."""
    if runs.empty:
        return ""
    keys = runs[RUN_KEYS].drop_duplicates()
    text = "; ".join(_with_seed_prefix(_patterns(keys)))
    count = f"{len(keys)} run{'s' if len(keys) > 1 else ''}"
    if len(text) <= MAX_RUNS_TEXT:
        return f"{count}: {text}"
    within = ["/".join(_braced(part[c]) for c in RUN_KEYS) for _, part in keys.groupby("dataset")]
    return f"{count} within " + "; ".join(_with_seed_prefix(within))


def _with_seed_prefix(patterns: list[str]) -> list[str]:
    """ ".../0" -> ".../seed0", ".../{0,1}" -> ".../seed{0,1}"."""
    return [p.rsplit("/", 1)[0] + "/seed" + p.rsplit("/", 1)[1] for p in patterns]


def chain(values: pd.Series, fmt: str = ".3f") -> str:
    """ "a 0.100 < b 0.200 > c 0.150": values in index order, each neighbour's relation shown
    (an infinite value, a run that never fitted, reads "not fitted")."""
    text = [f"{k} {'not fitted' if math.isinf(v) else format(v, fmt)}" for k, v in values.items()]
    signs = [
        "<" if a < b else ("=" if a == b else ">")
        for a, b in zip(values.iloc[:-1], values.iloc[1:])
    ]
    return "".join(t + f" {sign} " for t, sign in zip(text, signs)) + text[-1]
