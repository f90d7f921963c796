"""Finished runs in a local MLflow tracking store (SQLite file, no server): params (the
run's keys and identity settings), per-epoch metrics and final metrics, one MLflow run per
training run; the figures (results/figures) as artifacts of one more run named "figures".

MLflow 3 refuses its plain-folder store unless told otherwise, so the store is
``<out>/mlflow.db`` with artifacts in ``<out>/artifacts``. A run is found again by its
``rethinkgen.run`` tag: unchanged (same digest of its files) it is left alone, changed it
is replaced, so exporting twice never duplicates a run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rethinkgen.export.runs import FinishedRun

INSTALL = "pip install -e '.[mlflow]'"
RUN_TAG, DIGEST_TAG = "rethinkgen.run", "rethinkgen.digest"


def tracking_uri(out: str | Path) -> str:
    return f"sqlite:///{Path(out).resolve() / 'mlflow.db'}"


def _client(out: str | Path, experiment: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise SystemExit(f"rethinkgen export mlflow needs MLflow: {INSTALL}") from error
    Path(out).mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=tracking_uri(out))
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(
            experiment, artifact_location=(Path(out).resolve() / "artifacts").as_uri()
        )
    )
    return client, experiment_id


def _metrics(run: FinishedRun):
    from mlflow.entities import Metric

    stamp = 0  # a fixed timestamp: the values come from files, not from now
    found = [
        Metric(f"{name}_{row.split}", float(getattr(row, name)), stamp, int(row.epoch))
        for row in run.metrics.itertuples(index=False)
        for name in ("loss", "accuracy")
    ]
    lrs = run.metrics.groupby("epoch")["lr"].first()
    found += [Metric("lr", float(lr), stamp, int(epoch)) for epoch, lr in lrs.items()]
    last = int(run.metrics["epoch"].max()) if len(run.metrics) else 0
    return found + [
        Metric(k.replace("/", "."), v, stamp, last) for k, v in run.final_metrics().items()
    ]


def _log(client, experiment_id: str, run: FinishedRun) -> None:
    from mlflow.entities import Param, RunTag

    created = client.create_run(
        experiment_id, run_name=run.name, tags={RUN_TAG: run.name, DIGEST_TAG: run.digest}
    )
    run_id = created.info.run_id
    params = [Param(k, str(v)[:6000]) for k, v in run.params().items()]
    metrics = _metrics(run)
    for start in range(0, max(len(metrics), len(params)), 900):  # MLflow's batch limit is 1000
        client.log_batch(
            run_id,
            metrics=metrics[start : start + 900],
            params=params[start : start + 900],
            tags=[RunTag("status", str(run.info.get("status")))] if start == 0 else [],
        )
    client.set_terminated(run_id, "FINISHED")


def _replace(client, experiment_id: str, name: str, digest: str) -> bool:
    """Delete the stored run called `name` unless its digest matches; True if it must be logged."""
    earlier = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{name}'")
    if any(r.data.tags.get(DIGEST_TAG) == digest for r in earlier):
        return False
    for old in earlier:
        client.delete_run(old.info.run_id)
    return True


def _log_figures(client, experiment_id: str, figures: list[Path]) -> bool:
    """The figures as artifacts of one run "figures"; True if (re)logged."""
    digest = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in figures)).hexdigest()
    if not figures or not _replace(client, experiment_id, "figures", digest):
        return False
    run_id = client.create_run(
        experiment_id, run_name="figures", tags={RUN_TAG: "figures", DIGEST_TAG: digest}
    ).info.run_id
    for figure in figures:
        client.log_artifact(run_id, str(figure), artifact_path="figures")
    client.set_terminated(run_id, "FINISHED")
    return True


def export_runs(
    runs: list[FinishedRun],
    out: str | Path,
    experiment: str,
    figures: str | Path = "results/figures",
) -> tuple[int, int]:
    """Log every run not yet in the store (or changed since), then the figures;
    returns (runs logged, runs left unchanged)."""
    client, experiment_id = _client(out, experiment)
    logged = kept = 0
    for run in runs:
        if _replace(client, experiment_id, run.name, run.digest):
            _log(client, experiment_id, run)
            logged += 1
        else:
            kept += 1
    _log_figures(
        client,
        experiment_id,
        sorted(Path(figures).glob("*.png")) + sorted(Path(figures).glob("*.pdf")),
    )
    return logged, kept
