"""Patterns first, memorization later? (Arpit et al. 2017), measured as a timeline.

Partially corrupted runs score the whole training set per evaluation on two subsets
(the engine's train_clean / train_corrupted rows): the examples whose label the corruption
left unchanged (a random label equal to the true one counts as unchanged) and those whose
label changed, the latter against the label they were assigned.

- **Timeline.** Per run and subset, the first epoch its accuracy reaches a stated level
  (``reach_accuracy``): "clean before corrupted" means those epochs, per seed.
- **Memorization above its baseline.** A net that learned nothing of the corrupted labels
  still matches some of them: with test accuracy a (true labels) and its errors spread over
  the K - 1 wrong classes, it hits an assigned wrong label with probability (1 - a)/(K - 1).
  Memorization is the corrupted subset's accuracy above that baseline.
- **Picks.** The early-stopping epoch is picked on a validation split held out from
  training (``validation_fraction``; assigned labels). With ``test_halves`` the engine also
  scores the test set in two fixed halves: one picks an epoch as if the test set were used
  for model selection, the other scores both picks. Pick loss = score-half accuracy at the
  test-half pick minus at the validation pick; optimism = the pick half's own accuracy at
  its pick minus the score half's there (what reporting the picked number overstates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.stats import proportion_interval
from rethinkgen.run import RUN_KEYS as _RUN_KEYS

RUN_KEYS = list(_RUN_KEYS)
PICK, SCORE = "test_pick", "test_score"


def partial_runs(curves: pd.DataFrame) -> pd.DataFrame:
    """Rows of the runs with 0 < p < 1 that recorded the clean/corrupted subsets."""
    partial = curves[(curves["corruption_prob"] > 0) & (curves["corruption_prob"] < 1)]
    scored = partial.loc[partial["split"] == "train_corrupted", RUN_KEYS].drop_duplicates()
    if scored.empty:
        raise ValueError(
            "no partially corrupted run recorded train_clean/train_corrupted rows: "
            "the experiment needs random_labels corruptions with 0 < prob < 1, "
            "data corrupted by this version (true labels in train.npz) and "
            "eval_train_every: 1"
        )
    return partial.merge(scored, on=RUN_KEYS)


def _series(run: pd.DataFrame, split: str) -> pd.Series:
    """A split's accuracy by epoch (after epoch 0)."""
    rows = run[(run["split"] == split) & (run["epoch"] > 0)].sort_values("epoch")
    return rows.set_index("epoch")["accuracy"]


def _at(series: pd.Series, epoch) -> float:
    """The value at ``epoch`` or at the last evaluation before it."""
    before = series[series.index <= epoch] if epoch is not None else series.iloc[:0]
    return float(before.iloc[-1]) if len(before) else np.nan


def _argmax(series: pd.Series):
    return int(series.idxmax()) if len(series) else None


def first_reach(series: pd.Series, level: float) -> float:
    """The first epoch the series reaches ``level`` (NaN: never)."""
    reached = series[series >= level]
    return float(reached.index[0]) if len(reached) else np.nan


def memorization_curve(run: pd.DataFrame, num_classes: int) -> pd.Series:
    """The corrupted subset's accuracy above the no-memorization baseline
    (1 - test accuracy) / (K - 1), per epoch where both were scored."""
    corrupted, test = _series(run, "train_corrupted"), _series(run, "test")
    baseline = (1.0 - test) / (num_classes - 1)
    return (corrupted - baseline).dropna()


def memorization_table(curves: pd.DataFrame, reach_accuracy: float = 0.5) -> pd.DataFrame:
    """Per run: first-reach epochs per subset, memorization above its baseline, and the
    validation pick, the test-half pick and what each scores on the other half."""
    rows = []
    for keys, run in partial_runs(curves).groupby(RUN_KEYS, sort=True):
        k = int(run["num_classes"].iloc[0]) if "num_classes" in run else 10
        clean, corrupted = _series(run, "train_clean"), _series(run, "train_corrupted")
        test, validation = _series(run, "test"), _series(run, "validation")
        memorized = memorization_curve(run, k)
        val_pick = _argmax(validation)
        pick, score = _series(run, PICK), _series(run, SCORE)
        test_pick = _argmax(pick)
        last = int(run["epoch"].max())
        rows.append(
            {
                **dict(zip(RUN_KEYS, keys)),
                "corruption_prob": float(run["corruption_prob"].iloc[0]),
                "num_classes": k,
                "epochs": last,
                "reach_accuracy": reach_accuracy,
                "clean_reach_epoch": first_reach(clean, reach_accuracy),
                "corrupted_reach_epoch": first_reach(corrupted, reach_accuracy),
                "memorized_reach_epoch": first_reach(memorized, reach_accuracy),
                "val_pick_epoch": val_pick,
                "clean_at_val_pick": _at(clean, val_pick),
                "corrupted_at_val_pick": _at(corrupted, val_pick),
                "memorization_at_val_pick": _at(memorized, val_pick),
                "test_at_val_pick": _at(test, val_pick),
                "final_memorization": _at(memorized, last),
                "final_test_accuracy": _at(test, last),
                "test_pick_epoch": test_pick,
                "score_at_val_pick": _at(score, val_pick),
                "score_at_test_pick": _at(score, test_pick),
                "pick_at_test_pick": _at(pick, test_pick),
            }
        )
    table = pd.DataFrame(rows)
    table["clean_first"] = table["clean_reach_epoch"] < table["corrupted_reach_epoch"].fillna(
        np.inf
    )
    table["pick_loss"] = table["score_at_test_pick"] - table["score_at_val_pick"]
    table["optimism"] = table["pick_at_test_pick"] - table["score_at_test_pick"]
    return table


