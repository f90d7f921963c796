# Training: one job per (dataset, model, corruption, regularizer, seed).


rule train_model:
    input:
        unpack(get_run_data),
    output:
        metrics=RUN_PATHS.pattern("metrics"),
        info=RUN_PATHS.pattern("info"),
        model=RUN_PATHS.pattern("model"),
    log:
        RUN_PATHS.pattern("log"),
    benchmark:
        RUN_PATHS.pattern("benchmark")
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
        # The run's identity only: editing a scheduling setting retrains nothing. The job
        # reads those from the config when it starts (rethinkgen.config.job_run_spec).
        identity=get_run_identity,
    script:
        "../scripts/train_model.py"
