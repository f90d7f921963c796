# Aggregated tables, the paper's tables and figures (paper values beside ours), and
# the short named targets: `snakemake fig1a`, `snakemake table1`, `snakemake scorecard`.
# Each figure/table reads only its experiment's runs, so building one trains only those.


wildcard_constraints:
    experiment="|".join(config["experiments"]),
    figure="|".join(FIGURE_SPECS) or "no_figures",
    table="|".join(TABLE_SPECS) or "no_tables",


rule aggregate_experiment_runs:
    input:
        metrics=experiment_metrics,
        info=experiment_infos,
    output:
        curves="results/tables/experiments/{experiment}/curves.parquet",
        runs="results/tables/experiments/{experiment}/runs.parquet",
    log:
        "logs/aggregate_experiment_runs/{experiment}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        readouts=experiment_readouts,
    script:
        "../scripts/aggregate_runs.py"


rule aggregate_runs:
    input:
        metrics=run_files(all_runs(config), "metrics"),
        info=run_files(all_runs(config), "info"),
    output:
        curves="results/tables/curves.parquet",
        runs="results/tables/runs.parquet",
    log:
        "logs/aggregate_runs/all.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/aggregate_runs.py"


rule make_table:
    input:
        runs=experiment_table("runs"),
    output:
        parquet="results/tables/{table}.parquet",
        md="results/tables/{table}.md",
        tex="results/tables/{table}.tex",
        html=report(
            "results/tables/{table}.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        "logs/make_table/{table}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        caption=caption_text,
    script:
        "../scripts/make_table.py"


# docs/paper.md, "Reproduction checks": each check on the read-outs of the experiment
# behind its figure or table, and the theory tables when the config has a theory section.
rule make_scorecard:
    input:
        **targets.scorecard_inputs(config),
    output:
        parquet="results/tables/scorecard.parquet",
        md="results/tables/scorecard.md",
        tex="results/tables/scorecard.tex",
        html=report(
            "results/tables/scorecard.html",
            caption="../report/scorecard.rst",
            category="Tables",
            labels={"table": "scorecard"},
        ),
    log:
        "logs/make_scorecard/scorecard.log",
    localrule: True
    # torch: check 1 builds the paper's models to count their parameters
    conda:
        "../../envs/torch.yaml"
    params:
        experiments=targets.scorecard_experiments(config),
        draws=targets.scorecard_draws(config),
    script:
        "../scripts/make_scorecard.py"


rule plot_figure:
    input:
        curves=experiment_table("curves"),
        runs=experiment_table("runs"),
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf="results/figures/{figure}.pdf",
        # what the figure drew, one row per point or curve sample, with each run's outcome
        data="results/figures/{figure}.parquet",
    log:
        "logs/plot_figure/{figure}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=figure_spec,
        caption=caption_text,
    script:
        "../scripts/plot_figure.py"


# One short target per figure/table; a target whose experiment is not configured
# fails with a message saying which experiment to add.
for _name, _files in short_targets(config).items():

    rule:
        name:
            _name
        input:
            _files,
        localrule: True
