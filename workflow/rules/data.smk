# Raw data -> prepared splits -> the randomization tests (drawn once, shared by all runs).


rule prepare_dataset:
    output:
        train=f"{DATASET_DIR}/train.npz",
        test=f"{DATASET_DIR}/test.npz",
        info=f"{DATASET_DIR}/dataset.json",
    log:
        "logs/prepare_dataset/{dataset}/data_seed{data_seed}.log",
    # Above every training job: data jobs are cheap and unlock the costliest runs.
    priority: DATA_PRIORITY
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        spec=get_dataset_spec,
        seed=get_data_seed,
    script:
        "../scripts/prepare_dataset.py"


rule corrupt_dataset:
    input:
        train=rules.prepare_dataset.output.train,
        test=rules.prepare_dataset.output.test,
    output:
        train=f"{CORRUPTED_DIR}/train.npz",
        test=f"{CORRUPTED_DIR}/test.npz",
        info=f"{CORRUPTED_DIR}/corruption.json",
    log:
        "logs/corrupt_dataset/{dataset}/{corruption}/data_seed{data_seed}.log",
    priority: DATA_PRIORITY
    localrule: True
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=4000,
    params:
        spec=get_corruption_spec,
        seed=get_data_seed,
    script:
        "../scripts/corrupt_dataset.py"
