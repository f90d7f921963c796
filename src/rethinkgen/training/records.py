"""What a run writes: its metrics rows (``rethinkgen.schemas.METRICS``) and its
``run_info.json`` record, plus the one-line epoch log."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import torch

import rethinkgen
from rethinkgen.run import RUN_KEYS
from rethinkgen.schemas import METRIC_DTYPES, last_evaluation
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.state import RunState
from rethinkgen.training.user_models import model_source


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def format_epoch(epoch, max_epochs, step, lr, online, train_eval, test_eval, ips) -> str:
    parts = [
        f"epoch {epoch:>3}/{max_epochs}",
        f"step {step:>7}",
        f"lr {lr:.5g}",
        f"loss {online['loss']:.4f}",
        f"train_online_acc {online['accuracy']:.4f}",
    ]
    if train_eval is not None:
        parts.append(f"train_acc {train_eval['accuracy']:.4f} (loss {train_eval['loss']:.4f})")
    if test_eval is not None:
        parts.append(f"test_acc {test_eval['accuracy']:.4f} (loss {test_eval['loss']:.4f})")
    parts.append(f"{ips:,.0f} img/s")
    return " | ".join(parts)


def metrics_frame(rows: list[dict], cfg: TrainConfig) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[c for c in METRIC_DTYPES if c not in RUN_KEYS])
    for position, key in enumerate(RUN_KEYS):
        df.insert(position, key, getattr(cfg, key))
    return df[list(METRIC_DTYPES)].astype(METRIC_DTYPES)


def run_info(
    cfg: TrainConfig,
    state: RunState,
    metrics: pd.DataFrame,
    facts: dict,
    started_at: str,
    wall_time_s: float,
    resumed_from_epoch,
) -> dict:
    """The run's record. ``facts``: what the engine found out (data sizes, num_params,
    device, world_size, precision). Every final value carries the epoch it was measured at."""
    import torchvision

    device = torch.device(facts["device"])
    code = state.code_versions[-1]["code"] if state.code_versions else {}
    return {
        "keys": {key: getattr(cfg, key) for key in RUN_KEYS},
        "spec": cfg.spec,
        "identity": cfg.identity(),
        "data": facts["data"],
        "status": state.status,
        "max_epochs": cfg.max_epochs,
        "readout_epochs": list(cfg.readout_epochs),
        "epochs": state.epoch,
        "steps": state.step,
        "fit_criterion": {
            "metric": cfg.fit_metric,
            "threshold": cfg.fit_threshold,
            "patience": cfg.fit_patience,
            "stop_when_fitted": cfg.stop_when_fitted,
        },
        "fitted": state.epochs_to_fit is not None,
        "steps_to_fit": state.steps_to_fit,
        "epochs_to_fit": state.epochs_to_fit,
        "fit_stop_epoch": state.fit_stop_epoch,
        "fit_held_from_epoch": state.fit_held_from_epoch,
        "best_test_accuracy": state.best_test_accuracy,
        "best_test_epoch": state.best_test_epoch,
        "final": {
            split: last_evaluation(metrics, split) for split in ("train_online", "train", "test")
        },
        "num_params": facts["num_params"],
        "model_source": model_source(cfg.model_spec),
        "device": str(device),
        "world_size": facts["world_size"],
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "precision": facts["precision"],
        "rethinkgen_version": rethinkgen.__version__,  # not part of the identity
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "cuda_version": torch.version.cuda,
        "git_commit": code.get("git_commit"),
        "code_versions": state.code_versions,
        "mixed_code": len(state.code_versions) > 1,
        "started_at": started_at,
        "finished_at": now(),
        "wall_time_s": wall_time_s,
        "resumed_from_epoch": resumed_from_epoch,
    }
