"""The paper's own numbers (Zhang et al., ICLR 2017), shipped as package data.

See PROVENANCE.md beside this file for where each CSV comes from. Loaders return
tidy DataFrames whose key columns use the same vocabulary as our runs tables
(`paper_model`, `paper_condition`, booleans for regularizers), so a comparison is a
plain merge.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

# Table 1's "# params" column (REFERENCE section 3); not part of tables.csv.
PAPER_NUM_PARAMS = {
    "inception": 1_649_402,
    "inception_nobn": 1_649_402,
    "alexnet": 1_387_786,
    "mlp_3x512": 1_735_178,
    "mlp_1x512": 1_209_866,
}

# Display names as the paper prints them.
MODEL_LABELS = {
    "inception": "Inception",
    "inception_nobn": "Inception w/o BatchNorm",
    "alexnet": "AlexNet",
    "mlp_1x512": "MLP 1x512",
    "mlp_3x512": "MLP 3x512",
    "inception_v3": "Inception V3",
}

PAPER_DATASET = "cifar10"  # every CIFAR figure/table of the paper; ImageNet for Table 2 / Fig. 2a


def read_reference_csv(name: str) -> pd.DataFrame:
    """One of the shipped CSVs, by file name (e.g. "fig1b_convergence_slowdown.csv")."""
    with files(__package__).joinpath(name).open("r") as handle:
        return pd.read_csv(handle)


def read_paper_table(table: str) -> pd.DataFrame:
    """Rows of tables.csv for one table ("table1", "table2", "table4"), keyed like our runs.

    Columns: dataset, paper_model, paper_condition, random_crop, augment,
    weight_decay_on, dropout_on (booleans; Table 2 has no random-crop column, read as
    False), metric, value (percent; NaN where the paper prints text), note.
    """
    raw = read_reference_csv("tables.csv")
    rows = raw[raw["table"] == table]
    if rows.empty:
        raise KeyError(f"no rows for {table!r} in the paper's tables.csv")
    as_bool = lambda column: rows[column].fillna("no").eq("yes")  # noqa: E731
    return pd.DataFrame(
        {
            "dataset": rows["dataset"],
            "paper_model": rows["model"],
            "paper_condition": rows["corruption"],
            "random_crop": as_bool("random_crop"),
            "augment": as_bool("augmentation"),
            "weight_decay_on": as_bool("weight_decay"),
            "dropout_on": as_bool("dropout"),
            "metric": rows["metric"],
            "value": rows["value"].astype(float),
            "note": rows["note"].fillna(""),
        }
    ).reset_index(drop=True)
