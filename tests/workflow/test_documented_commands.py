"""Every command the README and docs show is run as written, so one that does not parse
fails here before a user types it.

Commands come from the shell code blocks (```bash) and from inline code in the prose that
starts with `snakemake`, `rethinkgen` or their `.venv/bin/` paths. Each document's
commands run in order in one sandbox (a folder of links to this checkout), as a user
would type them in a fresh clone:

* `snakemake ...` runs with `-n` added, since it would train; it must also say how many
  cores to use (Snakemake refuses a real run without `--cores`, `--jobs` or a profile).
  `--report FILE` needs finished runs, so that command is dry-run without it, and FILE
  must lie in the config's results folder (rethinkgen.layout).
* `rethinkgen ...` runs as written: it exits 0, or 1 with a one-line message (e.g.
  nothing to export yet); never a usage error or a traceback.
* `python examples/...` runs as written (it makes the image folder later commands use).
* installs, the test suite, Slurm and tracker servers are not run: an install's extras
  must exist in pyproject.toml, and every other program must be listed below.

In the README (whose install makes .venv without activating it) every command names its
`.venv/bin/` path.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from rethinkgen import cli
from rethinkgen.layout import results_dir

ROOT = Path(__file__).resolve().parents[1].parent
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "config/README.md", *ROOT.glob("docs/**/*.md")],
    key=lambda p: str(p),
)
SANDBOX_LINKS = ("Snakefile", "workflow", "config", "src", "profiles", "slurm", "envs")
SANDBOX_LINKS += ("examples", "tests", "pyproject.toml")
FASHION = Path("/usr/share/datasets/fashion-mnist")
# Programs documented but not run here, and why.
NOT_RUN = {
    "apt-get": "system install",
    "python3": "makes the virtual environment",
    "sudo": "root commands (the Slurm test cluster)",
    "sinfo": "Slurm",
    "sacctmgr": "Slurm",
    "scontrol": "Slurm",
    "sbatch": "Slurm",
    "squeue": "Slurm",
    "pytest": "the test suite itself",
    "bash": "CI scripts (.ci/)",
    "tensorboard": "a server",
    "mlflow": "a server",
    "eval": "shell setup",
    "mv": "moves an old results folder (docs/operations.md)",
    "mkdir": "moves an old results folder (docs/operations.md)",
    "cp": "moves an old results folder (docs/operations.md)",
    "tail": "reads a log",
}
# Its prose quotes commands that fail on purpose (`snakemake fig9`), with what they print.
FAILING_ON_PURPOSE = ROOT / "docs/faults.md"
RETHINKGEN_COMMANDS = (*cli.app.commands, "--help", "--version")
CORES = ("--cores", "-c", "--jobs", "-j", "--profile")
NO_RUN_NEEDED = ("-n", "--dry-run", "--lint", "--list-target-rules", "--summary", "--dag")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.S)


def block_commands(block: str) -> list[str]:
    """One command per line or per `&&`/`;` (continuations joined, comments dropped); of a
    pipeline, its first command."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words, piped = [], False
        for token in [*lexer, ";"]:
            if token in (";", "&&", "||"):
                if words:
                    commands.append(shlex.join(words))
                words, piped = [], False
            elif token == "|":
                piped = True
            elif not piped:
                words.append(token)
    return commands


