"""Fixtures for the `slurm` tests: a real one-node Slurm cluster and a scratch copy of the repo.

The tests run only when asked for (`pytest -m slurm`, or RETHINKGEN_SLURM_TESTS=1), because
they need root, Debian's slurm-wlm/munge and a few minutes; `.ci/slurm-smoke.sh` does all of
it. A cluster that is already up (`sinfo` answers) is used as it is; otherwise, as root, the
fixture starts tests/cluster/start-cluster.sh and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# What a scratch copy of the repository leaves out: state, outputs, environments.
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".snakemake",
    "results",
    "resources",
    "logs",
    ".pytest_cache",
    "__pycache__",
    "*.egg-info",
    "*.tsv",
)
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The user profile, found as ./slurm like a user would, plus the CI-only override
# (squeue status without slurmdbd, 2 s polling).
PROFILE_ARGS = ["--profile", "slurm", "--profile", "tests/cluster/ci-profile"]


def _wanted(config) -> bool:
    """Selected explicitly: RETHINKGEN_SLURM_TESTS=1 or `-m slurm` (not `-m "not slurm"`)."""
    markexpr = config.getoption("markexpr", "") or ""
    return os.environ.get("RETHINKGEN_SLURM_TESTS") == "1" or (
        "slurm" in markexpr and "not slurm" not in markexpr
    )


def pytest_collection_modifyitems(config, items):
    if _wanted(config):
        return
    skip = pytest.mark.skip(
        reason="needs a Slurm cluster: run .ci/slurm-smoke.sh, or pytest -m slurm as root"
    )
    for item in items:
        if "slurm" in item.keywords:
            item.add_marker(skip)


def _sinfo_ok() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running cluster with partitions cpu+gpu and a fake GPU; started here if needed."""
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm is missing: pip install -e '.[cluster]'")
    started = False
    if not _sinfo_ok():
        if os.geteuid() != 0:
            pytest.skip("no Slurm cluster answers and not root to start one")
        subprocess.run([str(HERE / "start-cluster.sh")], check=True, timeout=300)
        started = True
    gres = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True, text=True).stdout
    assert "gpu" in gres, f"the cluster advertises no GPU partition/GRES:\n{gres}"
    yield
    if started:
        subprocess.run([str(HERE / "stop-cluster.sh")], timeout=120)


@pytest.fixture(scope="module")
def workdir(slurm_cluster, tmp_path_factory) -> Path:
    """A scratch copy of the repository (the working directory of the Snakemake runs).

    Slurm jobs run as root on this same machine, so a temp folder is "shared storage".
    """
    dest = tmp_path_factory.mktemp("repo") / "rethinkgen"
    shutil.copytree(REPO, dest, ignore=COPY_IGNORE, symlinks=True)
    if not (dest / "slurm").exists():  # ./slurm -> profiles/slurm, as in the repository
        (dest / "slurm").symlink_to("profiles/slurm")
    return dest


def snakemake_cmd(*args: str) -> list[str]:
    """`snakemake --profile slurm ...` (targets must come before --configfile). Without the
    calm default profile (profiles/default): the tests read the per-job `localrule` lines."""
    return [*SNAKEMAKE, *args, *PROFILE_ARGS, "--workflow-profile", "none"]


def start_snakemake(workdir: Path, *args: str, log_name: str) -> subprocess.Popen:
    with open(workdir / log_name, "w") as log:
        proc = subprocess.Popen(
            snakemake_cmd(*args),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
    proc.log_path = workdir / log_name
    return proc


def finish(proc: subprocess.Popen, workdir: Path, log_name: str, timeout: float) -> str:
    """Wait for a Snakemake run; on timeout interrupt it and cancel its Slurm jobs."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # Snakemake cancels its jobs on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        cancel_jobs(workdir)
        pytest.fail(f"snakemake did not finish within {timeout} s:\n{tail(workdir / log_name)}")
    return (workdir / log_name).read_text()


def run_snakemake(workdir: Path, *args: str, log_name: str, timeout: float = 300):
    """Run `snakemake --profile slurm ...` to the end: (exit code, its output)."""
    proc = start_snakemake(workdir, *args, log_name=log_name)
    output = finish(proc, workdir, log_name, timeout)
    return proc.returncode, output


def tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def jobs(workdir: Path, states: str = "all") -> list[dict]:
    """Slurm jobs (still known to squeue: MinJobAge = 5 min) submitted from `workdir`."""
    fields = [
        "JobID",
        "State",
        "Partition",
        "tres-per-job",
        "NumCPUs",
        "MinMemory",
        "WorkDir",
        "Comment",
    ]
    out = subprocess.run(
        ["squeue", "-h", f"--states={states}", "-O", ",".join(f"{f}:|" for f in fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [dict(zip(fields, (v.strip() for v in line.split("|")))) for line in out.splitlines()]
    return [r for r in rows if Path(r["WorkDir"] or "/").resolve() == workdir.resolve()]


def cancel_jobs(workdir: Path) -> None:
    for job in jobs(workdir, states="PENDING,RUNNING,CONFIGURING,COMPLETING"):
        subprocess.run(["scancel", job["JobID"]])


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1, proc=None):
    """Poll `predicate` until it is true; fail early if the Snakemake run `proc` ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(
                f"snakemake exited ({proc.returncode}) before {what}:\n" + tail(proc.log_path)
            )
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
