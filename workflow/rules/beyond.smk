# Beyond the paper: `snakemake beyond` builds the outputs of the config's `beyond:` section
# from the experiments with `target: beyond` (never trained by `snakemake all`).
# Its input functions and config checks live in common.smk.


rule solve_activations:
    input:
        train=beyond_theory_data,
    output:
        rows="results/theory/activations/{beyond_key}.parquet",
    log:
        "logs/solve_activations/{beyond_key}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    params:
        settings=beyond_theory_settings,
    script:
        "../scripts/solve_activations.py"


rule beyond_table:
    input:
        unpack(beyond_input),
    output:
        parquet="results/tables/beyond/{beyond_key}.parquet",
        curves="results/tables/beyond/{beyond_key}_curves.parquet",
        md=report(
            "results/tables/beyond/{beyond_key}.md",
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "table"},
        ),
    log:
        "logs/beyond_table/{beyond_key}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=beyond_spec,
        caption=beyond_caption,
    script:
        "../scripts/beyond_output.py"


rule beyond_figure:
    input:
        unpack(beyond_input),
    output:
        png=report(
            "results/figures/beyond/{beyond_key}.png",
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "figure"},
        ),
        pdf="results/figures/beyond/{beyond_key}.pdf",
    log:
        "logs/beyond_figure/{beyond_key}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=beyond_spec,
        caption=beyond_caption,
    script:
        "../scripts/beyond_output.py"


rule beyond:
    input:
        beyond_targets,
    localrule: True
