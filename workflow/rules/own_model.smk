# "How much does your model memorize?": one page for the model and dataset named by the
# config's `own_model:` section (config/your_model.yaml; docs/own-model.md).
rule make_own_model_page:
    input:
        unpack(own_model_page_input),
    output:
        md=report(OWN_MODEL_PAGE, category="How much does your model memorize?"),
    log:
        res("logs/make_own_model_page/own_model.log"),
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
