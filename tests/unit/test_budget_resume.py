"""No wasted work (issue 30 item 9): extending a run's budget resumes it from its
checkpoint; a refused checkpoint names the settings that differ; a user model's helper
edited mid-run refuses the checkpoint, naming why; the settings' defaults are pinned."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from rethinkgen.training.engine import train
from rethinkgen.training.protocol import Interrupted
from rethinkgen.training.settings import IDENTITY_SETTINGS, TrainConfig, field_defaults
from tests.conftest import make_split
from tests.unit.test_train import config


def _interrupted_after_one_epoch(cfg: TrainConfig, checkpoint: Path) -> None:
    with pytest.raises(Interrupted):
        train(
            cfg,
            make_split(n=64),
            make_split(n=32, seed=1),
            checkpoint_path=checkpoint,
            should_stop=lambda: True,
        )


def _train(cfg: TrainConfig, checkpoint: Path):
    return train(cfg, make_split(n=64), make_split(n=32, seed=1), checkpoint_path=checkpoint)


def test_extending_max_epochs_resumes_at_the_last_epoch(tmp_path):
    checkpoint = tmp_path / "last.pt"
    _interrupted_after_one_epoch(config(max_epochs=2), checkpoint)
    longer = dataclasses.replace(config(max_epochs=3), readout_epochs=(3,))
    result = _train(longer, checkpoint)
    assert result.info["resumed_from_epoch"] == 1 and result.info["epochs"] == 3
    straight = _train(longer, tmp_path / "other.pt")
    assert result.metrics.equals(
        straight.metrics.assign(
            wall_time_s=result.metrics["wall_time_s"], images_per_s=result.metrics["images_per_s"]
        )
    )


def test_a_budget_below_the_epoch_reached_starts_over(tmp_path, caplog):
    checkpoint = tmp_path / "last.pt"
    cfg = config(max_epochs=3)
    with pytest.raises(Interrupted):
        calls = iter([False, True])
        train(
            cfg,
            make_split(n=64),
            make_split(n=32, seed=1),
            checkpoint_path=checkpoint,
            should_stop=lambda: next(calls),
        )
    with caplog.at_level(logging.WARNING):
        result = _train(config(max_epochs=1), checkpoint)
    assert result.info["resumed_from_epoch"] is None and result.info["epochs"] == 1
    assert "past this run's max_epochs 1" in caplog.text


def test_a_refused_checkpoint_names_the_settings_that_differ(tmp_path, caplog):
    checkpoint = tmp_path / "last.pt"
    _interrupted_after_one_epoch(config(max_epochs=2), checkpoint)
    other = dataclasses.replace(config(max_epochs=2), lr_decay=0.5, data_digest="abc")
    with caplog.at_level(logging.WARNING):
        result = _train(other, checkpoint)
    assert result.info["resumed_from_epoch"] is None
    assert "it differs from this run's in data_digest (the input files" in caplog.text
    assert "lr_decay (0.95 -> 0.5)" in caplog.text


def test_differences_and_resumes():
    cfg = config(max_epochs=2)
    assert cfg.differences(cfg.fingerprint()) == [] and cfg.resumes(cfg.fingerprint())
    longer = dataclasses.replace(cfg, max_epochs=5)
    assert longer.differences(cfg.fingerprint()) == ["max_epochs"]
    assert longer.resumes(cfg.fingerprint())
    assert not dataclasses.replace(cfg, lr=0.5).resumes(cfg.fingerprint())
    assert cfg.differences("not json") is None and not cfg.resumes(None)


# Every identity setting's default. A default changed in the code changes what a run
# computes without changing its identity (identities leave defaults out), so a new seed
# would train under the new default beside old seeds. Change one only together with a
# way for old runs to keep theirs, then update this table.
PINNED_DEFAULTS = {
    "seed": 0,
    "dataset": "",
    "model": "",
    "corruption": "",
    "regularizer": "",
    "weight_decay": 0.0,
    "weight_decay_scope": "weights",
    "weight_decay_decoupled": False,  # new (issue 28): off, so no existing run changes
    "dropout": 0.0,
    "random_crop": False,
    "augment": False,
    "batch_size": 128,
    "momentum": 0.9,
    "lr_decay": 0.95,
    "lr_decay_every_steps": None,
    "max_epochs": 150,
    "lr_warmup_epochs": 0,
    "fit_metric": "online_loss",
    "fit_threshold": 0.1,
    "stop_when_fitted": False,
    "min_epochs": 0,
    "fit_patience": 1,
    "eval_train_every": 1,
    "eval_test_every": 1,
    "validation_fraction": 0.0,
    "test_halves": False,  # new (issue 28): off, so no existing run changes
    "record_examples": False,  # new (issue 32): off, so no existing run changes
    "readout_epochs": (),
    "score_at_fit": False,
    "crop_size": 28,
    "whiten": True,
    "rotation_degrees": 25.0,
    "divergence_loss": 1.0e3,
    "eval_initial": True,
    "amp": "off",
    "image_size": 299,
    "data_digest": "",
}


def test_identity_defaults_are_pinned():
    defaults = field_defaults()
    assert {k: defaults[k] for k in IDENTITY_SETTINGS if k in defaults} == PINNED_DEFAULTS
    assert set(IDENTITY_SETTINGS) == set(PINNED_DEFAULTS) | {"model_spec", "lr"}


def test_the_default_profile_leaves_out_the_script_mtime_trigger():
    """Snakemake's `code` trigger compares a script's mtime with its outputs': a checkout
    touching workflow/scripts/train_model.py would retrain every finished run."""
    import yaml

    profile = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "profiles/default/config.yaml").read_text()
    )
    assert profile["rerun-triggers"] == ["mtime", "params", "input", "software-env"]
