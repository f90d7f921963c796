"""The run contract (rethinkgen.run, training.settings): one place for a run's paths, one
schema, stable corruption streams, and resumes that are safe across code changes."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from rethinkgen import schemas
from rethinkgen.config import canonical_spec, spec_defaults
from rethinkgen.data.corruptions import apply_corruption, stream_key
from rethinkgen.io import write_parquet
from rethinkgen.run import RUN_PATTERN, RunKeys, RunPaths
from rethinkgen.training import state as state_module
from rethinkgen.training.checkpoint import save_checkpoint
from rethinkgen.training.engine import train
from rethinkgen.training.live import epoch_hook
from rethinkgen.training.protocol import Interrupted
from tests.conftest import make_split
from tests.unit.test_train import config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def test_a_runs_paths_come_from_one_function():
    keys = RunKeys("fmnist", "mlp", "random_labels", "none", 3)
    paths = keys.paths(Path("out/results"))
    sub = Path("fmnist/mlp/random_labels/none/seed3")
    assert paths.run_dir == Path("out/results/runs") / sub
    assert paths.checkpoint == Path("out/results/checkpoints") / sub / "last.pt"
    assert paths.tensorboard == Path("out/results/tensorboard") / sub
    assert paths.log == Path("out/logs/train_model") / f"{sub}.log"
    # the rules' wildcard patterns are the same function of the same pattern
    pattern = RunPaths.of(RUN_PATTERN)
    assert pattern.pattern("metrics").format(**vars(keys)) == str(keys.paths().metrics)


def test_the_run_path_pattern_is_spelled_once():
    """`git grep -n "seed{seed}" -- src workflow` finds the pattern in one place only."""
    found = subprocess.run(
        ["git", "grep", "-n", "seed{seed}", "--", "src", "workflow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert [line.split(":")[0] for line in found] == ["src/rethinkgen/run.py"], found


@pytest.mark.parametrize(
    "spelling",
    [
        '"corruption", "regularizer", "seed"',  # the run-key list
        '"metrics.parquet"',
        '"run_info.json"',
        '"model.pt"',
        '"last.pt"',
        '"run.json"',
        '"live_metrics.parquet"',
        '"progress.json"',
        '"train.log"',
        '"run.lock"',
    ],
)
def test_the_run_keys_and_file_names_are_spelled_once(spelling):
    """The run-key list and every file name of a run are written in rethinkgen/run.py only:
    everything else takes a RunPaths (the rule's) or RUN_KEYS."""
    found = subprocess.run(
        ["git", "grep", "-n", "-F", spelling, "--", "src", "workflow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert [line.split(":")[0] for line in found] == ["src/rethinkgen/run.py"], found


def test_the_arrow_schema_is_the_only_metrics_schema(tmp_path: Path):
    """The engine's frame, the live file and metrics.parquet all have schemas.METRICS."""
    cfg = config(max_epochs=1)
    paths = RunKeys("tiny", "m", "random_labels", "r", 0).paths(tmp_path)
    result = train(
        cfg,
        make_split(n=64),
        make_split(n=32, seed=1),
        checkpoint_path=paths.checkpoint,
        on_epoch=epoch_hook(paths),
    )
    write_parquet(result.metrics, paths.metrics, schema=schemas.METRICS)
    for path in (paths.metrics, paths.live_metrics):
        assert pq.read_schema(path).remove_metadata().equals(schemas.METRICS), path
    assert dict(result.metrics.dtypes.astype(str)) == schemas.pandas_dtypes(schemas.METRICS)


def _with_new_default(schema: dict) -> dict:
    """The schema as a later version might ship it: a new corruption key with a default."""
    schema = copy.deepcopy(schema)
    schema["$defs"]["corruption"]["properties"]["new_option"] = {
        "type": "boolean",
        "default": False,
    }
    return schema


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "random_labels", "prob": 0.4},
        {"kind": "shuffled_pixels", "splits": ["train", "test"]},
        {"kind": "none"},
    ],
)
def test_the_corruption_key_is_stable_under_a_new_schema_default(spec):
    old = spec_defaults(SCHEMA)["corruptions"]
    new = spec_defaults(_with_new_default(SCHEMA))["corruptions"]
    filled_old = old | spec  # what Snakemake's validate leaves in the config
    filled_new = new | spec
    assert filled_old != filled_new
    assert (
        canonical_spec(filled_old, old)
        == canonical_spec(filled_new, new)
        == canonical_spec(spec, old)
    )
    assert stream_key(canonical_spec(filled_old, old)) == stream_key(
        canonical_spec(filled_new, new)
    )


def test_a_saved_corruption_records_the_key_that_drew_it():
    spec = {"kind": "random_labels", "prob": 0.5}
    result = apply_corruption(spec, make_split(n=50), make_split(n=10, seed=1), seed=7)
    assert result.stats["stream_key"] == f"{stream_key(spec)[0]:016x}"
    assert result.stats["spec"] == spec and result.stats["seed"] == 7


