"""SIGTERM during training sets a stop request instead of killing the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from rethinkgen.training.signals import stop_on_sigterm

SRC = Path(__file__).resolve().parents[2] / "src"


def test_sigterm_sets_the_request_and_the_process_lives_on():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_sigterm() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested() and stop.signal_number == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored after the block


def test_second_sigterm_terminates_at_once():
    script = textwrap.dedent("""
        import os, signal, time
        from rethinkgen.training.signals import stop_on_sigterm
        with stop_on_sigterm() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested()
            print("survived the first", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            print("survived the second", flush=True)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        timeout=60,
    )
    assert result.stdout == "survived the first\n"
    assert result.returncode == -signal.SIGTERM
