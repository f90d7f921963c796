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
# the package was pip-installed; the rule scripts add it themselves (see their first lines).
WORKFLOW_DIR = workflow.current_basedir.get_path_or_uri(secret_free=True)
sys.path.insert(0, os.path.join(WORKFLOW_DIR, "src"))

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


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/beyond.smk"
include: "workflow/rules/own_model.smk"


report: "workflow/report/workflow.rst"


localrules:
    all,
    prepare_dataset,
    corrupt_dataset,
    aggregate_experiment_runs,
    aggregate_runs,
    make_table,
    plot_figure,
    assemble_expressivity_table,
    assemble_kernel_table,
    beyond_table,
    beyond_figure,


rule all:
    default_target: True
    input:
        training_targets(),
        report_targets(),
        theory_targets(),
        own_model_targets(config),
