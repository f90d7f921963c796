"""The paper's own numbers (Zhang et al., ICLR 2017): the one place they are written.

`PAPER_MODELS` is the table of the paper's architectures (name, our model spec,
Table 1's parameter count, the paper's label); every other module reads it. The
per-cell numbers of Tables 1, 2 and 4 and the digitized figure data ship as CSV
beside this file (see PROVENANCE.md); the loaders return tidy DataFrames keyed like
our runs tables (`paper_model`, `paper_condition`, booleans for regularizers), so a
comparison is a plain merge. docs/paper.md explains every number.

Light on purpose: training/models.py and theory/kernels.py import it, so it imports
nothing from the package and pandas only inside the CSV loaders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources import files

# The dataset of Table 1, Table 4 and Figures 1-2 (Section 2, Appendix A): 50,000 training
# and 10,000 test images, trained at batch 128 (391 steps per epoch).
PAPER_DATASET = "cifar10"
PAPER_TRAIN_SIZE = 50_000
PAPER_TEST_SIZE = 10_000
PAPER_BATCH_SIZE = 128
PAPER_IMAGENET = (
    "imagenet"  # Table 2's dataset (Appendix B), scored on its 50,000 validation images
)
PAPER_IMAGENET_TEST_SIZE = 50_000


@dataclass(frozen=True)
class PaperModel:
    """One of the paper's architectures: Table 1 (CIFAR-10) or Table 2 (ImageNet)."""

    name: str  # our key, the `paper_model` column
    spec: dict = field(hash=False)  # the model spec that builds it (training/models.py)
    num_params: int | None  # Table 1's "# params" for 28x28x3 inputs; None: not printed
    label: str  # as the paper prints it

    def matches(self, spec: dict) -> bool:
        """Whether a configured model spec builds this architecture."""
        return all(_spec_value(spec, key) == value for key, value in self.spec.items())


# Table 1 (Section 3, Appendix A) and Table 2 (Appendix B), in Table 1's row order.
PAPER_MODELS = (
    PaperModel(
        "inception", {"arch": "small_inception", "batch_norm": True}, 1_649_402, "Inception"
    ),
    PaperModel(
        "inception_nobn",
        {"arch": "small_inception", "batch_norm": False},
        1_649_402,
        "Inception w/o BatchNorm",
    ),
    PaperModel("alexnet", {"arch": "small_alexnet"}, 1_387_786, "AlexNet"),
    PaperModel("mlp_3x512", {"arch": "mlp", "hidden": [512, 512, 512]}, 1_735_178, "MLP 3x512"),
    PaperModel("mlp_1x512", {"arch": "mlp", "hidden": [512]}, 1_209_866, "MLP 1x512"),
    PaperModel("inception_v3", {"arch": "inception_v3"}, None, "Inception V3"),
)
_SPEC_DEFAULTS = {"batch_norm": True}  # as training/models.py builds a spec without the key

# Views of PAPER_MODELS.
PAPER_NUM_PARAMS = {m.name: m.num_params for m in PAPER_MODELS if m.num_params is not None}
MODEL_LABELS = {m.name: m.label for m in PAPER_MODELS}
# The Table 1 (CIFAR-10) architectures' specs, by name, for building them directly.
PAPER_MODEL_SPECS = {m.name: m.spec for m in PAPER_MODELS if m.num_params is not None}

# Figure 1a's five conditions (Section 2.1), in the order the paper's networks fit them
# (Figure 1a, docs/paper.md "Figure 1"): gaussian and random pixels are 1-2 epochs apart.
FIG1A_CONDITIONS = ("true_labels", "shuffled_pixels", "gaussian", "random_pixels", "random_labels")

# Table 3 and the Section 5 text: minimum-norm kernel interpolation, test error and the
# norm of the solution (printed for MNIST only).
PAPER_TABLE3 = {
    "mnist_pixels": {
        "paper_dataset": "MNIST",
        "paper_features": "none",
        "paper_test_error": 0.012,
        "paper_solution_norm": 220.0,
    },
    "mnist_gabor": {
        "paper_dataset": "MNIST",
        "paper_features": "Gabor wavelet transform",
        "paper_test_error": 0.006,
        "paper_solution_norm": 390.0,
    },
    "cifar10_pixels": {
        "paper_dataset": "CIFAR10",
        "paper_features": "none (Gaussian kernel)",
        "paper_test_error": 0.46,
        "paper_solution_norm": math.nan,
    },
    "cifar10_random_conv": {
        "paper_dataset": "CIFAR10",
        "paper_features": "random conv-net, 32,000 filters",
        "paper_test_error": 0.17,
        "paper_solution_norm": math.nan,
    },
    "cifar10_random_conv_l2": {
        "paper_dataset": "CIFAR10",
        "paper_features": "random conv-net + l2",
        "paper_test_error": 0.15,
        "paper_solution_norm": math.nan,
    },
}


def _spec_value(spec: dict, key: str):
    value = spec.get(key, _SPEC_DEFAULTS.get(key))
    return [int(v) for v in value] if key == "hidden" and value is not None else value


def paper_model_of(spec: dict) -> str | None:
    """Which of the paper's architectures a model spec builds (None: not one of them)."""
    return next((m.name for m in PAPER_MODELS if m.matches(spec)), None)


def read_reference_csv(name: str):
    """One of the shipped CSVs, by file name (e.g. "fig1b_convergence_slowdown.csv")."""
    import pandas as pd

    with files(__package__).joinpath(name).open("r") as handle:
        return pd.read_csv(handle)


def read_paper_table(table: str):
    """Rows of tables.csv for one table ("table1", "table2", "table4"), keyed like our runs.

    Columns: dataset, paper_model, paper_condition, random_crop, augment,
    weight_decay_on, dropout_on (booleans; Table 2 has no random-crop column, read as
    False), metric, value (percent; NaN where the paper prints text), note.
    """
    import pandas as pd

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
