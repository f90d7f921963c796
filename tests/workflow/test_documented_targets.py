"""Every short target the README and docs name builds a DAG on every shipped config.

A target a config leaves empty (no `beyond:` section, no ImageNet experiment, no
`own_model:`) must stop with its own one-sentence reason, never with a traceback from
deep inside the workflow (as `snakemake beyond` once did: a file name passed where a
RunPaths field was expected).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from rethinkgen.targets import (
    nothing_to_make,
    output_available,
    short_name,
    short_targets,
    unavailable_reason,
)
from tests.workflow.dag import snakemake

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.name for p in (ROOT / "config").glob("*.yaml"))
THEORY_TARGETS = ("expressivity", "table3")


def documented_targets(config: dict) -> dict[str, str | None]:
    """Target -> why it has nothing to make under this config (None: it builds)."""
    reasons: dict[str, str | None] = {"all": None}
    for name in short_targets(config):
        reasons[name] = None
    for kind in ("figures", "tables"):
        for key, spec in config.get(kind, {}).items():
            if not output_available(config, spec):
                reasons[short_name(key)] = unavailable_reason(key, spec)
    for name in (*THEORY_TARGETS, "beyond"):
        reasons[name] = nothing_to_make(config, name)
    reasons["memorize"] = None if "own_model" in config else "needs an `own_model:` section"
    return reasons


def dry_run(workdir: Path, configfile: str, *targets: str) -> subprocess.CompletedProcess:
    return snakemake(
        *targets,
        "-n",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(ROOT / "config" / configfile),
        "--quiet",
        "rules",
        timeout=600,
    )


def prepare_user_inputs(config: dict, workdir: Path) -> None:
    """An image folder a config points to is made the way its page says (examples/)."""
    for spec in config["datasets"].values():
        if spec["name"] == "image_folder" and not Path(spec["root"]).is_absolute():
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "examples" / "make_image_folder.py"),
                    "--out",
                    str(workdir / spec["root"]),
                    "--n-train",
                    "40",
                    "--n-test",
                    "20",
                ],
                check=True,
                capture_output=True,
            )


@pytest.mark.parametrize("configfile", CONFIGS)
def test_every_documented_target_builds_or_says_why_not(configfile):
    config = yaml.safe_load((ROOT / "config" / configfile).read_text())
    reasons = documented_targets(config)
    buildable = [t for t, why in reasons.items() if why is None]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare_user_inputs(config, workdir)
        # One DAG with every buildable target: a failure names the target's input function.
        result = dry_run(workdir, configfile, *buildable)
        assert result.returncode == 0, (buildable, result.stdout[-3000:], result.stderr[-3000:])
        for target, why in reasons.items():
            if why is None:
                continue
            result = dry_run(workdir, configfile, target)
            output = result.stdout + result.stderr
            assert result.returncode != 0, target
            assert "nothing to make" in output or "needs" in output, (target, output[-2000:])
            assert "AttributeError" not in output and "KeyError" not in output, output[-2000:]


def test_the_config_list_covers_what_ships():
    assert {"config.yaml", "paper.yaml", "smoke.yaml"} <= set(CONFIGS)
