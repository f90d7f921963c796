# "How much does your model memorize?": one page for the model and dataset named by the
# config's `own_model:` section (config/your_model.yaml; docs/own-model.md).
from rethinkgen.user_inputs import OWN_MODEL_PAGE, own_model_page

OWN_MODEL = own_model_page(config)


def own_model_page_input(wildcards):
    """The three experiments' tables and every figure the page shows."""
    if OWN_MODEL is None:
        raise ValueError(
            "the page needs an `own_model:` section in the config; "
            "see config/your_model.yaml and docs/own-model.md"
        )
    tables = "results/tables/experiments/{}/{}.parquet"
    files = {
        "randomizations": tables.format(OWN_MODEL["randomizations"], "runs"),
        "sweep": tables.format(OWN_MODEL["sweep"], "runs"),
        "dynamics": tables.format(OWN_MODEL["dynamics"], "curves"),
    }
    parts = ("randomizations", "sweep", "dynamics")
    keys = [key for part in parts for key in OWN_MODEL[f"{part}_figures"]]
    return files | {"figures": [f"results/figures/{key}.png" for key in keys]}


def own_model_source(wildcards):
    """The model's builder or factory and its file's SHA-256 (torch in the main env only)."""
    from rethinkgen.training.models import model_source

    return model_source(config["models"][OWN_MODEL["model"]])


rule make_own_model_page:
    input:
        unpack(own_model_page_input),
    output:
        md=report(OWN_MODEL_PAGE, category="How much does your model memorize?"),
    log:
        "logs/make_own_model_page/own_model.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        spec=OWN_MODEL,
        source=own_model_source,
    script:
        "../scripts/make_own_model_page.py"


rule memorize:
    input:
        OWN_MODEL_PAGE,
    localrule: True
