"""A run: its keys (``RunKeys``), its files (``RunPaths``) and its whole spec (``RunSpec``).

``RUN_PATTERN`` is the one spelling of a run's place below <results>/{runs,checkpoints,
tensorboard,logs,benchmarks}/ (the config's results folder, rethinkgen.layout); the
Snakemake rules format it with wildcards, everything else calls ``RunKeys.paths()``.
Nothing parses a path back into keys: the keys travel in the spec, the metrics rows and
run_info.json.

A ``RunSpec`` is built once from the workflow config (``rethinkgen.config.run_spec``): the
keys, the dataset, model, corruption and regularizer specs (schema defaults removed), the
data seed and the resolved training settings. ``identity()`` is what the result is:
Snakemake's params for the training rule and, with the input files' digest, the
checkpoint's fingerprint. Scheduling settings are not part of it (rethinkgen.training.
settings), so editing one retrains nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from rethinkgen.training.settings import TrainConfig

RUN_KEYS = ("dataset", "model", "corruption", "regularizer", "seed")
RUN_PATTERN = "{dataset}/{model}/{corruption}/{regularizer}/seed{seed}"
# Identity beyond the training settings: the data specs and seed, and where a user model's
# code comes from (its file's digest: editing it makes another run).
DATA_SPEC_KEYS = ("dataset_spec", "corruption_spec", "data_seed", "model_source")


@dataclass(frozen=True, order=True)
class RunKeys:
    """The keys of one training run; also its wildcard values."""

    dataset: str
    model: str
    corruption: str
    regularizer: str
    seed: int

    @property
    def subpath(self) -> str:
        return RUN_PATTERN.format(**dataclasses.asdict(self))

    def paths(self, results: str | Path = "results") -> "RunPaths":
        return RunPaths.of(self.subpath, results)

    @classmethod
    def of(cls, mapping) -> "RunKeys":
        """From any mapping or object with the five keys (wildcards, a spec dict)."""
        get = mapping.get if isinstance(mapping, dict) else lambda k: getattr(mapping, k)
        return cls(*(str(get(k)) for k in RUN_KEYS[:4]), int(get("seed")))


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run. ``RunPaths.of(RUN_PATTERN)`` gives the wildcard patterns."""

    run_dir: Path  # results/runs/<run>: the declared outputs
    metrics: Path
    info: Path
    examples: Path  # training.record_examples only; written with metrics, not a rule output
    model: Path
    checkpoint_dir: Path  # results/checkpoints/<run>: survives a killed job
    checkpoint: Path
    spec: Path  # run.json: the spec the job trained with
    live_metrics: Path
    progress: Path
    history: Path  # every attempt's log lines (Snakemake deletes the rule's log)
    lock: Path  # held while a process trains the run (rethinkgen.io.exclusive_lock)
    tensorboard: Path
    log: Path  # <results>/logs/train_model/<run>.log
    benchmark: Path

    @classmethod
    def of(cls, subpath: str, results: str | Path = "results") -> "RunPaths":
        results = Path(results)  # the config's results folder (rethinkgen.layout)
        run_dir, live = results / "runs" / subpath, results / "checkpoints" / subpath
        return cls(
            run_dir=run_dir,
            metrics=run_dir / "metrics.parquet",
            info=run_dir / "run_info.json",
            examples=run_dir / "examples.parquet",
            model=run_dir / "model.pt",
            checkpoint_dir=live,
            checkpoint=live / "last.pt",
            spec=live / "run.json",
            live_metrics=live / "live_metrics.parquet",
            progress=live / "progress.json",
            history=live / "train.log",
            lock=live / "run.lock",
            tensorboard=results / "tensorboard" / subpath,
            log=results / "logs" / "train_model" / f"{subpath}.log",
            benchmark=results / "benchmarks" / "train_model" / f"{subpath}.tsv",
        )

    @classmethod
    def declared(cls, keys: RunKeys, *, metrics, info, model, log=None) -> "RunPaths":
        """Every file of a run, from what rule train_model declared: its outputs and log.

        Used as a Snakemake module with a prefix, the rule's files are below the prefix;
        the run's other files (checkpoint, run.json, live metrics, TensorBoard) follow them
        there rather than going to the outer workflow's results/. A declared file that is
        not where this layout puts it is refused, so the layout stays the one spelling.
        """
        metrics = Path(metrics)
        # <results>/runs/<subpath>/metrics.parquet
        results = metrics.parents[len(Path(keys.subpath).parts) + 1]
        paths = cls.of(keys.subpath, results)
        declared = {"metrics": metrics, "info": info, "model": model, "log": log}
        wrong = [
            f"{name}: {path} (expected {getattr(paths, name)})"
            for name, path in declared.items()
            if path is not None and Path(path) != getattr(paths, name)
        ]
        if wrong:
            raise ValueError(f"run {keys.subpath}: files not in the run layout: {wrong}")
        return paths

    @classmethod
    def found(cls, results: str | Path = "results") -> list["RunPaths"]:
        """Every run under ``results`` that wrote its run_info.json, sorted by folder."""
        runs = Path(results) / "runs"
        info_name = cls.of("", results).info.name
        return [
            cls.of(str(info.parent.relative_to(runs)), results)
            for info in sorted(runs.glob(f"**/{info_name}"))
        ]

    def pattern(self, name: str) -> str:
        """One path as a string (for Snakemake rules)."""
        return str(getattr(self, name))


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run; ``to_dict`` is the job's run.json."""

    keys: RunKeys
    dataset_spec: dict
    model_spec: dict
    corruption_spec: dict
    regularizer_spec: dict
    data_seed: int
    training: dict  # resolved settings, identity and scheduling (TrainConfig's fields)
    model_source: dict | None = None  # user models: builder or factory and file digest

    def paths(self, results: str | Path = "results") -> RunPaths:
        return self.keys.paths(results)

    def to_dict(self) -> dict:
        return {
            **dataclasses.asdict(self.keys),
            "data_seed": self.data_seed,
            "dataset_spec": self.dataset_spec,
            "model_spec": self.model_spec,
            "corruption_spec": self.corruption_spec,
            "regularizer_spec": self.regularizer_spec,
            "training": self.training,
            "model_source": self.model_source,
        }

    @classmethod
    def from_dict(cls, spec: dict) -> "RunSpec":
        return cls(
            keys=RunKeys.of(spec),
            dataset_spec=spec["dataset_spec"],
            model_spec=spec["model_spec"],
            corruption_spec=spec["corruption_spec"],
            regularizer_spec=spec["regularizer_spec"],
            data_seed=int(spec["data_seed"]),
            training=dict(spec.get("training") or {}),
            model_source=spec.get("model_source"),
        )

    def train_config(self, **overrides) -> TrainConfig:
        return TrainConfig.from_dict(self.to_dict(), **overrides)

    def identity(self) -> dict:
        """What the result is: the data specs and seed plus the training identity."""
        spec = self.to_dict()
        return {
            **{key: spec[key] for key in DATA_SPEC_KEYS if spec[key] is not None},
            **TrainConfig.from_dict(spec).identity(),
        }
