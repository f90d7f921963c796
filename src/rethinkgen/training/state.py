"""What a run's progress is, as a checkpoint carries it: epochs, metrics rows, fit
bookkeeping and the versions of the code that trained it (``RunState``)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/rethinkgen

# fitted: stopped at fit (stop_when_fitted); max_epochs: trained the whole budget;
# diverged: the loss exploded or became non-finite.
RUN_STATUSES = ("fitted", "max_epochs", "diverged")


@dataclass
class RunState:
    """Everything about a run's progress that a checkpoint must carry."""

    epoch: int = 0
    step: int = 0
    rows: list = field(default_factory=list)  # metrics rows so far (schemas.METRICS)
    status: str | None = None  # None while running; see RUN_STATUSES
    epochs_to_fit: int | None = None  # first epoch meeting the criterion
    steps_to_fit: int | None = None
    fit_held_from_epoch: int | None = None  # start of the current unbroken fit streak
    fit_stop_epoch: int | None = None  # the streak first reached fit_patience
    best_test_accuracy: float | None = None
    best_test_epoch: int | None = None
    wall_time_s: float = 0.0  # active seconds, summed over resumptions
    weight_norms: list = field(default_factory=list)  # per epoch: epoch, step, norms by parameter
    # record_examples: per whole-training-set evaluation, each example's correct and margin
    examples: list = field(default_factory=list)  # (rethinkgen.training.examples)
    # [{"code": code_identity(), "from_epoch": e}]: a new entry each time the run was
    # resumed by other code (docs/design.md, "Code changes during a run")
    code_versions: list = field(default_factory=list)

    @property
    def fit_streak(self) -> int:
        return 0 if self.fit_held_from_epoch is None else self.epoch - self.fit_held_from_epoch + 1

    def record_fit(self, met: bool | None, patience: int) -> bool:
        """Record this epoch's fit; True at the epoch the streak first reaches ``patience``
        (where a stop-at-fit experiment stops)."""
        if met is None:  # not measured this epoch: the streak neither grows nor breaks
            return False
        if not met:
            self.fit_held_from_epoch = None
            return False
        if self.fit_held_from_epoch is None:
            self.fit_held_from_epoch = self.epoch
        if self.epochs_to_fit is None:
            self.epochs_to_fit, self.steps_to_fit = self.epoch, self.step
        if self.fit_stop_epoch is None and self.fit_streak >= patience:
            self.fit_stop_epoch = self.epoch
            return True
        return False

    def record_test(self, accuracy: float) -> None:
        if self.best_test_accuracy is None or accuracy > self.best_test_accuracy:
            self.best_test_accuracy, self.best_test_epoch = accuracy, self.epoch

    def add_rows(
        self, split: str, result: dict, lr: float, wall_time_s: float, images_per_s: float
    ) -> None:
        self.rows.append(
            {
                "epoch": self.epoch,
                "step": self.step,
                "split": split,
                "loss": result["loss"],
                "accuracy": result["accuracy"],
                "top5_accuracy": result["top5_accuracy"],
                "lr": lr,
                "wall_time_s": wall_time_s,
                "images_per_s": images_per_s,
            }
        )

    def note_code(self, code: dict) -> bool:
        """Record the code training from the next epoch on; True if it differs from the
        code that trained the epochs so far (a resume across a code change)."""
        if self.code_versions and self.code_versions[-1]["code"] == code:
            return False
        changed = bool(self.code_versions)
        self.code_versions.append({"code": code, "from_epoch": self.epoch + 1})
        return changed


@lru_cache(maxsize=1)
def code_identity() -> dict:
    """The code training a run: git commit, whether the tree was dirty, and a digest of
    the package's Python source (which catches an uncommitted edit or a copy outside git)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    return {
        "git_commit": _git(["rev-parse", "HEAD"]),
        "git_dirty": None
        if _git(["rev-parse", "HEAD"]) is None
        else bool(_git(["status", "--porcelain", "--", str(PACKAGE_DIR)])),
        "source_sha256": digest.hexdigest(),
    }


def _git(args: list[str]) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
