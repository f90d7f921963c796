"""`rethinkgen check-config` runs every check the workflow runs before its first job, your
own models and data included (issue 30 item 5): each config below is one Snakemake refuses
(rethinkgen.user_inputs, called by workflow/rules/common.smk), and check-config says why."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from rethinkgen import cli

ROOT = Path(__file__).resolve().parents[2]


def _images(root: Path, classes=("a", "b")) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def _npz(path: Path, y_train=(0, 1, 0, 1), n_test=2) -> Path:
    x = np.zeros((len(y_train), 28, 28), np.uint8)
    np.savez(
        path,
        x_train=x,
        y_train=np.array(y_train),
        x_test=x[:n_test],
        y_test=np.array([0, 1, 0, 1][:n_test]),
    )
    return path


def _config(tmp_path: Path, dataset: dict, factory: str = "examples.my_model:build") -> Path:
    config = yaml.safe_load((ROOT / "config/your_model.yaml").read_text())
    config["datasets"]["my_images"] = dataset
    config["models"]["my_model"]["factory"] = factory
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _factory(tmp_path: Path, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(
        f"from torch import nn\n\ndef build(num_classes, input_shape):\n    {body}\n"
    )
    return f"{name}:build"


def _case(tmp_path: Path, case: str) -> tuple[Path, str]:
    folder = {
        "name": "image_folder",
        "root": str(tmp_path / "images"),
        "image_size": 28,
        "channels": 1,
    }
    if case == "factory_raises":
        _images(tmp_path / "images")
        factory = _factory(tmp_path, "raising_net", "raise RuntimeError('no such layer')")
        return _config(tmp_path, folder, factory), "building the model failed: RuntimeError"
    if case == "factory_not_importable":
        _images(tmp_path / "images")
        return _config(tmp_path, folder, "no_such_pkg.net:build"), "cannot import module"
    if case == "wrong_outputs":
        _images(tmp_path / "images")
        factory = _factory(
            tmp_path,
            "wide_net",
            "return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes + 1))",
        )
        return _config(tmp_path, folder, factory), "it must give (2, 2)"
    if case == "one_class_folder":
        _images(tmp_path / "images", classes=("a",))
        return _config(tmp_path, folder), "1 class folder(s)"
    if case == "corrupt_png":
        _images(tmp_path / "images")
        (tmp_path / "images/train/a/bad.png").write_bytes(b"\x89PNG not really")
        return _config(tmp_path, folder), "cannot be decoded"
    if case == "folder_loop":
        _images(tmp_path / "images")
        os.symlink("..", tmp_path / "images/train/a/up")
        return _config(tmp_path, folder), "a loop or a second link"
    npz = {"name": "npz", "root": str(tmp_path / "d.npz")}
    if case == "negative_labels":
        _npz(tmp_path / "d.npz", y_train=(0, 1, -1, 1))
        return _config(tmp_path, npz), "labels must be integers 0..K-1"
    if case == "empty_test_split":
        _npz(tmp_path / "d.npz", n_test=0)
        return _config(tmp_path, npz), "x_test holds no image"
    raise AssertionError(case)


CASES = (
    "factory_raises",
    "factory_not_importable",
    "wrong_outputs",
    "one_class_folder",
    "corrupt_png",
    "folder_loop",
    "negative_labels",
    "empty_test_split",
)


@pytest.mark.parametrize("case", CASES)
def test_check_config_refuses_what_the_workflow_refuses(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(ROOT)  # examples.my_model is found from the repository root
    monkeypatch.syspath_prepend(str(tmp_path))
    path, expected = _case(tmp_path, case)
    assert cli.main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "invalid config" in err and expected in err
    assert "Traceback" not in err


def test_check_config_accepts_a_good_own_data_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    _images(tmp_path / "images")
    folder = {
        "name": "image_folder",
        "root": str(tmp_path / "images"),
        "image_size": 28,
        "channels": 1,
    }
    assert cli.main(["check-config", str(_config(tmp_path, folder))]) == 0
    assert "valid." in capsys.readouterr().out


@pytest.mark.parametrize("key, value", [("seeds", [2**64]), ("data_seed", 2**64)])
def test_seeds_beyond_the_generators_range_are_refused(tmp_path, capsys, key, value):
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text()) | {key: value}
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is greater than the maximum of 4294967295" in err and "Traceback" not in err


def test_oversized_stops_counting_at_its_limit():
    from rethinkgen.config_checks import oversized
    from tests.workflow.test_override_limits import alias_bomb

    bomb = yaml.safe_load(alias_bomb())
    started = __import__("time").perf_counter()
    assert oversized({"override": bomb})[0].startswith("override: more than 1000 values")
    assert oversized({"datasets": {"d": bomb}})[0].startswith("the config holds more than")
    assert __import__("time").perf_counter() - started < 1.0
    assert oversized({"override": {"max_epochs": 3}, "seeds": [0, 1]}) == []


def test_a_factory_drawing_weights_from_the_clock_is_flagged(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(tmp_path))
    _images(tmp_path / "images")
    factory = _factory(
        tmp_path,
        "clock_net",
        "import time, torch\n    torch.manual_seed(time.perf_counter_ns())\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes))",
    )
    folder = {
        "name": "image_folder",
        "root": str(tmp_path / "images"),
        "image_size": 28,
        "channels": 1,
    }
    assert cli.main(["check-config", str(_config(tmp_path, folder, factory))]) == 1
    assert "gives different weights for the same seed" in capsys.readouterr().err


def test_a_paper_model_with_a_crop_larger_than_your_images_stops_early(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(ROOT)
    _images(tmp_path / "images")
    folder = {
        "name": "image_folder",
        "root": str(tmp_path / "images"),
        "image_size": 16,
        "channels": 1,
    }
    config = yaml.safe_load(_config(tmp_path, folder).read_text())
    config["training"]["crop_size"] = 28
    path = tmp_path / "crop.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "models.mlp_1x512 on datasets.my_images: training.crop_size 28 exceeds the 16x16" in err
