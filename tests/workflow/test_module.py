"""The module example of docs/module.md, dry-run: the outer workflow imports this one with
a prefix and its config, and the cheap rules stay local under the prefix."""

from __future__ import annotations

import re

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
