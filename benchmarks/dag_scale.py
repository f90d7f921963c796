"""Time (and profile) `snakemake -n` on the paper config with many seeds: ~10,000 runs.

config/paper.yaml has 55 runs per seed; 182 seeds give 10,010. The config is written to a
temporary directory, which is also the working directory (nothing exists there, so every
job is in the DAG).

    python benchmarks/dag_scale.py                          # time 3 dry runs
    python benchmarks/dag_scale.py --profile --top 25       # and cProfile one of them
    python benchmarks/dag_scale.py --snakefile /other/checkout/Snakefile   # compare trees
"""

from __future__ import annotations

import argparse
import io
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_config(workdir: Path, seeds: int, base: Path) -> Path:
    config = yaml.safe_load(base.read_text())
    config["seeds"] = list(range(seeds))
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def dry_run_command(snakefile: Path, workdir: Path, config: Path) -> list[str]:
    return [
        "-m",
        "snakemake",
        "-n",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir / "work"),
        "--configfile",
        str(config),
        "--quiet",
        "rules",
    ]


def time_dry_run(python: str, args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([python, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stdout[-2000:] + result.stderr[-3000:])
    return seconds, result.stdout


def train_jobs(stdout: str) -> int:
    for line in stdout.splitlines():
        if line.startswith("train_model"):
            return int(line.split()[1])
    raise ValueError("no train_model line in the job stats")


def profile_top(python: str, args: list[str], out: Path, top: int) -> str:
    subprocess.run(
        [python, "-m", "cProfile", "-o", str(out), *args], check=True, capture_output=True
    )
    buffer = io.StringIO()
    stats = pstats.Stats(str(out), stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    # The workflow's own code (input functions, config resolution), by cumulative time.
    stats.sort_stats("cumulative").print_stats(r"rethinkgen|workflow/rules|Snakefile", top)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=182)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    parser.add_argument("--config", type=Path, default=ROOT / "config/paper.yaml")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--profile", action="store_true", help="also cProfile one dry run")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    parser.add_argument("--json", type=Path, help="write the timings here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rethinkgen-dag-") as tmp:
        workdir = Path(tmp)
        config = write_config(workdir, args.seeds, args.config)
        command = dry_run_command(args.snakefile, workdir, config)
        times, stdout = [], ""
        for _ in range(args.repeats):
            seconds, stdout = time_dry_run(args.python, command)
            times.append(seconds)
        runs = train_jobs(stdout)
        print(
            f"{runs} training runs, snakemake -n: "
            + ", ".join(f"{t:.1f} s" for t in times)
            + f" (best {min(times):.1f} s)"
        )
        if args.json:
            args.json.write_text(json.dumps({"runs": runs, "seconds": times}, indent=2))
        if args.profile:
            print(profile_top(args.python, command, workdir / "dag.prof", args.top))


if __name__ == "__main__":
    main()
