"""Checkpoints are loaded only when intact, plain data and this run's; others are moved aside."""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from rethinkgen.training.checkpoint import (
    capture_rng_states,
    checksum_path,
    load_checkpoint,
    remove_checkpoint,
    restore_rng_states,
    save_checkpoint,
)


def payload(fingerprint: str = "run-a") -> dict:
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    return {
        "fingerprint": fingerprint,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": capture_rng_states({"data": torch.Generator().manual_seed(1)}),
        "state": {
            "epoch": 3,
            "step": 12,
            "status": None,
            "wall_time_s": 1.5,
            "rows": [{"split": "train", "loss": 0.5, "accuracy": 0.25}],
        },
    }


def refused_files(folder: Path) -> list[str]:
    """Names of the files moved aside, without their ``.refused-<UTC time>`` part."""
    return sorted(
        re.sub(r"\.refused-\d{8}T\d{6}\.\d{6}Z", "", p.name)
        for p in folder.iterdir()
        if ".refused-" in p.name
    )


class PlantedPayload:
    """Unpickling this (without weights_only) creates the marker file: code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_round_trip_with_rng_states_under_weights_only(tmp_path):
    path = tmp_path / "last.pt"
    saved = payload()
    save_checkpoint(saved, path)
    loaded = load_checkpoint(path, fingerprint="run-a")
    assert loaded["state"] == saved["state"]
    assert torch.equal(loaded["model"]["weight"], saved["model"]["weight"])
    gen = torch.Generator()
    restore_rng_states(loaded["rng"], {"data": gen})
    assert torch.equal(gen.get_state(), saved["rng"]["generators"]["data"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_planted_pickle_does_not_execute_and_is_moved_aside(tmp_path, caplog):
    marker = tmp_path / "planted-code-ran"
    path = tmp_path / "last.pt"
    with open(path, "wb") as handle:  # a plain pickle, no checksum
        pickle.dump({"fingerprint": "run-a", "model": PlantedPayload(marker)}, handle)
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, fingerprint="run-a") is None
    assert not marker.exists()
    assert not path.exists() and refused_files(tmp_path) == ["last.pt"]
    assert "no checksum file" in caplog.text and "moved it to" in caplog.text


def test_planted_torch_pickle_with_forged_checksum_does_not_execute(tmp_path, caplog):
    # Whoever can write last.pt can write its checksum too: weights_only is the real guard.
    marker = tmp_path / "planted-code-ran"
    path = tmp_path / "last.pt"
    save_checkpoint({"fingerprint": "run-a", "model": PlantedPayload(marker)}, path)
    assert not marker.exists()  # saving only pickles
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, fingerprint="run-a") is None
    assert not marker.exists()
    assert refused_files(tmp_path) == ["last.pt", "last.pt.sha256"]
    assert "not a plain tensor checkpoint" in caplog.text and "io.open" in caplog.text


def test_bit_flipped_checkpoint_is_refused(tmp_path, caplog):
    path = tmp_path / "last.pt"
    save_checkpoint(payload(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, fingerprint="run-a") is None
    assert "does not match its checksum" in caplog.text
    assert refused_files(tmp_path) == ["last.pt", "last.pt.sha256"]


def test_other_fingerprint_is_refused_and_moved_aside(tmp_path, caplog):
    path = tmp_path / "last.pt"
    save_checkpoint(payload("run-a"), path)
    original = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, fingerprint="run-b") is None
    assert "another configuration" in caplog.text
    (moved,) = [
        p
        for p in tmp_path.iterdir()
        if p.name.startswith("last.pt.refused-") and not p.name.endswith(".sha256")
    ]
    assert moved.read_bytes() == original  # kept for inspection, never deleted
    assert load_checkpoint(path, fingerprint="run-b") is None  # nothing left to resume


def test_missing_checkpoint_is_none_and_moves_nothing(tmp_path):
    assert load_checkpoint(tmp_path / "last.pt", fingerprint="x") is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("killed_after", ["sidecar_extended", "checkpoint_replaced"])
def test_kill_between_checkpoint_and_checksum_leaves_a_loadable_checkpoint(
    tmp_path, monkeypatch, killed_after
):
    path = tmp_path / "last.pt"
    save_checkpoint(payload("run-a"), path)
    writes = []
    real_replace = os.replace

    # save_checkpoint replaces: the checksum file ([new, old]), the checkpoint, the checksum
    # file ([new]). "SIGKILL" (an exception nothing catches) right after the chosen step.
    dies_after = {"sidecar_extended": 1, "checkpoint_replaced": 2}[killed_after]

    def dying_replace(src, dst):
        real_replace(src, dst)
        writes.append(Path(dst).name)
        if len(writes) == dies_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", dying_replace)
    newer = payload("run-a") | {"state": {"epoch": 4}}
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(newer, path)
    monkeypatch.undo()
    loaded = load_checkpoint(path, fingerprint="run-a")
    assert loaded is not None
    expected_epoch = 3 if killed_after == "sidecar_extended" else 4
    assert loaded["state"]["epoch"] == expected_epoch


def test_remove_checkpoint_removes_the_checksum_too(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(payload(), path)
    remove_checkpoint(path)
    assert not path.exists() and not checksum_path(path).exists()
