"""Training stage (train_model): models, batch preprocessing, the engine, checkpoints, multi-GPU."""
