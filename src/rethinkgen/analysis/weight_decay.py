"""Why did AlexNet with weight decay fail to fit random labels (the paper's Table 4)?

A sweep over the weight-decay coefficient, its scope (conv and linear kernels, as TF-slim
regularizes; the hidden fully connected kernels only, as the TF cifar10 tutorial does; or
every parameter), the training-set size and true labels against random ones; each run
ends fitted, diverged or stalled (neither within its budget).

How far weight decay alone could shrink the weights. PyTorch's SGD with momentum m keeps
v <- m v + g + wd w and w <- w - lr v. With no loss gradient (g = 0) this is a linear
recurrence in (w, v) whose slow mode shrinks w by about lr wd / (1 - m) per step, ten
times faster at m = 0.9 than the lr wd of plain SGD: the timescale is (1 - m) / (lr wd)
steps, 2,500 at lr 0.01 and wd 4e-3. Under a learning rate multiplied by `decay` every S
steps the summed learning rate of a whole run is at most lr0 S / (1 - decay) (78 for the
paper's 0.01, 391 steps, 0.95), so even an endless run can shrink the weights by at most
1 - exp(-wd lr0 S / ((1 - decay)(1 - m))).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rethinkgen.run import RUN_KEYS as _RUN_KEYS

RUN_KEYS = list(_RUN_KEYS)


def decay_factor(step_lrs, weight_decay: float, momentum: float) -> float:
    """w_T / w_0 of PyTorch SGD with momentum under weight decay alone (zero loss gradient),
    exactly, for the learning rate of each step (the first step's buffer is the gradient)."""
    w, v = 1.0, None
    for lr in step_lrs:
        grad = weight_decay * w
        v = grad if v is None else momentum * v + grad
        w -= lr * v
    return w


def decay_shrink(summed_lr: float, weight_decay: float, momentum: float) -> float:
    """1 - exp(-wd sum(lr) / (1 - m)): the momentum-aware shrink of the slow mode."""
    return 1.0 - math.exp(-weight_decay * summed_lr / (1.0 - momentum))


def summed_lr_bound(lr0: float, decay: float, decay_every_steps: float) -> float:
    """Upper bound on a whole run's summed learning rate: lr0 S / (1 - decay)."""
    return lr0 * decay_every_steps / (1.0 - decay)


def step_lrs(curves: pd.DataFrame) -> np.ndarray:
    """Each optimizer step's learning rate, from a run's train_online rows (lr per epoch)."""
    online = curves[curves["split"] == "train_online"].sort_values("epoch")
    steps = np.diff(np.concatenate([[0], online["step"].to_numpy()]))
    return np.repeat(online["lr"].to_numpy(), steps)


def norms_frame(infos: list[dict]) -> pd.DataFrame:
    """Long form of the weight norms (and, where weight decay acted, the epoch-mean loss
    gradient norms) each run_info.json logged per epoch; ``decayed`` marks the parameters
    weight decay acted on."""
    rows = []
    for info in infos:
        decayed = set(info.get("decayed_parameters", []))
        for e in info.get("weight_norms", []):
            gradients = e.get("gradient_norms", {})
            for name, norm in e["norms"].items():
                rows.append(
                    {
                        **info["keys"],
                        "epoch": e["epoch"],
                        "step": e["step"],
                        "parameter": name,
                        "norm": norm,
                        "gradient_norm": gradients.get(name, np.nan),
                        "decayed": name in decayed,
                    }
                )
    if not rows:
        raise ValueError(
            "no run logged weight norms: retrain the weight-decay runs with this "
            "version (run_info.json gains `weight_norms`)"
        )
    return pd.DataFrame(rows)


def equilibrium(norms: pd.DataFrame, wd: float, momentum: float, decoupled: bool) -> dict:
    """At the last logged epoch, over the decayed parameters: their measured norm and the
    equilibrium norm ||mean g|| / wd_eff that a persistent loss gradient g predicts
    (wd_eff = wd coupled, wd (1 - m) decoupled: SGDW keeps decay out of the momentum)."""
    decayed = norms[norms["decayed"]]
    if wd == 0 or decayed.empty:
        return {"decayed_norm": np.nan, "equilibrium_norm": np.nan}
    last = decayed[decayed["epoch"] == decayed["epoch"].max()]
    effective = wd * (1 - momentum) if decoupled else wd
    return {
        "decayed_norm": float(np.sqrt((last["norm"] ** 2).sum())),
        "equilibrium_norm": float(np.sqrt((last["gradient_norm"] ** 2).sum())) / effective,
    }


def kernel_norms(norms: pd.DataFrame) -> pd.DataFrame:
    """Per run and epoch, the L2 norm of all kernels together (parameters named *weight)."""
    kernels = norms[norms["parameter"].str.endswith("weight")]
    total = kernels.groupby(RUN_KEYS + ["epoch", "step"])["norm"].apply(
        lambda x: float(np.sqrt((x**2).sum()))
    )
    return total.rename("kernel_norm").reset_index()


def outcome(run) -> str:
    if run["status"] == "diverged":
        return "diverged"
    return "fitted" if run["fitted"] else "stalled"


def _norm_facts(kernels: pd.DataFrame) -> dict:
    """Final kernel norm over its first log (end of epoch 1), and its change over the last
    fifth of the run's steps (near 0: a plateau)."""
    kernels = kernels.sort_values("step")
    first, last = kernels["kernel_norm"].iloc[0], kernels["kernel_norm"].iloc[-1]
    late = kernels[kernels["step"] >= 0.8 * kernels["step"].max()]["kernel_norm"]
    return {"kernel_norm_ratio": last / first, "late_norm_change": last / late.iloc[0] - 1}


def weight_decay_table(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    norms: pd.DataFrame,
    regularizers: dict,
    schedules: dict[tuple, dict],
) -> pd.DataFrame:
    """One row per run: its cell (n, BatchNorm, decay kind, scope, coefficient), labels,
    outcome, summed lr, the decay-only shrink (exact and its whole-run bound), the logged
    kernel norms and the decayed parameters' norm beside the predicted equilibrium.
    ``regularizers`` and ``schedules`` (each run's momentum and lr schedule, by its
    keys) are what the runs recorded (analysis/run_settings.py)."""
    kernels = kernel_norms(norms)
    rows = []
    for run in runs.itertuples(index=False):
        keys = {k: getattr(run, k) for k in RUN_KEYS}
        schedule = schedules[tuple(keys.values())]
        mask = np.logical_and.reduce([curves[k] == v for k, v in keys.items()])
        lrs = step_lrs(curves[mask])
        wd = float(run.weight_decay)
        spec = regularizers[run.regularizer]
        decoupled = bool(spec.get("weight_decay_decoupled", False)) and wd > 0
        kmask = np.logical_and.reduce([kernels[k] == v for k, v in keys.items()])
        nmask = np.logical_and.reduce([norms[k] == v for k, v in keys.items()])
        rows.append(
            {
                **keys,
                "data_seed": getattr(run, "data_seed", np.nan),
                "n_train": run.n_train,
                "batch_norm": bool(getattr(run, "batch_norm", False)),
                "decay": "-" if wd == 0 else ("decoupled" if decoupled else "coupled"),
                "weight_decay": wd,
                "weight_decay_scope": spec.get("weight_decay_scope", "weights") if wd > 0 else "-",
                "momentum": schedule["momentum"],
                "outcome": outcome(run._asdict()),
                "fitted": bool(run.fitted) and run.status != "diverged",
                "epochs_to_fit": run.epochs_to_fit,
                "budget": int(getattr(run, "budget", run.max_epochs)),
                "steps": run.steps,
                "summed_lr": float(lrs.sum()),
                "decay_shrink": 1 - decay_factor(lrs, wd, schedule["momentum"]),
                "decay_shrink_bound": decay_shrink(
                    summed_lr_bound(
                        float(lrs[0]) if len(lrs) else 0.0,
                        float(schedule["lr_decay"]),
                        schedule["lr_decay_every_steps"],
                    ),
                    wd,
                    schedule["momentum"],
                ),
                **_norm_facts(kernels[kmask]),
                **equilibrium(norms[nmask], wd, schedule["momentum"], decoupled),
                "final_train_accuracy": run.final_train_accuracy,
            }
        )
    return pd.DataFrame(rows).sort_values(CELL + ["corruption", "seed"])


def norm_curves(table: pd.DataFrame, norms: pd.DataFrame) -> pd.DataFrame:
    """Per run and epoch: the kernels' norm, and the decayed parameters' norm beside the
    equilibrium norm their epoch-mean gradient predicts (the figure's data)."""
    kernels = kernel_norms(norms)
    decayed = norms[norms["decayed"]].assign(
        norm2=lambda f: f["norm"] ** 2, gradient2=lambda f: f["gradient_norm"] ** 2
    )
    per_epoch = (
        decayed.groupby(RUN_KEYS + ["epoch"])[["norm2", "gradient2"]].sum(min_count=1).reset_index()
    )
    out = kernels.merge(per_epoch, on=RUN_KEYS + ["epoch"], how="left")
    cells = table[RUN_KEYS + [c for c in CELL if c not in RUN_KEYS] + ["momentum"]]
    out = out.merge(cells, on=RUN_KEYS)
    effective = np.where(
        out["decay"] == "decoupled",
        out["weight_decay"] * (1 - out["momentum"]),
        out["weight_decay"],
    )
    out["decayed_norm"] = np.sqrt(out["norm2"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["equilibrium_norm"] = np.where(
            effective > 0, np.sqrt(out["gradient2"]) / effective, np.nan
        )
    return out.drop(columns=["norm2", "gradient2"])


# A claim's cell: training-set size, BatchNorm, decay kind, scope and coefficient.
CELL = ["n_train", "batch_norm", "decay", "weight_decay_scope", "weight_decay"]
GROUP = ["corruption", *CELL]
