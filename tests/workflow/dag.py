"""Dry runs of the real Snakefile in an empty working directory (job counts per rule)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run_counts(*args: str) -> dict[str, int]:
    """Jobs per rule of `snakemake -n ARGS` from a clean slate; config paths are repo-relative."""
    args = [str(ROOT / a) if a.startswith("config/") else a for a in args]
    with tempfile.TemporaryDirectory() as workdir:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-n",
                "--snakefile",
                str(ROOT / "Snakefile"),
                "--directory",
                workdir,
                *args,
                "--quiet",
                "rules",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout[result.stdout.index("Job stats:") :]
    return {
        m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"
    }


def snakemake(
    *args: str, cwd: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in this interpreter's environment (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_checkout(dest: Path) -> Path:
    """A copy of this checkout's code and configs (no results), to edit or import in a test."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".snakemake",
            ".venv",
            "results",
            "resources",
            "logs",
            "__pycache__",
            "*.egg-info",
        ),
    )
    return dest


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The non-empty lines Snakemake printed for a failed parse."""
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
