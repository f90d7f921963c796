"""Status checks what it shows (issue 30 item 8): a finished run whose recorded identity
differs from the config's is outdated and counted apart; a progress stamp in the future or
from a silent host is stale, with its age, not running."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from rethinkgen.cli import load_checked_config, schema_dir
from rethinkgen.config import all_runs, run_spec, spec_defaults
from rethinkgen.io import read_json, write_json
from rethinkgen.status import failure_notes, grid_status, identity_changes, summary_line
from tests.unit.test_status import NOW, plant_progress, plant_run_info, run_of

ROOT = Path(__file__).resolve().parents[2]


def _defaults() -> dict:
    return spec_defaults(yaml.safe_load((schema_dir() / "config.schema.yaml").read_text()))


def test_a_run_trained_before_an_lr_change_is_outdated(tmp_path):
    config = load_checked_config([str(ROOT / "config/smoke.yaml")])
    defaults = _defaults()
    runs = all_runs(config)[:2]
    for run in runs:
        files = plant_run_info(run, tmp_path, "max_epochs", 3, None)
        info = read_json(files.info)
        info["spec"] = run_spec(config, run, defaults).to_dict()
        write_json(info, files.info)
    statuses = grid_status(
        runs, tmp_path, now=NOW, expected=lambda r: run_spec(config, r, defaults).identity()
    )
    assert [s.state for s in statuses] == ["finished", "finished"]
    changed = copy.deepcopy(config)
    changed["models"][runs[0].model]["lr"] = 0.5
    statuses = grid_status(
        runs, tmp_path, now=NOW, expected=lambda r: run_spec(changed, r, defaults).identity()
    )
    outdated = [s for s in statuses if s.state == "outdated"]
    assert outdated and "since then changed: lr, model_spec" in outdated[0].detail
    assert "snakemake retrains it" in outdated[0].detail
    line = summary_line(statuses)
    assert line.startswith(f"{2 - len(outdated)} of 2 runs finished")
    assert line.endswith(f", {len(outdated)} outdated")
    assert any("outdated:" in note for note in failure_notes(statuses))


def test_changed_data_files_are_named():
    spec = {
        "dataset": "d",
        "model": "m",
        "corruption": "c",
        "regularizer": "r",
        "seed": 0,
        "data_seed": 0,
        "dataset_spec": {"name": "npz", "root": "d.npz", "content_sha256": "old"},
        "model_spec": {"arch": "mlp", "hidden": [4], "lr": 0.1},
        "corruption_spec": {"kind": "none"},
        "regularizer_spec": {},
        "training": {"max_epochs": 2},
    }
    from rethinkgen.run import RunSpec

    expected = RunSpec.from_dict(
        {**spec, "dataset_spec": {**spec["dataset_spec"], "content_sha256": "new"}}
    ).identity()
    assert identity_changes({"spec": spec}, expected) == ["the dataset's files"]
    assert identity_changes({}, expected) is None  # run_info without a spec: not judged


def test_a_progress_stamp_in_the_future_is_stale_not_running(tmp_path):
    run = run_of("true_labels")
    plant_progress(run, tmp_path, 4, host="gpu-node-3", age_s=-6 * 3600)
    status = grid_status([run], tmp_path, now=NOW)[0]
    assert status.state == "stale"
    assert status.detail == (
        "stale, last seen at epoch 4 of 10 on gpu-node-3, stamped 6h00m in the future (clock skew?)"
    )
    plant_progress(run, tmp_path, 4, host="gpu-node-3", age_s=-60)  # a skew of seconds
    assert grid_status([run], tmp_path, now=NOW)[0].state == "running"