def inline_commands(text: str) -> list[str]:
    """Commands in the prose: inline code that starts with a program this project ships
    (placeholders such as <run>, elisions and home-folder paths left out)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", prose)
    starts = ("snakemake ", ".venv/bin/snakemake ", "rethinkgen ", ".venv/bin/rethinkgen ")
    return [
        s
        for s in spans
        if s.startswith(starts)
        and not any(mark in s for mark in ("<", "...", "|", "~"))
        and (not s.split()[0].endswith("rethinkgen") or s.split()[1] in RETHINKGEN_COMMANDS)
    ]


def documented_commands(path: Path) -> list[str]:
    text = path.read_text()
    inline = [] if path == FAILING_ON_PURPOSE else inline_commands(text)
    return [c for b in shell_blocks(text) for c in block_commands(b)] + inline


def program(words: list[str]) -> str:
    return Path(words[0]).name


def unwrap(words: list[str]) -> list[str]:
    """`watch -n 30 CMD` -> CMD."""
    if words[0] == "watch":
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[2:] if words[0] in ("-n", "--interval") else words[1:]
    return words


def sandbox(tmp_path: Path) -> Path:
    for name in SANDBOX_LINKS:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def run(words: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=600)


def config_of(args: list[str]) -> dict:
    """The config a snakemake command line names (rethinkgen.layout resolves its folder)."""
    import yaml

    files = []
    for i, word in enumerate(args):
        if word == "--configfile":
            files += [a for a in args[i + 1 :] if not a.startswith("-")][:1]
    files = files or ["config/config.yaml"]
    config: dict = {}
    for path in files:
        config.update(yaml.safe_load((ROOT / path).read_text()))
    return {**config, "results": results_dir(config, files)}


def check_snakemake(args: list[str], cwd: Path, where: str) -> None:
    if "--report" in args:
        i = args.index("--report")
        report = args[i + 1]
        folder = config_of(args)["results"]
        assert report.startswith(folder + "/"), f"{where}: the report belongs in {folder}/"
        args = args[:i] + args[i + 2 :]
    elif not any(a in NO_RUN_NEEDED for a in args):
        assert any(a.split("=")[0] in CORES for a in args), (
            f"{where}: snakemake needs --cores (or --jobs, --profile) to run"
        )
    result = run([sys.executable, "-m", "snakemake", "-n", *args, "--quiet", "rules"], cwd)
    assert result.returncode == 0, f"{where}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def check_rethinkgen(args: list[str], cwd: Path, where: str) -> None:
    result = run([sys.executable, "-m", "rethinkgen.cli", *args], cwd)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, f"{where}\n{output[-3000:]}"
    assert result.returncode == 0 or (
        result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    ), f"{where}: exit {result.returncode}\n{output[-2000:]}"


def check_install(words: list[str], where: str) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for word in words:
        for extra in re.findall(r"^\.\[([\w,-]+)\]$", word):
            for name in extra.split(","):
                assert name in extras, f"{where}: no extra [{name}] in pyproject.toml"


def check(command: str, cwd: Path, where: str) -> None:
    words = unwrap(shlex.split(command))
    name = program(words)
    if name == "pip" or words[1:3] == ["-m", "pip"]:
        return check_install(words, where)
    if name == "snakemake":
        return check_snakemake(words[1:], cwd, where)
    if name == "rethinkgen":
        return check_rethinkgen(words[1:], cwd, where)
    if name.startswith("python") and len(words) > 1 and words[1].startswith("examples/"):
        result = run([sys.executable, *words[1:]], cwd)
        assert result.returncode == 0, f"{where}\n{result.stderr[-2000:]}"
        return None
    if name.startswith("python") and words[1:3] == ["-m", "pytest"]:
        return None
    if name.startswith("python") and len(words) > 1 and words[1].startswith("benchmarks/"):
        assert (ROOT / words[1]).is_file(), f"{where}: no script {words[1]}"
        return None  # a measurement (it trains or times); the script itself must exist
    assert name in NOT_RUN or "tests/cluster/" in words[0], (
        f"{where}: `{name}` is neither run by this test nor listed in NOT_RUN"
    )
    return None


def test_the_parser_finds_commands_in_blocks_and_prose():
    text = (
        "Run `snakemake --cores 2 beyond` or `rethinkgen status`; not `snakemake <target>`.\n"
        "```bash\n.venv/bin/snakemake --cores 2 \\\n    fig1a   # one figure\n"
        "a && b; c 'x | y' | grep z\n```\n"
    )
    assert [c for b in shell_blocks(text) for c in block_commands(b)] == [
        ".venv/bin/snakemake --cores 2 fig1a",
        "a",
        "b",
        "c 'x | y'",
    ]
    assert inline_commands(text) == ["snakemake --cores 2 beyond", "rethinkgen status"]


def test_a_command_that_does_not_parse_fails(tmp_path):
    """The README's paper command as it once was: `--resources` took `all` as a resource."""
    box = sandbox(tmp_path)
    bad = ".venv/bin/snakemake --cores 8 --resources gpu=1 all --configfile config/paper.yaml"
    with pytest.raises(AssertionError, match="dictionary update sequence|Error"):
        check(bad, box, "example")
    with pytest.raises(AssertionError, match="needs --cores"):
        check("snakemake beyond", box, "example")
    with pytest.raises(AssertionError, match="belongs in results/config/"):
        check("snakemake --report results/report.html", box, "example")
    with pytest.raises(AssertionError, match="exit 2"):
        check("rethinkgen statuss", box, "example")


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_runs_as_written(document, tmp_path):
    commands = documented_commands(document)
    box = sandbox(tmp_path)
    for command in commands:
        where = f"{document.relative_to(ROOT)}: {command}"
        if document.name == "README.md" and document.parent == ROOT:
            first = shlex.split(command)[0]
            assert not first.startswith(("snakemake", "rethinkgen", "pip", "python ")), (
                f"{where}: the README's install does not activate .venv; write .venv/bin/"
            )
        check(command, box, where)


def catalog_commands() -> list[str]:
    """The commands .snakemake-workflow-catalog.yml advises (its usage text, its report)."""
    import yaml

    text = (ROOT / ".snakemake-workflow-catalog.yml").read_text()
    usage = yaml.safe_load(text)["usage"]
    report = re.findall(r"#\s*(snakemake --report \S+)", text)
    return inline_commands(usage["mandatory-flags"]["desc"]) + report


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_the_catalog_commands_run_as_written(tmp_path):
    commands = catalog_commands()
    assert len(commands) >= 3, commands
    box = sandbox(tmp_path)
    for command in commands:
        check(command, box, f".snakemake-workflow-catalog.yml: {command}")
