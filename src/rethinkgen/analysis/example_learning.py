"""Which examples were memorized, and when: measures of one run's per-example record
(examples.parquet, ``training.record_examples``; docs/beyond.md).

Per example, over the record's whole-training-set evaluations up to the read-out:

- ``first_learned_epoch``: the first evaluation from which it is classified as its training
  label at every later one (Arpit et al. 2017); NaN when it is not at the last.
- ``forgetting_events``: evaluations after epoch 0 at which it was correct followed by
  one at which it was not (Toneva et al. 2019 count them between mini-batch
  presentations; we count them between whole-set evaluations, a lower bound of theirs).
  As theirs, an example never correct after epoch 0 (``ever_learned`` false) ranks as
  forgotten infinitely often.
- ``aum``: the area under the margin, its margin averaged over the evaluations after
  epoch 0 (Pleiss et al. 2020).

For label-corrupted runs each measure is a score for "this label is wrong" (a low margin or
AUM, a late first-learned epoch, many forgetting events), and its separation of corrupted
from clean examples is its ROC AUC and its precision at the true corruption rate (of the
as many examples as were corrupted that it ranks most suspect, the share that were).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Read-out scores: higher = more suspect. (name, measure column, sign)
SCORES = {
    "margin": ("final_margin", -1.0),
    "aum": ("aum", -1.0),
    "first_learned": ("first_learned_epoch", 1.0),
    "forgetting": ("forgetting_events", 1.0),
}


def matrices(record: pd.DataFrame, until_epoch: int | None = None) -> dict:
    """The record as (evaluations x examples) arrays, evaluations in epoch order."""
    if until_epoch is not None:
        record = record[record["epoch"] <= until_epoch]
    if record.empty:
        raise ValueError("a per-example record without evaluations")
    record = record.sort_values(["epoch", "example"], kind="stable")
    epochs = np.unique(record["epoch"].to_numpy())
    n = len(record) // len(epochs)
    if n * len(epochs) != len(record):
        raise ValueError("a per-example record whose evaluations cover different examples")
    first = record.iloc[:n]
    return {
        "epochs": epochs.astype(int),
        "example": first["example"].to_numpy(),
        "corrupted": first["corrupted"].to_numpy().astype(bool),
        "correct": record["correct"].to_numpy().reshape(len(epochs), n).astype(bool),
        "margin": record["margin"].to_numpy().reshape(len(epochs), n).astype(np.float32),
    }


def first_learned(correct: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Per example, the epoch from which it is correct at every evaluation; NaN if never."""
    wrong = ~correct
    last_wrong = np.where(wrong.any(axis=0), len(epochs) - 1 - np.argmax(wrong[::-1], axis=0), -1)
    learned = last_wrong < len(epochs) - 1
    return np.where(learned, epochs[np.minimum(last_wrong + 1, len(epochs) - 1)], np.nan)


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """Per example, how often it went from correct to misclassified between evaluations."""
    return (correct[:-1] & ~correct[1:]).sum(axis=0)


