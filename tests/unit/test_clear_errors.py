"""Faults that used to give a bare library error: a full disk, a truncated .npz or .parquet."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from rethinkgen.data.splits import load_split, save_split
from rethinkgen.io import DamagedFileError, read_parquet, rule_logging, write_parquet
from tests.conftest import make_split
from tests.unit.test_live import metrics_frame


def test_truncated_npz_names_the_file_and_what_to_delete(tmp_path):
    path = tmp_path / "train.npz"
    save_split(make_split(n=64, h=8, w=8, c=1, seed=0), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DamagedFileError) as err:
        load_split(path)
    assert str(err.value).startswith(f"{path} cannot be read (BadZipFile") and f"rm {path}" in str(
        err.value
    )
    with pytest.raises(FileNotFoundError):  # missing is not damaged: Snakemake's own message
        load_split(tmp_path / "missing.npz")


def test_truncated_parquet_names_the_file_and_what_to_delete(tmp_path):
    path = tmp_path / "metrics.parquet"
    write_parquet(metrics_frame(2), path)
    assert len(read_parquet(path)) > 0
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DamagedFileError, match=f"{path} cannot be read .*rm {path}"):
        read_parquet(path)


def test_disk_full_from_torch_save_names_the_folder_and_the_free_space(tmp_path):
    """/dev/full fails every write with ENOSPC. torch.save through a handle (as save_model
    does) raises a bare OSError; given a path, torch says only `basic_ios::clear`."""
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(OSError) as err, rule_logging(log):
        with open("/dev/full", "wb") as handle:
            torch.save({"w": torch.zeros(100_000)}, handle)
    note = err.value.__notes__[0]
    assert note.startswith(f"disk full? writing {log.parent} failed with ") and "GiB free" in note
    assert "disk full? writing" in log.read_text()
    with pytest.raises(RuntimeError) as err, rule_logging(log):
        raise RuntimeError("basic_ios::clear: iostream error")  # the torch message
    assert "disk full? writing" in err.value.__notes__[0]


def test_disk_full_oserror_names_its_file(tmp_path):
    log = tmp_path / "job.log"
    target = tmp_path / "results" / "runs" / "model.pt"  # its folder not made yet
    with pytest.raises(OSError) as err, rule_logging(log):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    assert err.value.__notes__[0].startswith(f"disk full? writing {target} failed with ")
    assert f"on the file system of {tmp_path}." in err.value.__notes__[0]
    with pytest.raises(ValueError) as other, rule_logging(log):
        raise ValueError("an ordinary bug")
    assert not getattr(other.value, "__notes__", None)


def test_disk_full_while_torch_writes_a_checkpoint_is_noted(tmp_path, monkeypatch):
    """torch's zip writer turns the ENOSPC into its own RuntimeError (inline_container.cc):
    the note is found in the exception's context, not only in the last exception."""
    from rethinkgen.training import checkpoint

    def full_disk(state, path):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    monkeypatch.setattr(checkpoint, "_save_deterministic", full_disk)
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(RuntimeError) as err, rule_logging(log):
        checkpoint.save_checkpoint({"w": torch.zeros(3)}, tmp_path / "ckpt" / "last.pt")
    assert "inline_container" in str(err.value)
    assert err.value.__notes__[0].startswith("disk full? writing ")
    assert "disk full? writing" in log.read_text()


def test_a_truncated_train_split_names_its_file_before_training(tmp_path):
    """The training job asks whether the split is an image list before loading it."""
    from rethinkgen.training.distributed import split_is_image_list

    path = tmp_path / "train.npz"
    save_split(make_split(n=64, h=8, w=8, c=1, seed=0), path)
    assert split_is_image_list(path) is False
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DamagedFileError, match=f"{path} cannot be read .*rm {path}"):
        split_is_image_list(path)
