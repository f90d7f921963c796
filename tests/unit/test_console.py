"""Progress bars: named after the run, off when several jobs share one terminal."""

from __future__ import annotations

import sys

from rethinkgen.training import console, engine
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.state import RunState
from tests.unit.test_train import run_dict


def test_bar_only_on_a_terminal_watched_by_one_job():
    assert console.progress_bar_wanted(True, {})
    assert not console.progress_bar_wanted(False, {})
    assert not console.progress_bar_wanted(True, {console.SHARED_TERMINAL_ENV: "1"})
    assert console.shared_terminal(2) and console.shared_terminal(None)
    assert not console.shared_terminal(1)


def test_the_bar_carries_the_runs_name(monkeypatch):
    cfg = TrainConfig.from_dict(
        run_dict(max_epochs=3)
        | {
            "dataset": "fashion_mnist_tiny",
            "model": "mlp_1x512",
            "corruption": "random_labels",
            "regularizer": "none",
            "seed": 2,
        }
    )
    state = RunState()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.delenv(console.SHARED_TERMINAL_ENV, raising=False)
    bar = engine._progress_bar(cfg, state)
    assert bar.desc == "fashion_mnist_tiny/mlp_1x512/random_labels/none/seed2"
    bar.close()
    monkeypatch.setenv(console.SHARED_TERMINAL_ENV, "1")
    assert engine._progress_bar(cfg, state) is None
