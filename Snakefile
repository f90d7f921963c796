# rethinkgen: Zhang et al. (ICLR 2017), "Understanding deep learning requires
# rethinking generalization", from raw data to finished figures.
#
#   snakemake --cores 2 all                                  # offline default (config/quick.yaml)
#   snakemake --cores 8 all --configfile config/config.yaml  # the paper, on CIFAR-10
#   snakemake --cores 2 beyond                               # beyond the paper (docs/beyond.md)
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# This file's folder, also when the workflow is used as a Snakemake `module` (there
# workflow.basedir is the importing workflow's). Its src/ is importable here whether or not
# the package was pip-installed; the rule scripts add it themselves (workflow/scripts/checkout_src.py).
WORKFLOW_DIR = workflow.current_basedir.get_path_or_uri(secret_free=True)
sys.path.insert(0, os.path.join(WORKFLOW_DIR, "src"))

from rethinkgen.config import ConfigError
from rethinkgen.config_files import check_config_files
from rethinkgen.user_inputs import own_model_targets

DEFAULT_CONFIG = os.path.join(WORKFLOW_DIR, "config", "quick.yaml")
# Duplicate keys (Snakemake's loader keeps the last silently) and YAML tags are refused with
# the file and line: the default before Snakemake reads it, --configfile files as given
# (Snakemake loads those first and refuses a !!python tag itself, in its own words).
check_config_files(workflow.configfiles or [DEFAULT_CONFIG])


# A --configfile given on the command line replaces the default rather than being
# merged into it, so the paper's and the quick config never mix.
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIG


# Used as a module whose `config:` is empty (e.g. `config: config` in a workflow without a
# configfile), say so rather than "'data_seed' is a required property".
if not config:
    raise ConfigError(
        "rethinkgen got an empty config. As a Snakemake module, pass one in the module "
        'declaration (`config: config["rethinkgen"]`, see docs/module.md); on the '
        "command line, give --configfile config/quick.yaml or another config file."
    )


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/beyond.smk"
include: "workflow/rules/own_model.smk"


report: "workflow/report/workflow.rst"


# Cheap rules carry `localrule: True` themselves (kept when the workflow is used as a
# module with a prefix, where a global `localrules:` list is lost).
rule all:
    default_target: True
    input:
        training_targets(),
        report_targets(),
        theory_targets(),
        own_model_targets(config),
    localrule: True


# `snakemake fig9` would only say "No rule to produce fig9". A bare word that names no rule
# is a file target without a folder or suffix, which no rule here makes but this one: its
# input function says which targets there are (rethinkgen.targets.unknown_target_message).
rule unknown_target:
    input:
        unknown_target_input,
    output:
        "{target}",
    wildcard_constraints:
        target=r"[A-Za-z][A-Za-z0-9_-]*",
    localrule: True
