"""What each run trained with, read from the spec its run_info.json recorded.

An analysis that needs a run's settings (its model's width and activation, its
regularizer, its momentum and lr schedule, its budget) reads them here, never from the
workflow config: a model or regularizer may override the global training settings, and the
config may have changed since the run trained. The settings are resolved as the engine
resolved them (``TrainConfig.from_dict`` on the recorded spec: defaults filled in,
per-model and per-regularizer values applied).
"""

from __future__ import annotations

import json
import math

from rethinkgen.run import RUN_KEYS
from rethinkgen.training.settings import TrainConfig

SPEC_FIELDS = {"model": "model_spec", "regularizer": "regularizer_spec"}


def run_key(info: dict) -> tuple:
    """The run's keys, in RUN_KEYS order (the index of the per-run tables)."""
    return tuple(info["keys"][key] for key in RUN_KEYS)


def settings_of(info: dict) -> TrainConfig:
    """The resolved settings the run trained with."""
    if "spec" not in info:
        raise ValueError(f"run_info.json of {run_key(info)} has no recorded spec")
    return TrainConfig.from_dict(info["spec"])


def recorded_specs(infos: list[dict], section: str) -> dict[str, dict]:
    """{model (or regularizer) key: the spec its runs recorded}; a key whose runs recorded
    different specs (the config changed between them) is refused."""
    field = SPEC_FIELDS[section]
    specs: dict[str, dict] = {}
    for info in infos:
        key, spec = info["keys"][section], info["spec"][field]
        if specs.setdefault(key, spec) != spec:
            raise ValueError(
                f"{section} '{key}' trained with two specs: {json.dumps(specs[key])} and "
                f"{json.dumps(spec)}; retrain the older runs or give them another key"
            )
    return specs


def steps_between_decays(settings: TrainConfig, n_train: int) -> int:
    """Steps between two lr decays: ``lr_decay_every_steps``, else one epoch of this run
    (the schedule of rethinkgen.training.protocol.epoch_lr)."""
    return settings.lr_decay_every_steps or math.ceil(n_train / settings.batch_size)


def schedule_of(info: dict) -> dict:
    """The momentum and lr schedule a run trained with."""
    settings = settings_of(info)
    return {
        "momentum": settings.momentum,
        "lr_decay": settings.lr_decay,
        "lr_decay_every_steps": steps_between_decays(settings, info["data"]["n_train"]),
    }


def schedules(infos: list[dict]) -> dict[tuple, dict]:
    """:func:`schedule_of` of each run, by its keys."""
    return {run_key(info): schedule_of(info) for info in infos}