def _mean_sd(x: pd.Series, scale: float = 100.0) -> str:
    x = x.dropna()
    if x.empty:
        return "not measured"
    sd = x.std(ddof=1) * scale if len(x) > 1 else float("nan")
    return f"{x.mean() * scale:.1f} +- {sd:.1f} ({len(x)} runs)"


def memorization_finding(table: pd.DataFrame) -> str:
    """The timeline per model, memorization above baseline, and pick loss and optimism
    (each from the per-run table alone, so the parquet re-derives it)."""
    level = float(table["reach_accuracy"].iloc[0])
    parts = []
    for model, rows in table.groupby("model", sort=True):
        first = int(rows["clean_first"].sum())
        low, high = proportion_interval(first, len(rows))
        never = int(rows["corrupted_reach_epoch"].isna().sum())
        gap = (rows["corrupted_reach_epoch"] - rows["clean_reach_epoch"]).dropna()
        parts.append(
            f"{model}: the clean subset reached {level:.0%} before the corrupted one in {first} "
            f"of {len(rows)} runs (95% CI {low:.2f}-{high:.2f}); "
            + (f"the corrupted subset never reached it in {never}; " if never else "")
            + (
                f"where both did, {gap.mean():.1f} epochs later (range {gap.min():g}-{gap.max():g})"
                if len(gap)
                else "no run reached it on both"
            )
            + f"; memorization above the baseline at the validation pick "
            f"{_mean_sd(rows['memorization_at_val_pick'])} points, at the end "
            f"{_mean_sd(rows['final_memorization'])}"
        )
    return (
        f"{len(table)} runs, {table['seed'].nunique()} seeds. "
        + "; ".join(parts)
        + ". Pick loss (score half at the test-half pick minus at the validation pick): "
        f"{_mean_sd(table['pick_loss'])} points; optimism of reporting the test-half pick on "
        f"its own half: {_mean_sd(table['optimism'])} points."
    )


def memorization_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch data behind the figure: every partial run's accuracy per split."""
    data = partial_runs(curves)
    columns = RUN_KEYS + ["corruption_prob", "epoch", "step", "split", "accuracy", "loss"]
    return data[[c for c in columns if c in data]].sort_values(RUN_KEYS + ["split", "epoch"])


SUBSETS = {
    "train_clean": "clean subset",
    "train_corrupted": "corrupted subset (assigned labels)",
    "test": "test",
}


def plot_memorization(curves: pd.DataFrame, table: pd.DataFrame):
    """One panel per (model, p) that ran: per-seed curves of the clean and corrupted
    subsets and the test set, and each seed's validation pick (dotted)."""
    import matplotlib.pyplot as plt

    cells = (
        table[["model", "corruption_prob"]]
        .drop_duplicates()
        .sort_values(["model", "corruption_prob"])
    )
    fig, axes = plt.subplots(
        1, len(cells), figsize=(3.6 * len(cells), 3.2), squeeze=False, sharey=True
    )
    for ax, (_, cell) in zip(axes[0], cells.iterrows()):
        mask = (curves["model"] == cell["model"]) & (
            curves["corruption_prob"] == cell["corruption_prob"]
        )
        for i, (split, label) in enumerate(SUBSETS.items()):
            for j, (_, run) in enumerate(curves[mask & (curves["split"] == split)].groupby("seed")):
                run = run[run["epoch"] > 0]
                ax.plot(
                    run["epoch"],
                    run["accuracy"],
                    color=f"C{i}",
                    linewidth=0.8,
                    alpha=0.7,
                    label=label if j == 0 else None,
                )
        picks = table[
            (table["model"] == cell["model"])
            & (table["corruption_prob"] == cell["corruption_prob"])
        ]
        for epoch in picks["val_pick_epoch"].dropna():
            ax.axvline(epoch, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{cell['model']}, p = {cell['corruption_prob']:g}", fontsize=9)
        ax.set(xlabel="epoch", ylim=(0, 1.02))
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "Memorization timeline, per seed (dotted: each seed's validation pick)", fontsize=10
    )
    fig.tight_layout()
    return fig
