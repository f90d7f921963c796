"""A run's files: identical runs give byte-identical model.pt, and the temporary files of
killed writers are swept when a run starts."""

from __future__ import annotations

import logging

import torch

from rethinkgen.io import sweep_temp_files
from rethinkgen.run import RunSpec
from rethinkgen.training import cli
from rethinkgen.training.checkpoint import save_model
from tests.unit.test_cli import inputs  # noqa: F401 (fixture)
from tests.unit.test_train import run_dict

SPEC = RunSpec.from_dict(
    run_dict(max_epochs=2, batch_size=32)
    | {
        "dataset_spec": {"name": "fashion_mnist"},
        "corruption_spec": {"kind": "random_labels", "prob": 1.0},
        "data_seed": 0,
    }
)


def train_once(inputs, folder):  # noqa: F811
    paths = SPEC.paths(folder / "results")
    cli.run_training(SPEC, paths, threads=1, train=inputs[0], test=inputs[1])
    return paths.model


def test_identical_runs_write_byte_identical_model_files(inputs, tmp_path):  # noqa: F811
    first, second = train_once(inputs, tmp_path / "a"), train_once(inputs, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    save_model(state, tmp_path / "one" / "model.pt")
    save_model(state, tmp_path / "two" / "model.pt")
    assert (tmp_path / "one/model.pt").read_bytes() == (tmp_path / "two/model.pt").read_bytes()


def test_temp_files_of_killed_writers_are_swept_when_the_run_starts(inputs, tmp_path, caplog):  # noqa: F811
    folder = tmp_path / "a"
    checkpoints = SPEC.paths(folder / "results").checkpoint_dir
    run_dir = SPEC.paths(folder / "results").run_dir
    stale = [checkpoints / ".last.pt.k3j4_x.tmp", run_dir / ".metrics.parquet.q1.tmp"]
    kept = checkpoints / "notes.tmp"  # not atomic_path's naming: not ours to delete
    for path in stale + [kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    with caplog.at_level(logging.INFO):
        train_once(inputs, folder)
    assert not any(path.exists() for path in stale) and kept.exists()
    assert f"removed {stale[0]}, left by a killed writer" in caplog.text
    assert sweep_temp_files(tmp_path / "missing") == []


def test_a_run_being_trained_elsewhere_is_not_trained_twice(inputs, tmp_path):  # noqa: F811
    """Two Snakemake processes (after --unlock) give one run two jobs: the second stops,
    naming the first, and touches none of its files."""
    import pytest

    from rethinkgen.io import RunLockedError, exclusive_lock

    folder = tmp_path / "a"
    lock = SPEC.paths(folder / "results").lock
    with exclusive_lock(lock, "the first job"):
        with pytest.raises(RunLockedError, match=r"is being trained by pid \d+ on "):
            train_once(inputs, folder)
        assert not SPEC.paths(folder / "results").spec.exists()  # nothing written
    assert train_once(inputs, folder).is_file()  # the lock went with its holder
