"""What a run writes: its metrics rows (one schema, ``METRIC_COLUMNS``) and its
``run_info.json`` record, plus the one-line epoch log."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from rethinkgen.training.models import count_parameters
from rethinkgen.training.precision import precision_name

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from rethinkgen.training.engine import _Run
    from rethinkgen.training.protocol import RunState, TrainConfig

RUN_KEYS = ("dataset", "model", "corruption", "regularizer", "seed")
METRIC_COLUMNS = ["dataset", "model", "corruption", "regularizer", "seed", "epoch", "step",
                  "split", "loss", "accuracy", "top5_accuracy", "lr", "wall_time_s",
                  "images_per_s"]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip()
        return commit if out.returncode == 0 and commit else None
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def format_epoch(epoch, max_epochs, step, lr, online, train_eval, test_eval, ips) -> str:
    parts = [f"epoch {epoch:>3}/{max_epochs}", f"step {step:>7}", f"lr {lr:.5g}",
             f"loss {online['loss']:.4f}", f"train_online_acc {online['accuracy']:.4f}"]
    if train_eval is not None:
        parts.append(f"train_acc {train_eval['accuracy']:.4f} "
                     f"(loss {train_eval['loss']:.4f})")
    if test_eval is not None:
        parts.append(f"test_acc {test_eval['accuracy']:.4f} (loss {test_eval['loss']:.4f})")
    parts.append(f"{ips:,.0f} img/s")
    return " | ".join(parts)


_METRIC_DTYPES = {**{c: "string" for c in RUN_KEYS[:4] + ("split",)},
                  **{c: "int64" for c in ("seed", "epoch", "step")},
                  **{c: "float64" for c in ("loss", "accuracy", "top5_accuracy", "lr",
                                            "wall_time_s", "images_per_s")}}


def metrics_frame(rows: list[dict], cfg: TrainConfig) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[c for c in METRIC_COLUMNS if c not in RUN_KEYS])
    for position, key in enumerate(RUN_KEYS):
        df.insert(position, key, getattr(cfg, key))
    return df[METRIC_COLUMNS].astype(_METRIC_DTYPES)


def _last(metrics: pd.DataFrame, split: str) -> dict | None:
    rows = metrics[metrics["split"] == split]
    if rows.empty:
        return None
    last = rows.iloc[-1]
    return {"epoch": int(last["epoch"]), "accuracy": float(last["accuracy"]),
            "loss": float(last["loss"]),
            "top5_accuracy": None if pd.isna(last["top5_accuracy"])
            else float(last["top5_accuracy"])}


def run_info(cfg: TrainConfig, state: RunState, metrics: pd.DataFrame, run: _Run,
              started_at: str, wall_time_s: float, resumed_from_epoch) -> dict:
    import torchvision

    device = run.device
    return {
        "keys": {key: getattr(cfg, key) for key in RUN_KEYS},
        "config": cfg.run,
        "data": run.data,
        "status": state.status,
        "max_epochs": cfg.max_epochs,
        "epochs": state.epoch,
        "steps": state.step,
        "fit_criterion": {"metric": cfg.fit_metric, "threshold": cfg.fit_threshold,
                          "stop_when_fitted": cfg.stop_when_fitted},
        "fitted": state.epochs_to_fit is not None,
        "steps_to_fit": state.steps_to_fit,
        "epochs_to_fit": state.epochs_to_fit,
        "fit_held_from_epoch": state.fit_held_from_epoch,
        "best_test_accuracy": state.best_test_accuracy,
        "best_test_epoch": state.best_test_epoch,
        "final": {split: _last(metrics, split) for split in ("train_online", "train", "test")},
        "num_params": count_parameters(run.model),
        "device": str(device),
        "world_size": run.dist_ctx.world_size if run.dist_ctx else 1,
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "precision": precision_name(run.pipeline.autocast_dtype),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "cuda_version": torch.version.cuda,
        "git_commit": _git_commit(),
        "started_at": started_at,
        "finished_at": now(),
        "wall_time_s": wall_time_s,
        "resumed_from_epoch": resumed_from_epoch,
    }
