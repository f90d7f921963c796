"""Helpers shared by the scorecard's checks (checks_runs, checks_curves, checks_theory).

A check returns one row: its id (the numbering of docs/paper.md, "Reproduction checks"),
what it checks, the paper's value, ours, the tolerance, the result ("pass", "fail" or
"not applicable (<reason>)") and `runs`: the runs or table rows it read, compactly.
"""

from __future__ import annotations

import math

import pandas as pd

from rethinkgen.paper import MODEL_LABELS, PAPER_BATCH_SIZE, PAPER_DATASET, PAPER_TRAIN_SIZE

SCORECARD_COLUMNS = ["check_id", "check", "paper", "ours", "tolerance", "result", "runs"]
RUN_KEYS = ["dataset", "model", "corruption", "regularizer", "seed"]
PAPER_STEPS_PER_EPOCH = math.ceil(PAPER_TRAIN_SIZE / PAPER_BATCH_SIZE)  # 391
NO_RUNS = "no such runs configured"
MAX_RUNS_TEXT = 200  # characters of the exact `runs` list before it is summarized


def row(check_id: str, check: str, paper: str, ours: str, tolerance: str, runs: str = "",
        passed: bool | None = None, na: str | None = None) -> dict:
    """One scorecard row; `na` (a reason) makes it "not applicable (reason)"."""
    result = f"not applicable ({na})" if na else ("pass" if passed else "fail")
    return dict(check_id=check_id, check=check, paper=paper, ours=ours, tolerance=tolerance,
                result=result, runs=runs)


def plain(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs without any explicit regularizer (the paper's randomization-test setting)."""
    return runs[(runs["weight_decay"] == 0) & ~runs["random_crop"].astype(bool)
                & ~runs["augment"].astype(bool) & (runs["dropout"] == 0)]


def label(model: str, runs: pd.DataFrame) -> str:
    """The paper's name for one of our model keys (the key itself if it is no paper model)."""
    paper_model = runs.loc[runs["model"] == model, "paper_model"].iloc[0]
    return MODEL_LABELS.get(paper_model, model)


def key_name(key) -> str:
    """A groupby key as text: tuples joined with '/'."""
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def fmt_pct(values: pd.Series) -> str:
    """"key: 99.50, ..." from fractions indexed by a key."""
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
        return (f"needs the paper's {PAPER_TRAIN_SIZE:,} images at batch {PAPER_BATCH_SIZE} "
                f"({PAPER_STEPS_PER_EPOCH} steps per "
                f"epoch); ours: n_train {sorted(set(runs['n_train']))}, steps per epoch "
                f"{sorted(set(per_epoch))}")
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
    """".../0" -> ".../seed0", ".../{0,1}" -> ".../seed{0,1}"."""
    return [p.rsplit("/", 1)[0] + "/seed" + p.rsplit("/", 1)[1] for p in patterns]


def chain(values: pd.Series, fmt: str = ".3f") -> str:
    """"a 0.100 < b 0.200 > c 0.150": values in index order, each neighbour's relation shown
    (an infinite value, a run that never fitted, reads "not fitted")."""
    text = [f"{k} {'not fitted' if math.isinf(v) else format(v, fmt)}" for k, v in values.items()]
    signs = ["<" if a < b else ("=" if a == b else ">") for a, b in zip(values.iloc[:-1], values.iloc[1:])]
    return "".join(t + f" {sign} " for t, sign in zip(text, signs)) + text[-1]
