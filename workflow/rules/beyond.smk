# Beyond the paper: `snakemake beyond` builds the outputs of the config's `beyond:` section
# from the experiments with `target: beyond` (never trained by `snakemake all`).
from rethinkgen.analysis.beyond import THEORY_KINDS, beyond_outputs, check_beyond

validate_config(config, "../schemas/beyond.schema.yaml")
_BEYOND_PROBLEMS = check_beyond(config)
if _BEYOND_PROBLEMS:
    raise ConfigError("invalid config:\n  - " + "\n  - ".join(_BEYOND_PROBLEMS))
BEYOND_SPECS = config.get("beyond", {})


wildcard_constraints:
    beyond_key="|".join(BEYOND_SPECS) or "no_beyond_outputs",


def beyond_spec(wildcards):
    return BEYOND_SPECS[wildcards.beyond_key]


def beyond_caption(wildcards):
    with open(os.path.join(REPORT_DIR, f"{wildcards.beyond_key}.rst")) as handle:
        return handle.read()


def beyond_input(wildcards):
    """The experiment's aggregated runs (and curves), and the exact solves if any."""
    spec = beyond_spec(wildcards)
    base = f"results/tables/experiments/{spec['experiment']}"
    files = {"curves": f"{base}/curves.parquet", "runs": f"{base}/runs.parquet"}
    if spec["kind"] in THEORY_KINDS:
        files["solves"] = f"results/theory/activations/{wildcards.beyond_key}.parquet"
    return files


def beyond_theory_data(wildcards):
    dataset = beyond_spec(wildcards)["theory"]["dataset"]
    return f"resources/datasets/{dataset}/train.npz"


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
        settings=lambda wildcards: beyond_spec(wildcards)["theory"],
    script:
        "../scripts/solve_activations.py"


rule beyond_table:
    input:
        unpack(beyond_input),
    output:
        parquet="results/tables/{beyond_key}.parquet",
        md=report(
            "results/tables/{beyond_key}.md",
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "table"},
        ),
    log:
        "logs/beyond_table/{beyond_key}.log",
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
            "results/figures/{beyond_key}.png",
            caption="../report/beyond.rst",
            category="Beyond the paper",
            labels={"output": "{beyond_key}", "type": "figure"},
        ),
        pdf="results/figures/{beyond_key}.pdf",
    log:
        "logs/beyond_figure/{beyond_key}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=beyond_spec,
        caption=beyond_caption,
    script:
        "../scripts/beyond_output.py"


rule beyond:
    input:
        [path for files in beyond_outputs(config).values() for path in files],
    localrule: True
