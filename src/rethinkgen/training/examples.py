"""Per-example learning records (``training.record_examples``; docs/beyond.md, "Which
examples were memorized, and when").

At each whole-training-set evaluation the engine keeps, for every training example,
whether it is classified as its training (assigned) label and its margin: that label's
logit minus the largest other logit. The records live in the run's state, so a checkpoint
carries them and a resumed run's record equals an uninterrupted one's; at the end they are
written as one Parquet file beside the metrics (``schemas.EXAMPLES``, ``RunPaths.examples``),
with each example's index in train.npz and whether the corruption changed its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from rethinkgen.io import atomic_path
from rethinkgen.run import RUN_KEYS
from rethinkgen.schemas import EXAMPLES
from rethinkgen.training.distributed import launched_by_torchrun
from rethinkgen.training.validation import split_indices

FLOAT16_MAX = 65504.0


def correct_and_margin(logits: torch.Tensor, labels: torch.Tensor) -> tuple:
    """(int8: argmax is the label, float16: the label's logit minus the largest other)."""
    label_logit = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).max(dim=1).values
    margin = (label_logit - others).clamp(-FLOAT16_MAX, FLOAT16_MAX)
    return (logits.argmax(dim=1) == labels).to(torch.int8), margin.to(torch.float16)


def evaluation_record(epoch: int, parts: list[tuple]) -> dict:
    """One evaluation's record as the checkpoint carries it (CPU tensors, one sync)."""
    return {
        "epoch": epoch,
        "correct": torch.cat([correct for correct, _ in parts]).cpu(),
        "margin": torch.cat([margin for _, margin in parts]).cpu(),
    }


@dataclass(frozen=True)
class ExampleIds:
    """Each trained example's index in train.npz and whether its label was corrupted, in
    the order the whole-training-set evaluation visits them."""

    index: np.ndarray  # int32
    corrupted: np.ndarray  # int8

    @classmethod
    def of(cls, train_split, validation_fraction: float, seed: int) -> "ExampleIds":
        """From the split as loaded, before the engine holds out its validation part."""
        if launched_by_torchrun():
            raise ValueError(
                "record_examples needs a single-process run: under data-parallel training "
                "each rank evaluates only its shard (set nproc_per_node: 1)"
            )
        kept, _ = split_indices(len(train_split), validation_fraction, seed)
        true = getattr(train_split, "true_labels", None)
        if true is None:
            corrupted = np.zeros(len(kept), dtype=np.int8)
        else:
            corrupted = np.asarray(train_split.labels)[kept] != np.asarray(true)[kept]
        return cls(kept.astype(np.int32), np.asarray(corrupted, dtype=np.int8))


def examples_table(records: list[dict], ids: ExampleIds, keys: dict) -> pa.Table:
    """The run's record, one row per (evaluation, example), typed by ``schemas.EXAMPLES``."""
    n, evaluations = len(ids.index), len(records)
    for record in records:
        if len(record["correct"]) != n:
            raise ValueError(
                f"epoch {record['epoch']}: {len(record['correct'])} examples evaluated, "
                f"{n} trained on"
            )
    rows = n * evaluations

    def stacked(name: str, dtype) -> np.ndarray:
        if not records:
            return np.zeros(0, dtype=dtype)
        return torch.cat([r[name] for r in records]).numpy().astype(dtype, copy=False)

    columns = {
        key: np.full(rows, keys[key], dtype=np.int64)
        if key == "seed"
        else pa.DictionaryArray.from_arrays(np.zeros(rows, dtype=np.int8), [str(keys[key])])
        for key in RUN_KEYS
    }
    columns |= {
        "epoch": np.repeat(np.array([r["epoch"] for r in records], dtype=np.int16), n),
        "example": np.tile(ids.index, evaluations),
        "correct": stacked("correct", np.int8),
        "margin": stacked("margin", np.float16),
        "corrupted": np.tile(ids.corrupted, evaluations),
    }
    return pa.table(columns, schema=EXAMPLES)


def write_examples(table: pa.Table, path) -> None:
    """Write the record atomically (zstd: the int8 columns compress to little)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
