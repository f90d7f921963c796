"""The status table survives damaged files, names a missing results folder, and does not
take a reused pid for a live run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rethinkgen import process_identity
from rethinkgen.cli import main as rethinkgen
from rethinkgen.io import read_json, write_json
from rethinkgen.status import grid_status, render_table, summary_line
from tests.unit.test_status import NOW, REPO, plant_progress, plant_run_info, run_of


def test_truncated_progress_and_corrupt_parquet_show_in_their_rows(tmp_path: Path):
    results = tmp_path / "results"
    truncated, corrupt, bad_info, good = (run_of(n) for n in ("a", "b", "c", "d"))
    files = plant_progress(truncated, results, 2)
    files.progress.write_text(files.progress.read_text()[:25])  # killed mid-copy, say
    files = plant_progress(corrupt, results, 2)
    files.live_metrics.write_bytes(files.live_metrics.read_bytes()[:100])
    files = plant_run_info(bad_info, results, "fitted", 3, 3)
    files.info.write_text('{"status": ')
    plant_run_info(good, results, "fitted", 3, 3)
    statuses = grid_status([truncated, corrupt, bad_info, good], results, now=NOW)
    details = [s.detail for s in statuses]
    assert (
        details[0].startswith(f"unreadable: {results}/checkpoints/")
        and "progress.json" in details[0]
    )
    assert details[1].startswith("unreadable: ") and "live_metrics.parquet" in details[1]
    assert "run_info.json" in details[2] and details[3] == "stopped at fit, epoch 3"
    assert "delete it and rerun" in render_table(statuses)
    assert "3 unreadable" in summary_line(statuses)


def test_missing_results_folder_is_named_in_a_warning(tmp_path: Path, capsys):
    rethinkgen(
        [
            "status",
            "--configfile",
            str(REPO / "config/smoke.yaml"),
            "--results",
            str(tmp_path / "nope"),
            "--experiment",
            "fig1a",
        ]
    )
    captured = capsys.readouterr()
    assert f"warning: the results folder {tmp_path / 'nope'} does not exist" in captured.err
    assert "not started" in captured.out


def test_a_reused_pid_is_not_a_live_run(tmp_path: Path):
    results = tmp_path / "results"
    run = run_of("a")
    files = plant_progress(run, results, 2)  # this test's own pid: alive
    record = read_json(files.progress) | process_identity.current()
    write_json(record, files.progress)
    assert grid_status([run], results, now=NOW)[0].state == "running"
    # Same pid, but the process recorded had started at another time: the pid was reused.
    write_json(record | {"pid_started": record["pid_started"] + 1}, files.progress)
    assert grid_status([run], results, now=NOW)[0].state == "failed"
    # Same pid and start ticks, but another boot: every pid is new since.
    write_json(record | {"boot_id": "another-boot"}, files.progress)
    assert grid_status([run], results, now=NOW)[0].state == "failed"


def test_identity_of_this_process_is_recorded_by_the_live_files():
    from rethinkgen.training.live import progress_record

    record = progress_record(
        {
            "epoch": 1,
            "max_epochs": 2,
            "step": 3,
            "status": None,
            "epochs_to_fit": None,
            "wall_time_s": 1.0,
        }
    )
    assert record["pid"] == os.getpid() and record["pid_started"] == process_identity.start_ticks(
        os.getpid()
    )
    assert record["boot_id"] == process_identity.boot_id() and json.dumps(record)