def _trained(values: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """The rows of the evaluations after epoch 0 (all rows, if none is)."""
    trained = epochs > 0
    return values[trained] if trained.any() else values


def area_under_margin(margin: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Per example, the mean margin over the evaluations after epoch 0 (all, if none is)."""
    return _trained(margin, epochs).mean(axis=0)


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(a positive's score > a negative's), ties counting one half (Mann-Whitney)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_rate(score: np.ndarray, positive: np.ndarray) -> float:
    """Of the k = #positives highest scores, the expected share of positives, ties at the
    cut broken at random (so a score that cannot tell examples apart gets the base rate)."""
    positive = np.asarray(positive, dtype=bool)
    k = int(positive.sum())
    if k == 0 or k == len(positive):
        return np.nan
    cut = np.sort(score)[::-1][k - 1]
    above, tied = score > cut, score == cut
    slots = k - int(above.sum())
    from_tie = slots * positive[tied].sum() / tied.sum()
    return float((positive[above].sum() + from_tie) / k)


def example_measures(record: pd.DataFrame, until_epoch: int | None = None) -> pd.DataFrame:
    """One row per example: index, corrupted, the three measures, final margin and correct."""
    m = matrices(record, until_epoch)
    return pd.DataFrame(
        {
            "example": m["example"],
            "corrupted": m["corrupted"],
            "first_learned_epoch": first_learned(m["correct"], m["epochs"]),
            "forgetting_events": forgetting_events(_trained(m["correct"], m["epochs"])),
            "ever_learned": _trained(m["correct"], m["epochs"]).any(axis=0),
            "aum": area_under_margin(m["margin"], m["epochs"]),
            "final_margin": m["margin"][-1],
            "final_correct": m["correct"][-1],
        }
    )


def _suspicion(measures: pd.DataFrame, name: str) -> np.ndarray:
    column, sign = SCORES[name]
    values = measures[column].to_numpy(dtype=float)
    if name == "first_learned":  # never learned: later than any epoch
        values = np.where(np.isnan(values), np.inf, values)
    if name == "forgetting":  # never learned: forgotten infinitely often (Toneva et al.)
        values = np.where(measures["ever_learned"].to_numpy(), values, np.inf)
    return sign * values


def readout_detection(measures: pd.DataFrame) -> dict:
    """Each score's ROC AUC and precision at the corruption rate (``corrupted_share``: a
    score that tells nothing gets it), at the read-out."""
    corrupted = measures["corrupted"].to_numpy()
    out = {"corrupted_share": float(corrupted.mean())}
    for name in SCORES:
        score = _suspicion(measures, name)
        out[f"auc_{name}"] = roc_auc(score, corrupted)
        out[f"precision_{name}"] = precision_at_rate(score, corrupted)
    return out


def detection_over_epochs(record: pd.DataFrame, until_epoch: int | None = None) -> pd.DataFrame:
    """Per evaluation t: the share of clean and corrupted examples learned by t (and staying
    learned to the read-out) and correct at t, and how well the margin at t and the AUM up
    to t separate corrupted from clean (ROC AUC, precision at the corruption rate)."""
    m = matrices(record, until_epoch)
    epochs, corrupted, margin = m["epochs"], m["corrupted"], m["margin"]
    learned_at = first_learned(m["correct"], epochs)
    trained = epochs > 0  # AUM up to t: the running mean of area_under_margin, in one pass
    summed = np.cumsum(np.where(trained[:, None], margin, 0), axis=0)
    counted = np.cumsum(trained)
    rows = []
    for t, epoch in enumerate(epochs):
        aum = summed[t] / counted[t] if counted[t] else margin[: t + 1].mean(axis=0)
        scores = {"margin": -margin[t], "aum": -aum}
        row = {"epoch": int(epoch)}
        for group, mask in (("clean", ~corrupted), ("corrupted", corrupted)):
            row[f"{group}_learned"] = (
                float(np.mean(learned_at[mask] <= epoch)) if mask.any() else np.nan
            )
            row[f"{group}_correct"] = float(m["correct"][t][mask].mean()) if mask.any() else np.nan
        for name, score in scores.items():
            row[f"auc_{name}"] = roc_auc(score, corrupted)
            row[f"precision_{name}"] = precision_at_rate(score, corrupted)
        rows.append(row)
    return pd.DataFrame(rows)


def last_learned(measures: pd.DataFrame, count: int = 20) -> pd.DataFrame:
    """The ``count`` examples learned last: never learned first, then by first-learned
    epoch, ties by the lower AUM (the harder example)."""
    order = measures.assign(
        _never=measures["first_learned_epoch"].isna(),
        _epoch=measures["first_learned_epoch"].fillna(-1),
    ).sort_values(["_never", "_epoch", "aum"], ascending=[False, False, True], kind="stable")
    return order.drop(columns=["_never", "_epoch"]).head(count).reset_index(drop=True)
