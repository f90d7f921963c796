"""Config mistakes the YAML loader or the schema used to hide or bury: duplicate keys, YAML
tags, outputs naming a missing experiment, missing captions, and long schema errors."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from rethinkgen.config import ConfigError, check_config
from rethinkgen.config_files import read_config_file, schema_error_summary
from tests.workflow.dag import ROOT, copy_checkout, error_lines, snakemake

REPORT_DIR = str(ROOT / "workflow/report")
QUICK = (ROOT / "config/config.yaml").read_text()


def load(name="config/config.yaml"):
    return yaml.safe_load((ROOT / name).read_text())


def dry_run(tmp_path: Path, config_text: str, *args: str):
    path = tmp_path / "user.yaml"
    path.write_text(config_text)
    return snakemake(
        "-n",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(path),
        *args,
    )


def with_duplicate_experiment(text: str) -> str:
    """config.yaml with a second `fig2b:` experiment placed first: the loader kept the last."""
    return text.replace("experiments:\n", "experiments:\n  fig2b:\n    grids: []\n", 1)


@pytest.mark.parametrize("name", ["config/paper.yaml", "config/config.yaml", "config/smoke.yaml"])
def test_shipped_configs_have_no_duplicate_keys(name):
    assert read_config_file(ROOT / name) == load(name)


def test_duplicate_experiment_is_named_with_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(with_duplicate_experiment(QUICK))
    first = path.read_text().splitlines().index("  fig2b:") + 1
    second = path.read_text().splitlines().index("  fig2b:", first) + 1
    with pytest.raises(
        ConfigError, match=rf"key 'fig2b' at line {second} \(first at line {first}\)"
    ):
        read_config_file(path)


def test_duplicate_key_in_a_flow_mapping_and_merge_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "regularizers:\n  none: {}\n  wd: {weight_decay: 1.0e-4, weight_decay: 5.0e-4}\n"
    )
    with pytest.raises(ConfigError, match=r"key 'weight_decay' at line 3 \(first at line 3\)"):
        read_config_file(path)
    # Overriding a key brought in by a YAML merge (`<<: *base`) is not a duplicate.
    path.write_text("base: &b {lr: 0.1, momentum: 0.9}\nfast: {<<: *b, lr: 0.5}\n")
    assert read_config_file(path)["fast"] == {"lr": 0.5, "momentum": 0.9}


def test_python_tag_is_refused_with_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seeds: [0]\nhook: !!python/object:os.system ['echo hi']\n")
    with pytest.raises(
        ConfigError,
        match=r"YAML tags such as !!python/object are not allowed in the "
        r"config: !!python/object:os.system at line 2 of",
    ):
        read_config_file(path)


def test_output_naming_a_missing_experiment():
    config = load()
    config["tables"]["table4"]["experiment"] = "tabel4"
    config["figures"]["fig1a_learning_curves"]["experiment"] = "fig1"
    with pytest.raises(ConfigError) as err:
        check_config(config)
    message = str(err.value)
    assert "tables.table4.experiment: 'tabel4' is not defined under 'experiments:'" in message
    assert "figures.fig1a_learning_curves.experiment: 'fig1'" in message
    assert (
        "beyond_weight_decay, fig1a, fig1bc, fig2b, table1, table4; did you mean 'table4'?)"
        in message
    )


def test_imagenet_only_outputs_may_name_a_missing_experiment():
    config = load()
    assert "fig2a" not in config["experiments"] and "table2" not in config["experiments"]
    check_config(config, report_dir=REPORT_DIR)  # fig2a / table2: skipped, not an error
    del config["tables"]["table2"]["requires_dataset"]
    with pytest.raises(ConfigError, match="tables.table2.experiment: 'table2' is not defined"):
        check_config(config)


def test_figure_without_caption_names_the_caption_file():
    config = load()
    config["figures"]["fig9_custom"] = copy.deepcopy(config["figures"]["fig2b_batchnorm"])
    with pytest.raises(
        ConfigError,
        match=r"figures\.fig9_custom: its report caption "
        r".*workflow/report/fig9_custom\.rst is missing",
    ):
        check_config(config, report_dir=REPORT_DIR)


def test_schema_error_summary_names_path_expected_and_found():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    config = load()
    config["training"]["lr_decayy"] = 0.9
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    summary = schema_error_summary(error)
    assert summary.splitlines()[0].startswith(
        "config.training: Additional properties are not allowed ('lr_decayy' was unexpected)"
    )
    assert "expected: only the keys batch_size, momentum, lr_decay" in summary
    assert "found: {" in summary and len(summary.splitlines()) == 3
    config = load()
    config["corruptions"]["labels_p020"]["prob"] = 1.2
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    assert schema_error_summary(error).splitlines() == [
        "config.corruptions.labels_p020.prob: 1.2 is greater than the maximum of 1",
        "  expected: maximum 1 "
        "(random_labels only, probability that each training label is redrawn)",
        "  found: 1.2",
    ]


# ---- the same mistakes through `snakemake -n`: a short message before any job


def test_duplicate_key_stops_the_workflow(tmp_path):
    result = dry_run(tmp_path, with_duplicate_experiment(QUICK))
    assert result.returncode != 0
    assert "key 'fig2b' at line" in result.stdout + result.stderr
    assert len(error_lines(result)) < 10


def test_schema_error_is_a_few_lines_naming_the_key(tmp_path):
    result = dry_run(tmp_path, QUICK.replace("  lr_decay: 0.95", "  lr_decayy: 0.95"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "config.training: Additional properties are not allowed ('lr_decayy' was unexpected)"
        in output
    )
    assert len(error_lines(result)) < 15, output


def test_missing_experiment_and_caption_stop_the_workflow(tmp_path):
    text = QUICK.replace("table4: {experiment: table4}", "table4: {experiment: tabel4}")
    text = text.replace(
        "figures:", "figures:\n  fig9_custom: {kind: batchnorm, experiment: fig2b}", 1
    )
    result = dry_run(tmp_path, text)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "'tabel4' is not defined under 'experiments:'" in output
    assert "workflow/report/fig9_custom.rst is missing" in output
    assert "InputFunctionException" not in output and "FileNotFoundError" not in output


def test_python_tag_in_the_default_config(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    quick = checkout / "config/config.yaml"
    quick.write_text(
        QUICK.replace("seeds:", "hook: !!python/object:os.system ['echo hi']\nseeds:", 1)
    )
    line = quick.read_text().splitlines().index("hook: !!python/object:os.system ['echo hi']") + 1
    result = snakemake(
        "-n", "--snakefile", str(checkout / "Snakefile"), "--directory", str(tmp_path)
    )
    assert result.returncode != 0
    assert (
        f"YAML tags such as !!python/object are not allowed in the config: "
        f"!!python/object:os.system at line {line}"
    ) in result.stdout + result.stderr
