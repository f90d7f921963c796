"""A finished run as the exporters see it: its keys, its identity settings flattened to
scalars, its final metrics and its per-epoch metrics."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rethinkgen.io import UNREADABLE_FILE_ERRORS, DamagedFileError, read_json, read_parquet
from rethinkgen.run import RUN_KEYS, RunPaths


@dataclass(frozen=True)
class FinishedRun:
    name: str  # dataset/model/corruption/regularizer/seedN, the run's folder below runs/
    directory: Path
    info: dict  # run_info.json
    metrics: pd.DataFrame  # metrics.parquet
    digest: str  # of both files: an export is redone only when they change

    def params(self) -> dict[str, str | int | float | bool]:
        """The run's keys and identity (run_info's `identity`), one flat level."""
        return {
            **{k: self.info["keys"][k] for k in RUN_KEYS},
            **flatten(self.info.get("identity", {})),
        }

    def final_metrics(self) -> dict[str, float]:
        """End-of-training accuracies and losses per split, each with the epoch it was
        measured at (final/<split>_epoch), fit and size, as numbers."""
        found = {}
        for split, last in (self.info.get("final") or {}).items():
            for name in ("accuracy", "loss", "epoch"):
                if last and last.get(name) is not None:
                    found[f"final/{split}_{name}"] = float(last[name])
        for name in ("epochs_to_fit", "steps_to_fit", "best_test_accuracy", "num_params", "epochs"):
            if self.info.get(name) is not None:
                found[f"final/{name}"] = float(self.info[name])
        found["final/fitted"] = float(bool(self.info.get("fitted")))
        return found


def flatten(settings: dict, prefix: str = "") -> dict:
    """Nested settings as `a.b` keys; lists and None as text (trackers take scalars only)."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def finished_runs(results: str | Path, skipped: list[str] | None = None) -> list[FinishedRun]:
    """Every run under results/runs with both its run_info.json and metrics.parquet.

    A run whose files cannot be read (truncated, damaged, not a run's) is left out, with
    one line saying which file and what to do appended to ``skipped`` (if given)."""
    root = Path(results) / "runs"
    found = []
    for paths in RunPaths.found(results):
        if not paths.metrics.is_file():
            continue
        name = str(paths.run_dir.relative_to(root))
        try:
            info = read_json(paths.info)
            if not isinstance(info, dict) or not isinstance(info.get("keys"), dict):
                raise ValueError("not a run's run_info.json (no `keys`)")
            metrics = read_parquet(paths.metrics)
        except (*UNREADABLE_FILE_ERRORS, DamagedFileError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if skipped is not None:
                skipped.append(
                    f"skipped {name}: {reason}. Rebuild it "
                    f"(delete {paths.run_dir} and rerun snakemake), then export again"
                )
            continue
        digest = hashlib.sha256(paths.info.read_bytes() + paths.metrics.read_bytes()).hexdigest()
        found.append(FinishedRun(name, paths.run_dir, info, metrics, digest))
    return found
