"""Rule scripts write their traceback into the rule's log; training logs survive retries."""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from rethinkgen import config as config_module
from rethinkgen.io import rule_logging
from rethinkgen.run import RunKeys
from rethinkgen.training import cli

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


def run_adapter(name: str, **snakemake) -> None:
    """Execute a rule script as Snakemake's `script:` does, with a stand-in `snakemake`."""
    job = SimpleNamespace(scriptdir=str(SCRIPTS), **snakemake)
    if str(SCRIPTS) not in sys.path:  # Snakemake's preamble: the script's folder (checkout_src)
        sys.path.append(str(SCRIPTS))
    runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": job})


def test_exception_is_logged_with_its_traceback_and_reraised(tmp_path):
    log = tmp_path / "logs" / "rule.log"
    with pytest.raises(ValueError), rule_logging(log):
        logging.getLogger("rethinkgen.test").info("working")
        raise ValueError("the useful message")
    text = log.read_text()
    assert "working" in text and "the job failed" in text
    assert "Traceback" in text and "ValueError: the useful message" in text
    logging.getLogger("rethinkgen.test").info("after the block")
    assert "after the block" not in log.read_text()  # handlers removed


def test_prepare_dataset_failure_lands_in_the_rule_log(tmp_path):
    log = tmp_path / "prepare.log"
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        run_adapter(
            "prepare_dataset.py",
            log=[str(log)],
            params=SimpleNamespace(spec={"name": "mnist", "root": str(tmp_path / "none")}, seed=0),
            output=SimpleNamespace(
                train=out / "train.npz", test=out / "test.npz", info=out / "info.json"
            ),
        )
    text = log.read_text()
    assert "DatasetUnavailableError" in text and "not found in" in text


def test_training_log_keeps_earlier_attempts(tmp_path, monkeypatch):
    keys = RunKeys("d", "m", "c", "r", 0)
    paths = keys.paths(tmp_path / "results")
    log = paths.log
    attempts = iter([RuntimeError("killed by the node's OOM killer"), None])

    def fake_training(run, run_paths, **kwargs):
        assert run_paths == paths
        error = next(attempts)
        logging.getLogger("rethinkgen.training.engine").info(
            "epoch line of %s", "attempt 1" if error else "attempt 2"
        )
        if error:
            raise error

    monkeypatch.setattr(cli, "run_training", fake_training)
    spec = SimpleNamespace(keys=keys)
    monkeypatch.setattr(config_module, "job_run_spec", lambda *args: spec)
    job = dict(
        params=SimpleNamespace(identity={}),
        threads=1,
        config={"training": {}},
        wildcards=SimpleNamespace(),
        log=[str(log)],
        input=SimpleNamespace(train="t.npz", test="v.npz"),
        output=SimpleNamespace(metrics=paths.metrics, info=paths.info, model=paths.model),
    )
    with pytest.raises(RuntimeError):
        run_adapter("train_model.py", **job)
    assert "killed by the node's OOM killer" in log.read_text()
    log.unlink()  # Snakemake deletes the rule's log before the next attempt
    run_adapter("train_model.py", **job)
    text = log.read_text()
    assert (
        text.index("epoch line of attempt 1")
        < text.index("OOM killer")
        < text.index("epoch line of attempt 2")
    )
    assert "earlier attempts" in text
