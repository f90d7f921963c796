"""The ready experiment (config/your_model.yaml) end to end on a generated ImageFolder, once
with the example factory and once with a torchvision ResNet-18; and a bad factory stopping
snakemake before any job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow.dag import snakemake

ROOT = Path(__file__).resolve().parents[2]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _workdir(tmp_path: Path, model: dict, epochs: int = 2) -> Path:
    """A user's project folder: examples/ copied in, an ImageFolder made from Fashion-MNIST,
    config/your_model.yaml made tiny (12x12 images, `epochs` epochs)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples/make_image_folder.py"),
            "--out",
            "folder",
            "--n-train",
            "60",
            "--n-test",
            "30",
        ],
        cwd=tmp_path,
        check=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    config = yaml.safe_load((ROOT / "config/your_model.yaml").read_text())
    config["datasets"]["my_images"] |= {"root": "folder", "image_size": 12}
    config["models"]["my_model"] = model
    config["training"] |= {"max_epochs": epochs, "batch_size": 32, "num_threads": 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return snakemake(
        "memorize",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *args,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs the Fashion-MNIST IDX files")
@pytest.mark.parametrize(
    "model, origin",
    [
        (
            {"arch": "python", "factory": "examples.my_model:build", "lr": 0.01},
            "examples.my_model:build",
        ),
        ({"arch": "torchvision", "name": "resnet18", "lr": 0.01}, "torchvision.models.resnet18"),
    ],
)
def test_ready_experiment_end_to_end(tmp_path, model, origin):
    workdir = _workdir(tmp_path, model)
    result = _run(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    page = (workdir / "results/config/own_model.md").read_text()
    assert page.startswith("# How much does your model memorize? `my_model` on `my_images`")
    assert origin in page and "source SHA-256" in page
    for section in (
        "## Randomization tests (Figure 1a)",
        "## Label corruption sweep",
        "## Memorization dynamics",
        "## Which examples were learned, and when",
        "training examples `my_model` learned last on true labels",
        "The paper's curves are not drawn",
    ):
        assert section in page
    for figure in (
        "fig1a_learning_curves",
        "fig1b_convergence_slowdown",
        "fig1c_test_error_vs_corruption",
        "beyond/memorization_dynamics",
        "beyond/example_learning",
    ):
        assert (
            f"](figures/{figure}.png)" in page
            and (workdir / f"results/config/figures/{figure}.png").is_file()
        )
    # Both models in every table, labelled by their config keys; the page's model first.
    tables = [block for block in page.split("\n\n") if block.startswith("| model")]
    assert len(tables) == 3
    for table in tables:
        rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
        assert rows[0] == "my_model" and set(rows) == {"my_model", "mlp_1x512"}


def test_unimportable_factory_stops_before_any_job(tmp_path):
    from tests.unit.test_own_data import _folder

    config = yaml.safe_load((ROOT / "config/your_model.yaml").read_text())
    config["models"]["my_model"]["factory"] = "nowhere.nets:build"
    config["datasets"]["my_images"]["root"] = str(_folder(tmp_path / "folder"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = _run(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "models.my_model on datasets.my_images: factory 'nowhere.nets:build': cannot import "
        "module 'nowhere.nets'"
    ) in output
    assert "Job stats" not in output
