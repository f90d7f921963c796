"""The training progress bar: shown only to a person watching one job.

Several local jobs write to the same terminal (`snakemake --cores N`), where tqdm bars
overwrite each other; the workflow says so through SHARED_TERMINAL_ENV (common.smk sets
it when Snakemake may run more than one job at once), and the bar is then off. A bar
that is shown carries the run's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SHARED_TERMINAL_ENV = "RETHINKGEN_SHARED_TERMINAL"


def shared_terminal(cores: int | None) -> bool:
    """Whether local jobs may run side by side (more than one core given)."""
    return cores is None or cores > 1


def progress_bar_wanted(stderr_is_tty: bool, environ: Mapping[str, str] = os.environ) -> bool:
    return stderr_is_tty and environ.get(SHARED_TERMINAL_ENV) != "1"


def run_label(cfg) -> str:
    """dataset/model/corruption/regularizer/seedN, as the run's folders name it."""
    return f"{cfg.dataset}/{cfg.model}/{cfg.corruption}/{cfg.regularizer}/seed{cfg.seed}"
