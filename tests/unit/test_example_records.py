"""Per-example learning records (training.record_examples) and their measures, checked
against values computed by hand; a resumed run's record equals an uninterrupted one's."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rethinkgen.analysis import example_learning as el
from rethinkgen.schemas import EXAMPLES
from rethinkgen.training.engine import train
from rethinkgen.training.examples import write_examples
from rethinkgen.training.protocol import Interrupted
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split

# Five examples, evaluations at epochs 0-3; examples 2 and 4 have corrupted labels.
CORRECT = np.array(
    [
        [0, 1, 0, 1, 1],
        [1, 0, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 0],
    ]
)
MARGIN = np.array(
    [
        [-1, 1, -1, 1, 1],
        [1, -1, 3, 2, -2],
        [2, 1, -0.5, 2, 1],
        [3, 0.5, -0.5, 2, -2],
    ]
)
CORRUPTED = np.array([0, 0, 1, 0, 1])


def hand_record() -> pd.DataFrame:
    epochs, n = CORRECT.shape
    return pd.DataFrame(
        {
            "epoch": np.repeat(np.arange(epochs), n),
            "example": np.tile(np.arange(n) + 100, epochs),
            "correct": CORRECT.ravel().astype(np.int8),
            "margin": MARGIN.ravel().astype(np.float16),
            "corrupted": np.tile(CORRUPTED, epochs).astype(np.int8),
        }
    ).sample(frac=1, random_state=0)  # the measures may not rely on the row order


def test_measures_match_hand_computed_values():
    measures = el.example_measures(hand_record())
    assert measures["example"].tolist() == [100, 101, 102, 103, 104]
    # learned from epoch 1; from 2 (forgotten at 1); never; from 0; never (correct at 2 only)
    np.testing.assert_array_equal(measures["first_learned_epoch"], [1, 2, np.nan, 0, np.nan])
    assert measures["forgetting_events"].tolist() == [0, 1, 1, 0, 2]
    np.testing.assert_allclose(measures["aum"], [2, 0.5 / 3, 2 / 3, 2, -1], rtol=1e-3)
    detection = el.readout_detection(measures)
    # -AUM: corrupted 102 (-0.67) beats the two clean -2s and loses to 101 (-0.17); 104
    # (+1) beats all three: 5 of 6 pairs. Top 2 = {104, 101}: one corrupted.
    assert detection["auc_aum"] == pytest.approx(5 / 6)
    assert detection["precision_aum"] == pytest.approx(0.5)
    # forgetting (0, 1, 1, 0, 2): 102's 1 ties 101's 1 (a half), beats two 0s; 104 beats
    # all: 5.5 of 6. Top 2: 104, then one of the tied {101, 102}: 1.5 of 2 on average.
    assert detection["auc_forgetting"] == pytest.approx(5.5 / 6)
    assert detection["precision_forgetting"] == pytest.approx(0.75)
    assert detection["auc_first_learned"] == pytest.approx(1.0)  # never learned = latest
    assert detection["auc_margin"] == pytest.approx(1.0)  # final margins -0.5, -2 vs >= 0.5


def test_detection_over_epochs_matches_hand_computed_values():
    table = el.detection_over_epochs(hand_record()).set_index("epoch")
    # epoch 1 margins (1, -1, 3, 2, -2): 102's 3 is the highest (0 of 3), 104's -2 the
    # lowest (3 of 3)
    assert table.loc[1, "auc_margin"] == pytest.approx(0.5)
    assert table.loc[1, "clean_learned"] == pytest.approx(2 / 3)  # 100 and 103 by epoch 1
    assert table.loc[1, "corrupted_learned"] == 0
    assert table.loc[1, "corrupted_correct"] == pytest.approx(0.5)
    assert table.loc[3, "clean_learned"] == 1
    assert table.loc[3, "auc_aum"] == pytest.approx(5 / 6)
    # up to epoch 1 only: 101 was wrong at the last evaluation, so not learned
    early = el.example_measures(hand_record(), until_epoch=1)
    np.testing.assert_array_equal(early["first_learned_epoch"], [1, np.nan, 1, 0, np.nan])


def test_precision_of_a_score_that_tells_nothing_is_the_base_rate():
    assert el.precision_at_rate(np.zeros(5), CORRUPTED.astype(bool)) == pytest.approx(0.4)
    assert el.roc_auc(np.zeros(5), CORRUPTED.astype(bool)) == pytest.approx(0.5)


def test_last_learned_puts_never_learned_first():
    last = el.last_learned(el.example_measures(hand_record()), count=3)
    assert last["example"].tolist() == [104, 102, 101]  # never (lower AUM first), then 2


RUN = {
    "dataset": "tiny",
    "model": "mlp",
    "corruption": "labels_p025",
    "regularizer": "none",
    "seed": 3,
    "model_spec": {"arch": "mlp", "hidden": [32], "lr": 0.05},
    "regularizer_spec": {"dropout": 0.2},
    "training": {
        "max_epochs": 4,
        "batch_size": 32,
        "crop_size": None,
        "num_threads": 1,
        "validation_fraction": 0.2,
        "record_examples": True,
    },
}


def corrupted_split(n: int = 120):
    split = make_split(n, h=6, w=6, c=1, seed=2)
    true = split.labels.copy()
    changed = np.arange(n) % 4 == 1
    return dataclasses.replace(
        split, labels=np.where(changed, (true + 1) % 10, true), true_labels=true
    )


def test_the_engine_records_every_trained_example_at_every_evaluation(tmp_path):
    split, test = corrupted_split(), make_split(30, h=6, w=6, c=1, seed=5)
    result = train(TrainConfig.from_dict(RUN), split, test)
    table = result.examples
    assert table.schema == EXAMPLES
    record = table.to_pandas()
    assert sorted(record["epoch"].unique()) == [0, 1, 2, 3, 4]
    kept = record[record["epoch"] == 0]
    assert len(kept) == 96  # 120 less the 24 held out for validation
    assert set(kept["example"]) < set(range(120))
    np.testing.assert_array_equal(kept["corrupted"], kept["example"] % 4 == 1)
    # the record's share correct is the metrics' whole-training-set accuracy
    accuracy = result.metrics[result.metrics["split"] == "train"].set_index("epoch")["accuracy"]
    np.testing.assert_allclose(record.groupby("epoch")["correct"].mean(), accuracy)
    corrupted = result.metrics[result.metrics["split"] == "train_corrupted"]
    np.testing.assert_allclose(
        record[record["corrupted"] == 1].groupby("epoch")["correct"].mean(),
        corrupted["accuracy"],
    )
    assert ((record["margin"] > 0) <= (record["correct"] == 1)).all()  # positive margin: correct
    path = tmp_path / "examples.parquet"
    write_examples(table, path)
    assert pq.read_schema(path) == EXAMPLES
    assert list(tmp_path.iterdir()) == [path]  # no temporary left


def test_a_resumed_runs_record_equals_an_uninterrupted_ones(tmp_path):
    split, test = corrupted_split(), make_split(30, h=6, w=6, c=1, seed=5)
    whole = train(TrainConfig.from_dict(RUN), split, test)
    checkpoint = tmp_path / "last.pt"
    stops = iter([False, True])
    with pytest.raises(Interrupted):
        train(TrainConfig.from_dict(RUN), split, test, checkpoint, should_stop=lambda: next(stops))
    resumed = train(TrainConfig.from_dict(RUN), split, test, checkpoint)
    assert resumed.info["resumed_from_epoch"] == 2
    assert resumed.examples.equals(whole.examples)
    write_examples(whole.examples, tmp_path / "a.parquet")
    write_examples(resumed.examples, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_the_setting_is_off_by_default_and_out_of_the_identity_then():
    off = TrainConfig.from_dict({**RUN, "training": {"max_epochs": 2, "crop_size": None}})
    assert not off.record_examples
    assert "record_examples" not in json.loads(off.fingerprint())
    on = dataclasses.replace(off, record_examples=True)
    assert json.loads(on.fingerprint())["record_examples"] is True
    result = train(off, make_split(40, h=6, w=6, c=1), make_split(10, h=6, w=6, c=1, seed=1))
    assert result.examples is None
