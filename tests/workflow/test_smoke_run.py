"""The whole DAG, end to end, on config/smoke.yaml: every rule runs, every output appears."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rethinkgen.config import all_runs

ROOT = Path(__file__).resolve().parents[2]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist"),
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(ROOT / "config/smoke.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    result = snakemake(workdir, "--cores", "2", "all")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_every_figure_and_table_is_built(finished_run):
    for name in (
        "fig1a_learning_curves",
        "fig1b_convergence_slowdown",
        "fig1c_test_error_vs_corruption",
        "fig2b_batchnorm",
    ):
        for ext in ("png", "pdf"):
            assert (finished_run / f"results/smoke/figures/{name}.{ext}").stat().st_size > 1000
    for name in ("table1", "table4", "scorecard"):
        for ext in ("parquet", "md", "tex"):
            assert (finished_run / f"results/smoke/tables/{name}.{ext}").is_file()


def test_runs_table_has_one_row_per_run(finished_run):
    runs = pd.read_parquet(finished_run / "results/smoke/tables/runs.parquet")
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    assert len(runs) == len(all_runs(config)) == 11
    assert set(runs["status"]) <= {"fitted", "max_epochs", "diverged"}
    curves = pd.read_parquet(finished_run / "results/smoke/tables/curves.parquet")
    assert {"dataset", "model", "corruption", "regularizer", "seed", "split", "accuracy"} <= set(
        curves.columns
    )


def test_corruption_recorded_and_shared(finished_run):
    info = json.loads(
        (
            finished_run
            / "results/smoke/data/fashion_mnist_tiny/random_labels/data_seed20170424"
            / "corruption.json"
        ).read_text()
    )
    assert info["seed"] == 20170424 and 0.75 < info["train_fraction_labels_changed"] < 1.0
    assert info["test_fraction_labels_changed"] == 0.0


def test_nothing_left_to_do_and_report_builds(finished_run):
    result = snakemake(finished_run, "-n", "all")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr
    report = snakemake(finished_run, "--report", "results/smoke/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (finished_run / "results/smoke/report.html").stat().st_size > 10_000


def test_report_of_one_target_builds_where_all_is_incomplete(finished_run, tmp_path):
    """After `snakemake fig1a` alone, `snakemake fig1a --report` reports what it built
    (a plain --report asks for every output of `all` and stops at the first missing)."""
    card = finished_run / "results/smoke/tables/scorecard.html"
    card.rename(tmp_path / "scorecard.html")
    try:
        plain = snakemake(finished_run, "--report", "results/smoke/all.html")
        assert plain.returncode != 0 and "scorecard.html" in plain.stderr
        report = snakemake(finished_run, "--report", "results/smoke/fig1a.html", "fig1a")
        assert report.returncode == 0, report.stderr[-3000:]
        page = (finished_run / "results/smoke/fig1a.html").read_text()
        assert "fig1a_learning_curves.png" in page and "scorecard.html" not in page
    finally:
        (tmp_path / "scorecard.html").rename(card)


def test_rerun_after_deleting_a_figure_trains_nothing(finished_run):
    (finished_run / "results/smoke/figures/fig1a_learning_curves.png").unlink()
    result = snakemake(finished_run, "-n", "fig1a", "--quiet", "rules")
    assert result.returncode == 0
    assert "plot_figure" in result.stdout and "train_model" not in result.stdout


def test_all_restores_deleted_outputs_of_a_run(finished_run):
    """`all` asks for every declared output of every run, not only run_info.json."""
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    first, second = (
        finished_run
        / "results/smoke/runs"
        / "{dataset}/{model}/{corruption}/{regularizer}/seed{seed}".format(**vars(run))
        for run in all_runs(config)[:2]
    )
    (first / "model.pt").unlink()
    (second / "metrics.parquet").unlink()
    result = snakemake(finished_run, "-n", "all", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^train_model\s+2$", result.stdout, re.M), result.stdout


def report_captions(html: str) -> dict[str, str]:
    """File -> caption (HTML) of a Snakemake report: its `<script id="results">` holds them as
    JSON."""
    start = html.index("var results = ", html.index('<script id="results">')) + len(
        "var results = "
    )
    results, _ = json.JSONDecoder().raw_decode(html, start)
    return {path: entry["caption"] for path, entry in results.items()}


def test_report_captions_name_each_figures_models(finished_run):
    """Each figure's caption in the HTML report names the models its plot shows, from the
    config that made it: fig1a is an MLP here, though the paper's Figure 1a is Inception."""
    from rethinkgen.config import experiment_runs

    report = finished_run / "results/smoke/report_captions.html"
    restored = snakemake(finished_run, "--cores", "2", "all")  # other tests delete outputs
    assert restored.returncode == 0, restored.stderr[-3000:]
    result = snakemake(finished_run, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    captions = report_captions(report.read_text())
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    for key, spec in config["figures"].items():
        caption = captions[f"results/smoke/figures/{key}.png"]
        models_sentence = re.search(r"Models: (.*?)\. Data:", caption, re.S)
        assert models_sentence, f"{key}: no 'This build' paragraph in its caption"
        named = set(re.findall(r'<tt class="docutils literal">(\w+)</tt>', models_sentence[1]))
        assert named == {run.model for run in experiment_runs(config, spec["experiment"])}, key
