# Training: one job per (dataset, model, corruption, regularizer, seed).


def get_train_gpus(wildcards):
    """GPUs a training job claims: 1 only when the config asks for CUDA.

    `training.device: auto` still uses a GPU when the job's host has one; set
    `device: cuda` (or `--set-resources train_model:gpu=1`) so Snakemake schedules GPU
    jobs against `--resources gpu=N`. Decided from config, never from the submit host.
    """
    return 1 if str(config["training"].get("device", "auto")).startswith("cuda") else 0


rule train_model:
    input:
        train="results/data/{dataset}/{corruption}/train.npz",
        test="results/data/{dataset}/{corruption}/test.npz",
    output:
        metrics=RUN_DIR + "/metrics.parquet",
        info=RUN_DIR + "/run_info.json",
        model=RUN_DIR + "/model.pt",
    log:
        "logs/train_model/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}.tsv"
    params:
        run=get_run_config,
        # Not an output: Snakemake would delete it when a killed job is rerun.
        checkpoint=get_checkpoint_path,
    # Measured on 2 cores: two 1-thread jobs beat one 2-thread job.
    threads: 1
    resources:
        gpu=get_train_gpus,
        mem_mb=4000,
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_model.py"
