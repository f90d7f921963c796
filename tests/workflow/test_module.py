"""The module example of docs/module.md, dry-run: the outer workflow imports this one with
a prefix and its config, and the cheap rules stay local under the prefix."""

from __future__ import annotations

import re
from importlib.util import find_spec

import pytest
import yaml

from tests.workflow.dag import ROOT, snakemake

DOC = (ROOT / "docs/module.md").read_text()
# Local rules as Snakemake registers them (its `localrule: True` bookkeeping).
PRINT_LOCAL = '\n\nprint("LOCAL:", " ".join(sorted(workflow._localrules)), file=sys.stderr)\n'


def outer_workflow(folder):
    snakefile = re.search(r"```python\n(.*?)```", DOC, re.S)[1]
    snakefile = snakefile.replace('"../rethinkgen/Snakefile"', f'"{ROOT}/Snakefile"')
    (folder / "config").mkdir()
    config = {"rethinkgen": yaml.safe_load((ROOT / "config/smoke.yaml").read_text())}
    (folder / "config/config.yaml").write_text(yaml.safe_dump(config))
    (folder / "Snakefile").write_text(snakefile + PRINT_LOCAL)


def test_outer_workflow_with_a_prefix_dry_runs_and_keeps_local_rules(tmp_path):
    outer_workflow(tmp_path)
    result = snakemake("-n", "--quiet", "rules", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^rethinkgen_train_model\s+11$", result.stdout, re.M)
    local = set(re.search(r"^LOCAL: (.*)$", result.stderr, re.M)[1].split())
    assert {
        "rethinkgen_prepare_dataset",
        "rethinkgen_corrupt_dataset",
        "rethinkgen_plot_figure",
        "rethinkgen_make_table",
        "rethinkgen_aggregate_runs",
    } <= local
    assert "rethinkgen_train_model" not in local
    listing = snakemake("-n", "--summary", cwd=tmp_path)
    assert "rethinkgen/results/figures/" in listing.stdout


def test_empty_module_config_says_what_to_pass(tmp_path):
    outer_workflow(tmp_path)
    (tmp_path / "config/config.yaml").write_text("rethinkgen: {}\n")
    result = snakemake("-n", cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "rethinkgen got an empty config" in output and "docs/module.md" in output


ONE_RUN = "rethinkgen/results/runs/fashion_mnist_tiny/mlp_1x512/true_labels/none/seed0"


@pytest.mark.slow
def test_a_run_trained_through_the_module_writes_every_file_under_the_prefix(tmp_path):
    """Checkpoint, run.json, live metrics, progress, TensorBoard and the log all follow the
    rule's declared outputs below the prefix (RunPaths.declared), none to ./results."""
    outer_workflow(tmp_path)
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    config["rethinkgen"]["override"] = {"max_epochs": 1}
    config["rethinkgen"]["training"]["tensorboard"] = bool(find_spec("tensorboard"))
    config["rethinkgen"]["training"]["checkpoint_every"] = 1
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    target = f"{ONE_RUN}/run_info.json"
    result = snakemake("--cores", "1", target, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = {
        path.relative_to(tmp_path).as_posix()
        for path in tmp_path.rglob("*")
        if path.is_file() and path.relative_to(tmp_path).parts[0] not in (".snakemake", "config")
    }
    assert {"Snakefile"} | {p for p in written if p.startswith("rethinkgen/")} == written
    run = ONE_RUN.removeprefix("rethinkgen/results/runs/")
    assert {
        f"rethinkgen/results/checkpoints/{run}/run.json",
        f"rethinkgen/results/checkpoints/{run}/progress.json",
        f"rethinkgen/results/checkpoints/{run}/live_metrics.parquet",
        f"rethinkgen/logs/train_model/{run}.log",
        f"{ONE_RUN}/model.pt",
    } <= written
    if config["rethinkgen"]["training"]["tensorboard"]:
        assert any(p.startswith(f"rethinkgen/results/tensorboard/{run}/") for p in written)
