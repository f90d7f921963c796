"""Data stage: dataset sources (prepare_dataset) and the randomization tests (corrupt_dataset)."""
