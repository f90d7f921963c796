"""Every command the README advertises works after exactly `pip install -e .` (no extras):
`--report`, `--profile slurm`, `--sdm conda` (as far as a machine without conda can check)
and use of the workflow as a Snakemake `module`."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from rethinkgen.run import RunKeys
from rethinkgen.training import distributed
from tests.workflow.dag import ROOT, snakemake

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
# The rule scripts; checkout_src.py is the prelude each imports first.
SCRIPTS = sorted(p for p in (ROOT / "workflow/scripts").glob("*.py") if p.name != "checkout_src.py")
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"yaml": "pyyaml", "PIL": "pillow"}


def requirement_names(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_commands_need_nothing_beyond_the_default_install():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default = requirement_names(project["dependencies"])
    # `snakemake --report` stops with "Python package pygments must be installed" without it;
    # `--profile slurm` fails with "invalid choice: 'slurm'" before the workflow is read.
    assert {
        "pygments",
        "snakemake-executor-plugin-slurm",
        "snakemake-executor-plugin-slurm-jobstep",
    } <= default
    for extra in project["optional-dependencies"].values():
        assert not requirement_names(extra) & {"pygments", "snakemake-executor-plugin-slurm"}


def test_slurm_profile_dry_run(tmp_path):
    result = snakemake(
        "-n",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--profile",
        str(ROOT / "profiles/slurm"),
        "--configfile",
        str(ROOT / "config/smoke.yaml"),
        "--quiet",
        "rules",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^train_model\s+11$", result.stdout, re.M)


def test_the_scripts_path_prelude_lives_in_one_place():
    found = [p.name for p in SCRIPTS if "sys.path.insert" in p.read_text()]
    assert found == []  # every script imports checkout_src instead
    assert all("\nimport checkout_src  # noqa" in p.read_text() for p in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_finds_the_package_without_pythonpath(script, tmp_path):
    """Conda jobs get no PYTHONPATH; here not even site-packages (python -S), so only the
    script's own first lines (its checkout_src import, which Snakemake's preamble lets it
    find by putting the script's folder on sys.path) make `rethinkgen` importable, from
    this checkout."""
    body = ast.parse(script.read_text()).body
    first_import = next(
        i
        for i, node in enumerate(body)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and "rethinkgen" in ast.unparse(node)
    )
    # The statements before the first rethinkgen import that only use the standard library.
    bootstrap = [
        ast.unparse(node)
        for node in body[:first_import]
        if not re.search(r"\b(logging|matplotlib|pyarrow|pandas|torch|numpy)\b", ast.unparse(node))
    ]
    probe = "\n".join(
        [
            "import sys, types",
            f"sys.path.append({str(script.parent)!r})",  # what Snakemake's preamble does
            f"snakemake = types.SimpleNamespace(scriptdir={str(script.parent)!r})",
            *bootstrap,
            "import rethinkgen",
            "print(rethinkgen.__file__)",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / "src/rethinkgen/__init__.py"


def third_party_imports(path: Path, seen: set[Path]) -> set[str]:
    """Distributions outside the standard library that `path` imports and, through
    rethinkgen, everything it imports."""
    seen.add(path)
    text = path.read_text()
    found = {"tabulate"} if ".to_markdown(" in text else set()  # pandas imports it only then
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "rethinkgen":
                base = ROOT / "src" / name.replace(".", "/")
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file() and candidate not in seen:
                        found |= third_party_imports(candidate, seen)
            elif top == "checkout_src":  # the scripts' prelude, beside them
                found |= third_party_imports(path.with_name("checkout_src.py"), seen)
            elif top not in sys.stdlib_module_names and top not in ("snakemake", "__future__"):
                found.add(DISTRIBUTION.get(top, top).lower())
    return found


def rules_with_conda_env() -> list[tuple[str, Path, Path]]:
    """(rule, conda env file, script) of every rule that has both."""
    found = []
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            env = re.search(r'conda:\s*"([^"]+)"', block)
            script = re.search(r'script:\s*"([^"]+)"', block)
            if env and script:
                found.append(
                    (
                        block.split(":")[0],
                        (smk.parent / env[1]).resolve(),
                        (smk.parent / script[1]).resolve(),
                    )
                )
    return found


@pytest.mark.parametrize(
    "rule, env, script", rules_with_conda_env(), ids=lambda x: getattr(x, "name", x)
)
def test_conda_env_has_what_the_rule_imports(rule, env, script):
    """`--sdm conda` runs each rule in its env: every library its script uses must be there."""
    spec = yaml.safe_load(env.read_text())["dependencies"]
    names = requirement_names(d for d in spec if isinstance(d, str))
    names |= requirement_names(p for d in spec if isinstance(d, dict) for p in d.get("pip", []))
    needed = third_party_imports(script, set())
    assert needed <= names, f"{rule}: {env.name} lacks {sorted(needed - names)}"


def test_torchrun_ranks_get_the_package_path(monkeypatch, tmp_path):
    """Ranks run `-m rethinkgen.training.cli`; a conda job has no PYTHONPATH to pass on."""
    seen = {}

    def fake_run(command, **kwargs):
        seen.update(kwargs["env"])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(distributed.subprocess, "run", fake_run)
    paths = RunKeys("d", "m", "c", "r", 0).paths(tmp_path / "results")
    paths.log.parent.mkdir(parents=True)
    distributed.launch(2, paths, train=tmp_path / "train", test=tmp_path / "test", threads=2)
    assert seen["PYTHONPATH"].split(":")[0] == str(ROOT / "src")


MODULE_SNAKEFILE = """\
configfile: "{root}/config/smoke.yaml"


module rethinkgen:
    snakefile: "{root}/Snakefile"
    config: config


use rule * from rethinkgen
"""


def test_workflow_as_a_module(tmp_path):
    (tmp_path / "Snakefile").write_text(MODULE_SNAKEFILE.format(root=ROOT))
    result = snakemake("-n", "--quiet", "rules", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^train_model\s+11$", result.stdout, re.M)
    if FASHION.exists():  # run the data rules' scripts for real, with no PYTHONPATH set
        target = "results/data/fashion_mnist_tiny/random_labels/data_seed20170424/train.npz"
        env_free = subprocess.run(
            ["env", "-u", "PYTHONPATH", sys.executable, "-m", "snakemake", "--cores", "1", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert env_free.returncode == 0, env_free.stderr[-3000:]
        assert (tmp_path / target).is_file()


def test_license_and_catalog_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert (
        (ROOT / "LICENSE")
        .read_text()
        .startswith("MIT License\n\nCopyright (c) 2026 rethinkgen contributors")
    )
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    # Claimed only what has run: the pip environment. The conda envs were never built, and
    # the catalog's newer key is apptainer, not singularity.
    assert usage["software-stack-deployment"] == {
        "conda": False,
        "apptainer": False,
        "apptainer+conda": False,
    }
    assert usage["report"] is True
    # Every rule that runs a script still names its environment, for whoever tries --sdm conda.
    scripted = sum(
        smk.read_text().count("    script:") for smk in (ROOT / "workflow/rules").glob("*.smk")
    )
    assert len(rules_with_conda_env()) == scripted