def test_a_checkpoint_that_does_not_load_is_moved_aside_and_the_run_completes(tmp_path: Path):
    """Same fingerprint, other shapes (a code update changed a layer): no crash loop."""
    cfg = config(max_epochs=2)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train(
            cfg,
            make_split(n=64),
            make_split(n=32, seed=1),
            checkpoint_path=checkpoint,
            should_stop=lambda: True,
        )
    payload = torch.load(checkpoint, weights_only=True)
    first = next(iter(payload["model"]))
    payload["model"][first] = torch.zeros(3, 3)  # a weight of another shape
    save_checkpoint(payload, checkpoint)
    result = train(cfg, make_split(n=64), make_split(n=32, seed=1), checkpoint_path=checkpoint)
    assert result.info["epochs"] == 2 and result.info["resumed_from_epoch"] is None
    assert list(tmp_path.glob("last.pt.refused-*"))


def test_a_resume_across_a_code_change_is_recorded(tmp_path: Path, monkeypatch):
    cfg = config(max_epochs=3)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train(
            cfg,
            make_split(n=64),
            make_split(n=32, seed=1),
            checkpoint_path=checkpoint,
            should_stop=lambda: True,
        )
    changed = dict(state_module.code_identity(), source_sha256="0" * 64)
    monkeypatch.setattr("rethinkgen.training.engine.code_identity", lambda: changed)
    info = train(cfg, make_split(n=64), make_split(n=32, seed=1), checkpoint_path=checkpoint).info
    assert info["mixed_code"] is True and info["resumed_from_epoch"] == 1
    assert [v["from_epoch"] for v in info["code_versions"]] == [1, 2]
    assert info["code_versions"][-1]["code"] == changed


def test_a_stop_request_checkpoints_even_between_scheduled_checkpoints(tmp_path: Path):
    """checkpoint_every 5 and a stop after epoch 1: the checkpoint the log announces exists."""
    cfg = dataclasses.replace(config(max_epochs=6), checkpoint_every=5)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train(
            cfg,
            make_split(n=64),
            make_split(n=32, seed=1),
            checkpoint_path=checkpoint,
            should_stop=lambda: True,
        )
    assert torch.load(checkpoint, weights_only=True)["state"]["epoch"] == 1
    resumed = train(cfg, make_split(n=64), make_split(n=32, seed=1), checkpoint_path=checkpoint)
    assert resumed.info["resumed_from_epoch"] == 1 and resumed.info["epochs"] == 6


def test_scheduling_settings_leave_the_fingerprint_alone():
    base = config(max_epochs=2)
    for change in (
        {"num_threads": 2},
        {"eval_batch_size": 7},
        {"checkpoint_every": 3},
        {"tensorboard": True},
        {"device": "cpu"},
    ):
        assert dataclasses.replace(base, **change).fingerprint() == base.fingerprint(), change
    assert dataclasses.replace(base, batch_size=64).fingerprint() != base.fingerprint()
    assert json.loads(base.fingerprint())["max_epochs"] == 2


def test_metrics_frame_dtypes_derive_from_arrow():
    assert schemas.pandas_dtypes(schemas.METRICS)["seed"] == "int64"
    frame = pd.DataFrame(columns=schemas.METRIC_COLUMNS).astype(schemas.METRIC_DTYPES)
    assert list(frame.columns) == schemas.METRICS.names


def test_replicates_can_draw_their_own_data():
    from rethinkgen.config import run_spec

    config = {
        "data_seed": 100,
        "seeds": [0, 1],
        "training": {"max_epochs": 2},
        "datasets": {"d": {"name": "fashion_mnist", "n_train": 10}},
        "models": {"m": {"arch": "mlp", "hidden": [4], "lr": 0.1}},
        "corruptions": {"c": {"kind": "random_labels", "prob": 1.0}},
        "regularizers": {"r": {}},
        "experiments": {},
    }
    seeds = [run_spec(config, RunKeys("d", "m", "c", "r", s)).data_seed for s in (0, 1)]
    assert seeds == [100, 100]  # by default every replicate shares the data draw
    config["replicate_data_seeds"] = True
    specs = [run_spec(config, RunKeys("d", "m", "c", "r", s)) for s in (0, 1)]
    assert [s.data_seed for s in specs] == [100, 101]
    assert specs[0].identity() != specs[1].identity()


def test_a_user_models_file_digest_is_part_of_the_run_identity(tmp_path, monkeypatch):
    from rethinkgen.config import _source_of, run_spec

    module = tmp_path / "my_identity_net.py"
    module.write_text(
        "from torch import nn\n\ndef build(num_classes, input_shape):\n"
        "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {
        "data_seed": 1,
        "training": {"max_epochs": 2},
        "experiments": {},
        "datasets": {"d": {"name": "fashion_mnist"}},
        "models": {"m": {"arch": "python", "factory": "my_identity_net:build", "lr": 0.1}},
        "corruptions": {"c": {"kind": "none"}},
        "regularizers": {"r": {}},
    }
    keys = RunKeys("d", "m", "c", "r", 0)
    before = run_spec(config, keys).identity()
    assert before["model_source"]["factory"] == "my_identity_net:build"
    assert "file" not in before["model_source"]  # no machine paths in an identity
    module.write_text(module.read_text() + "# edited\n")
    _source_of.cache_clear()
    import sys

    sys.modules.pop("my_identity_net", None)
    assert run_spec(config, keys).identity()["model_source"] != before["model_source"]
