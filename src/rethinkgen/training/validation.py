"""A validation split held out from the training split: never trained on, scored every
whole-training-set evaluation, so an early-stopping epoch can be picked without looking at
the test set (docs/beyond.md, "Memorization")."""

from __future__ import annotations

import numpy as np


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices trained on, indices held out), each sorted, of a training split of ``n``."""
    if fraction == 0:
        return np.arange(n), np.arange(0)
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    held = round(fraction * n)
    if held < 1 or held >= n:
        raise ValueError(
            f"validation_fraction {fraction} of {n} training examples leaves "
            f"{held} for validation and {n - held} for training; both need at least 1"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def hold_out(train_split, fraction: float, seed: int) -> tuple[object, dict]:
    """(the split left to train on, {"validation": held-out split}); ({} when fraction is 0).

    The held-out examples keep their assigned (possibly corrupted) labels, as a practitioner
    would have them; with symmetric label noise the validation accuracy is an affine function
    of the clean one, so its best epoch estimates the clean best epoch.
    """
    if fraction == 0:
        return train_split, {}
    kept, held = split_indices(len(train_split), fraction, seed)
    return train_split.subset(kept), {"validation": train_split.subset(held)}


def split_test_halves(test_split, seed: int) -> dict:
    """{"test_pick": half, "test_score": the other half} of the test split, drawn with the
    run's seed: one half picks an epoch, the other scores the pick without bias."""
    n = len(test_split)
    if n < 2:
        raise ValueError(f"test_halves needs at least 2 test examples, got {n}")
    order = np.random.default_rng([seed, 2]).permutation(n)
    return {
        "test_pick": test_split.subset(np.sort(order[: n // 2])),
        "test_score": test_split.subset(np.sort(order[n // 2 :])),
    }
