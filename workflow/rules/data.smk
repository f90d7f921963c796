# Raw data -> prepared splits -> the randomization tests (drawn once, shared by all runs).


rule prepare_dataset:
    output:
        train="resources/datasets/{dataset}/train.npz",
        test="resources/datasets/{dataset}/test.npz",
        info="resources/datasets/{dataset}/dataset.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    # Above every training job: data jobs are cheap and unlock the costliest runs.
    priority: DATA_PRIORITY
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        spec=get_dataset_spec,
        seed=config["data_seed"],
    script:
        "../scripts/prepare_dataset.py"


rule corrupt_dataset:
    input:
        train="resources/datasets/{dataset}/train.npz",
        test="resources/datasets/{dataset}/test.npz",
    output:
        train="results/data/{dataset}/{corruption}/train.npz",
        test="results/data/{dataset}/{corruption}/test.npz",
        info="results/data/{dataset}/{corruption}/corruption.json",
    log:
        "logs/corrupt_dataset/{dataset}/{corruption}.log",
    priority: DATA_PRIORITY
    localrule: True
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=4000,
    params:
        spec=get_corruption_spec,
        seed=config["data_seed"],
    script:
        "../scripts/corrupt_dataset.py"
