"""The draw's expected chance level (analysis.chance): measured from the saved labels."""

from __future__ import annotations

import numpy as np
import pytest

from rethinkgen.analysis.chance import chance_levels, expected_chance_level
from rethinkgen.data.splits import Split, save_split


def test_expected_chance_level_of_a_draw():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # class 0 keeps its own label on 3 of 4 images, class 1 on 1 of 4
    labels = np.array([0, 0, 0, 1, 1, 0, 0, 0])
    test = np.array([0, 1, 1, 1])  # pi_test = (1/4, 3/4)
    level = expected_chance_level(true, labels, test, 2)
    assert level == pytest.approx(0.25 * 0.75 + 0.75 * 0.25)


def test_a_uniform_draw_is_near_one_over_k():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 10, 100_000)
    level = expected_chance_level(true, rng.integers(0, 10, 100_000), rng.integers(0, 10, 5000), 10)
    assert level == pytest.approx(0.1, abs=0.005)


def test_chance_levels_reads_the_saved_splits(tmp_path):
    images = np.zeros((4, 2, 2, 1), dtype=np.uint8)
    classes = ["a", "b"]
    train = Split(images, np.array([0, 1, 1, 1]), classes, true_labels=np.array([0, 0, 1, 1]))
    save_split(train, tmp_path / "train.npz")
    save_split(Split(images, np.array([0, 0, 1, 1]), classes), tmp_path / "test.npz")
    save_split(Split(images, np.array([0, 0, 1, 1]), classes), tmp_path / "clean.npz")
    draw = dict(dataset="d", corruption="random_labels", data_seed=3)
    files = dict(train=tmp_path / "train.npz", test=tmp_path / "test.npz")
    levels = chance_levels([draw | files, draw | files | {"train": tmp_path / "clean.npz"}])
    assert len(levels) == 1  # a split without true labels is no draw
    assert levels.iloc[0].to_dict() == draw | {"expected_chance": pytest.approx(0.75)}
