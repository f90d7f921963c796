# Paper sections 4-5: Theorem 1's construction at full scale and Table 3 (minimum-norm
# kernel interpolation). Settings: config["theory"] (workflow/schemas/theory.schema.yaml).


wildcard_constraints:
    kernel_solve="|".join(config.get("theory", {}).get("kernel_solves", {})) or "^$",


rule fit_expressivity:
    input:
        train=get_theory_data,
    output:
        rows=res("theory/expressivity/{dataset}.parquet"),
    log:
        res("logs/fit_expressivity/{dataset}.log"),
    benchmark:
        res("benchmarks/fit_expressivity/{dataset}.tsv")
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=get_expressivity_mem_mb,
        runtime=60,
    params:
        settings=config.get("theory", {}).get("expressivity"),
        seed=config.get("theory", {}).get("seed"),
    script:
        "../scripts/fit_expressivity.py"


rule solve_kernel:
    input:
        unpack(get_kernel_solve_data),
    output:
        row=res("theory/kernel_solves/{kernel_solve}.parquet"),
    log:
        res("logs/solve_kernel/{kernel_solve}.log"),
    benchmark:
        res("benchmarks/solve_kernel/{kernel_solve}.tsv")
    conda:
        "../../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=get_kernel_solve_mem_mb,
        runtime=120,
    params:
        row_keys=get_kernel_solve_keys,
        spec=get_kernel_solve_spec,
        seed=config.get("theory", {}).get("seed"),
    script:
        "../scripts/solve_kernel.py"


rule assemble_expressivity_table:
    input:
        rows=get_expressivity_rows,
    output:
        parquet=res("tables/expressivity.parquet"),
        md=report(
            res("tables/expressivity.md"),
            caption="../report/expressivity.rst",
            category="Tables",
            labels={"table": "expressivity"},
        ),
    log:
        res("logs/assemble_expressivity_table/expressivity.log"),
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        kind="expressivity",
    script:
        "../scripts/make_theory_table.py"


rule assemble_kernel_table:
    input:
        rows=get_kernel_solve_rows,
    output:
        parquet=res("tables/table3_kernels.parquet"),
        md=report(
            res("tables/table3_kernels.md"),
            caption="../report/table3_kernels.rst",
            category="Tables",
            labels={"table": "table3_kernels"},
        ),
    log:
        res("logs/assemble_kernel_table/table3_kernels.log"),
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        kind="table3_kernels",
    script:
        "../scripts/make_theory_table.py"


rule expressivity:
    input:
        theory_short_target("expressivity", rules.assemble_expressivity_table.output.md),


rule table3:
    input:
        theory_short_target("table3", rules.assemble_kernel_table.output.md),
