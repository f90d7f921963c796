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
        [1, 1, 1, 1, 0],
        [1, 0, 0, 1, 1],
        [1, 1, 0, 1, 0],
    ]
)
MARGIN = np.array(
    [
        [-1, 1, -1, 1, 1],
        [1, 0.5, 3, 2, -2],
        [2, -1, -0.5, 2, 1],
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
    # learned from epoch 1; from 3 (forgotten at 2); never; from 0; never (wrong at 3)
    np.testing.assert_array_equal(measures["first_learned_epoch"], [1, 3, np.nan, 0, np.nan])
    # correct -> wrong after epoch 0 (103 and 104's start at epoch 0 do not count)
    assert measures["forgetting_events"].tolist() == [0, 1, 1, 0, 1]
    np.testing.assert_allclose(measures["aum"], [2, 0, 2 / 3, 2, -1], atol=1e-3)
    detection = el.readout_detection(measures)
    # -AUM: corrupted 102 (-0.67) beats the two clean -2s and loses to 101 (0); 104 (+1)
    # beats all three: 5 of 6 pairs. Top 2 = {104, 101}: one corrupted.
    assert detection["auc_aum"] == pytest.approx(5 / 6)
    assert detection["precision_aum"] == pytest.approx(0.5)
    # forgetting (0, 1, 1, 0, 1): 102 and 104 each tie 101 (a half) and beat two 0s: 5
    # of 6. Top 2 = two of the three tied {101, 102, 104}: 4/3 corrupted of 2 on average.
    assert detection["auc_forgetting"] == pytest.approx(5 / 6)
    assert detection["precision_forgetting"] == pytest.approx(2 / 3)
    assert detection["auc_first_learned"] == pytest.approx(1.0)  # never learned = latest
    assert detection["auc_margin"] == pytest.approx(1.0)  # final margins -0.5, -2 vs >= 0.5
    assert detection["corrupted_share"] == pytest.approx(0.4)


def test_detection_over_epochs_matches_hand_computed_values():
    table = el.detection_over_epochs(hand_record()).set_index("epoch")
    # epoch 1 margins (1, 0.5, 3, 2, -2): 102's 3 is the highest (0 of 3), 104's -2 the
    # lowest (3 of 3)
    assert table.loc[1, "auc_margin"] == pytest.approx(0.5)
    assert table.loc[1, "clean_learned"] == pytest.approx(2 / 3)  # 100 and 103 by epoch 1
    assert table.loc[1, "corrupted_learned"] == 0
    assert table.loc[1, "corrupted_correct"] == pytest.approx(0.5)
    assert table.loc[3, "clean_learned"] == 1
    assert table.loc[3, "auc_aum"] == pytest.approx(5 / 6)
    # up to epoch 1 only: 101 and 103 never wrong, 104 wrong at the last evaluation
    early = el.example_measures(hand_record(), until_epoch=1)
    np.testing.assert_array_equal(early["first_learned_epoch"], [1, 0, 1, 0, np.nan])


def test_never_learned_examples_count_as_forgotten_infinitely_often():
    record = hand_record()
    never = (record["example"] == 104) & (record["epoch"] > 0)
    record.loc[never, ["correct", "margin"]] = [0, -1.0]  # 104: wrong after epoch 0
    measures = el.example_measures(record)
    assert measures["forgetting_events"].tolist() == [0, 1, 1, 0, 0]
    assert measures["ever_learned"].tolist() == [True, True, True, True, False]
    detection = el.readout_detection(measures)
    # scores (0, 1, 1, 0, inf): 102 ties 101 and beats two 0s (2.5), 104 beats all three
    assert detection["auc_forgetting"] == pytest.approx(5.5 / 6)
    assert detection["corrupted_share"] == pytest.approx(0.4)


def test_precision_of_a_score_that_tells_nothing_is_the_base_rate():
    assert el.precision_at_rate(np.zeros(5), CORRUPTED.astype(bool)) == pytest.approx(0.4)
    assert el.roc_auc(np.zeros(5), CORRUPTED.astype(bool)) == pytest.approx(0.5)


def test_last_learned_puts_never_learned_first():
    last = el.last_learned(el.example_measures(hand_record()), count=3)
    assert last["example"].tolist() == [104, 102, 101]  # never (lower AUM first), then 3


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
    split, test = corrupted_split(40), make_split(10, h=6, w=6, c=1, seed=1)
    without = train(off, split, test)
    assert without.examples is None
    # keeping the record changes no training number
    numbers = ["epoch", "step", "split", "loss", "accuracy", "lr"]
    with_record = train(on, split, test)
    assert with_record.examples.num_rows == 3 * 40
    pd.testing.assert_frame_equal(with_record.metrics[numbers], without.metrics[numbers])


def synthetic_record(seed: int, prob: float, n: int = 200, epochs: int = 6) -> pd.DataFrame:
    """Clean examples learned early and kept, corrupted ones late: a known ordering."""
    rng = np.random.default_rng(seed)
    corrupted = rng.random(n) < prob
    learned_at = np.where(corrupted, rng.integers(3, epochs + 2, n), rng.integers(1, 3, n))
    epoch = np.arange(epochs + 1)[:, None]
    correct = epoch >= learned_at[None, :]
    margin = np.where(correct, 1.0, -1.0) * (1 + rng.random((epochs + 1, n)))
    return pd.DataFrame(
        {
            "epoch": np.repeat(np.arange(epochs + 1), n),
            "example": np.tile(np.arange(n), epochs + 1),
            "correct": correct.ravel().astype(np.int8),
            "margin": margin.ravel().astype(np.float16),
            "corrupted": np.tile(corrupted, epochs + 1).astype(np.int8),
        }
    )


def synthetic_runs() -> pd.DataFrame:
    rows = [
        {"dataset": "d", "model": "m", "corruption": c, "regularizer": "none", "seed": s,
         "corruption_prob": p, "readout_epoch": 6}
        for c, p in (("labels_p020", 0.2), ("labels_p050", 0.5), ("true_labels", 0.0))
        for s in (0, 1)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def load_synthetic(keys):
    prob = {"labels_p020": 0.2, "labels_p050": 0.5}[keys.corruption]
    return synthetic_record(keys.seed, prob)


def test_example_learning_output_table_figure_and_markdown():
    from rethinkgen.analysis import beyond, learning_order

    table = learning_order.example_learning_table(synthetic_runs(), load_synthetic)
    readout = table[table["part"] == "readout"]
    assert len(readout) == 4 and set(readout["corruption_prob"]) == {0.2, 0.5}
    assert (readout["epoch"] == 6).all()
    over = table[table["part"] == "epochs"]
    at2 = over[over["epoch"] == 2]
    assert (at2["clean_learned"] == 1).all() and (at2["corrupted_learned"] == 0).all()
    assert (readout["auc_first_learned"] == 1).all()  # every corrupted example learned later
    assert (readout["precision_first_learned"] == 1).all()
    finding = learning_order.example_learning_finding(table)
    assert finding.startswith("4 runs (m; p = 0.2, 0.5; 2 seed(s)). After one epoch")
    assert "median epoch to half learned: clean 2, corrupted 5" in finding
    assert "first-learned epoch 1.000" in finding
    output = beyond.build(
        {"kind": "example_learning"}, None, synthetic_runs(), [], None, load_synthetic
    )
    assert output.table.equals(table) and output.finding == finding
    assert beyond.finding("example_learning", output.table) == finding  # from the Parquet alone
    assert (output.curves["part"] == "epochs").all()
    markdown = beyond.render_markdown("example_learning", output)
    assert markdown.startswith(f"# {learning_order.TITLE}\n\n**Finding.** {finding}")
    assert "| model   |   corruption_prob |   epoch |" in markdown
    fig = beyond.plot("example_learning", output)
    assert len(fig.axes) == 2 * 2  # one model: learned and AUC rows; two levels of p
    with pytest.raises(ValueError, match="kept no per-example record"):
        learning_order.example_learning_table(synthetic_runs(), lambda keys: None)


def test_own_model_page_lists_the_examples_learned_last():
    from rethinkgen.analysis.own_model import examples_section

    runs = synthetic_runs()
    spec = {"model": "m", "examples_figures": ["example_learning"]}

    def load(keys):
        return (
            synthetic_record(0, 0.0) if keys.corruption == "true_labels" else load_synthetic(keys)
        )

    lines = examples_section(spec, runs, runs, {"example_learning": "figures/x.png"}, load)
    text = "\n".join(lines)
    assert "![example_learning](figures/x.png)" in text
    measures = el.example_measures(synthetic_record(0, 0.0))
    latest = measures[measures["first_learned_epoch"] == 2].sort_values("aum").iloc[0]
    table = text[text.index("|   example |") :].splitlines()
    assert table[2].split("|")[1].strip() == str(latest["example"])  # learned last, the lowest AUM
    assert len(table) == 2 + 20
    missing = examples_section(spec, runs, runs, {}, lambda keys: None)
    assert "No per-example record" in missing[-1]


def test_records_are_found_beside_the_run_info_given_for_each_run(tmp_path):
    from rethinkgen.analysis.learning_order import record_loader
    from rethinkgen.run import RunKeys

    split, test = corrupted_split(), make_split(30, h=6, w=6, c=1, seed=5)
    result = train(
        TrainConfig.from_dict({**RUN, "training": {**RUN["training"], "max_epochs": 1}}),
        split,
        test,
    )
    kept, bare = RunKeys.of(result.info["keys"]), RunKeys("tiny", "mlp", "other", "none", 3)
    infos = []
    for keys in (kept, bare):
        paths = keys.paths(tmp_path / "prefix" / "results")
        paths.run_dir.mkdir(parents=True)
        paths.info.write_text(json.dumps({"keys": dict(vars(keys))}))
        infos.append(str(paths.info))
    write_examples(result.examples, kept.paths(tmp_path / "prefix" / "results").examples)
    load = record_loader(infos)
    record = load(kept)
    assert list(record.columns) == ["epoch", "example", "correct", "margin", "corrupted"]
    assert len(record) == 2 * 96
    assert load(bare) is None  # its run kept no record
    assert load(RunKeys("tiny", "mlp", "unlisted", "none", 0)) is None
