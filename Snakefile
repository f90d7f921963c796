# rethinkgen: Zhang et al. (ICLR 2017), "Understanding deep learning requires
# rethinking generalization", from raw data to finished figures.
#
#   snakemake --cores 2 all                                  # offline default (config/quick.yaml)
#   snakemake --cores 8 all --configfile config/config.yaml  # the paper, on CIFAR-10
import os

from snakemake.utils import min_version

min_version("9.0")


# A --configfile given on the command line replaces the default rather than being
# merged into it, so the paper's and the quick config never mix.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "quick.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"


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


rule all:
    default_target: True
    input:
        training_targets(),
        report_targets(),
        theory_targets(),
