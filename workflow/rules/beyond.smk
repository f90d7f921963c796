# Beyond the paper: `snakemake beyond` builds the outputs of the config's `beyond:` section
# from the experiments with `target: beyond` (never trained by `snakemake all`).
# Its input functions and config checks live in common.smk.


rule solve_activations:
    input:
        train=beyond_theory_data,
    output:
        rows=res("theory/activations/{beyond_key}.parquet"),
    log:
        res("logs/solve_activations/{beyond_key}.log"),
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
        parquet=res("tables/beyond/{beyond_key}.parquet"),
        curves=res("tables/beyond/{beyond_key}_curves.parquet"),
        md=report(
            res("tables/beyond/{beyond_key}.md"),
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "table"},
        ),
    log:
        res("logs/beyond_table/{beyond_key}.log"),
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
            res("figures/beyond/{beyond_key}.png"),
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "figure"},
        ),
        pdf=res("figures/beyond/{beyond_key}.pdf"),
    log:
        res("logs/beyond_figure/{beyond_key}.log"),
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
