# Training: one job per (dataset, model, corruption, regularizer, seed).


rule train_model:
    input:
        train="results/data/{dataset}/{corruption}/train.npz",
        test="results/data/{dataset}/{corruption}/test.npz",
    output:
        metrics="results/runs/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}/metrics.parquet",
        info="results/runs/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}/run_info.json",
        model="results/runs/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}/model.pt",
    log:
        "logs/train_model/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}.tsv"
    # Costliest runs first, so the cores finish together (rethinkgen.training.cost).
    priority: get_run_priority
    conda:
        "../../envs/torch.yaml"
    # Measured on 2 cores: two 1-thread jobs beat one 2-thread job.
    threads: 1
    # gpu_slots: this job's share of a GPU (training.runs_per_gpu; docs/cluster.md).
    resources:
        gpu=TRAIN_RESOURCES["gpu"],
        gpu_slots=TRAIN_RESOURCES["gpu_slots"],
        mem_mb=4000,
    params:
        run=get_run_config,
        # Not an output: Snakemake would delete it when a killed job is rerun.
        checkpoint=CHECKPOINT_PATH,
    script:
        "../scripts/train_model.py"
