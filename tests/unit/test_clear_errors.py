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
