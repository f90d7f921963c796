"""Snakemake refuses the configs `rethinkgen check-config` refuses, with the same message
(issue 30 item 5): both run rethinkgen.user_inputs before any job."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.unit.test_check_config_user_inputs import CASES, _case
from tests.workflow.dag import ROOT


@pytest.mark.parametrize("case", CASES)
def test_the_workflow_refuses_what_check_config_refuses(tmp_path, case):
    path, expected = _case(tmp_path, case)
    # ROOT: examples.my_model, as from the repository root; tmp_path: the cases' factories
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), str(tmp_path)]),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path / "work"),
            "--configfile",
            str(path),
            "-n",
            "memorize",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "invalid config" in output and expected in output
