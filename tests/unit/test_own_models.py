"""User models: torchvision builders adapted to the data, python factories, their source
digests, and the errors a bad factory gets before any job."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from rethinkgen.training.models import build_model
from rethinkgen.training.user_models import (
    UserModelError,
    check_outputs,
    load_factory,
    model_source,
)
from rethinkgen.user_inputs import user_input_problems


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """A package `usermods` in a temporary folder, imported from the working directory."""
    package = tmp_path / "usermods"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(
        "from torch import nn\n"
        "def good(num_classes, input_shape):\n"
        "    c, h, w = input_shape\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))\n"
        "def not_a_module(num_classes, input_shape):\n"
        "    return [nn.Linear(1, 1)]\n"
        "def wrong_outputs(num_classes, input_shape):\n"
        "    c, h, w = input_shape\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes + 1))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield package / "nets.py"
    for name in [m for m in sys.modules if m.startswith("usermods")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    "name, shape",
    [("resnet18", (1, 28, 28)), ("mobilenet_v3_small", (3, 32, 32)), ("vit_b_16", (3, 32, 32))],
)
def test_torchvision_builders_fit_the_data(name, shape):
    model = build_model({"arch": "torchvision", "name": name, "lr": 0.1}, 7, shape)
    check_outputs(model, 7, shape, name)  # raises unless (2, 7) logits
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == shape[0]


def test_small_input_stem_is_the_cifar_resnet():
    small = build_model({"arch": "torchvision", "name": "resnet18", "lr": 0.1}, 10, (3, 32, 32))
    kept = build_model(
        {"arch": "torchvision", "name": "resnet18", "lr": 0.1, "small_input_stem": False},
        10,
        (3, 32, 32),
    )
    assert small.conv1.stride == (1, 1) and isinstance(small.maxpool, nn.Identity)
    assert kept.conv1.stride == (2, 2) and isinstance(kept.maxpool, nn.MaxPool2d)
    large = build_model({"arch": "torchvision", "name": "resnet18", "lr": 0.1}, 10, (3, 96, 96))
    assert large.conv1.stride == (2, 2)


def test_unknown_torchvision_name_lists_the_known_ones():
    with pytest.raises(UserModelError, match="no classification model 'resnet1800'.*resnet18"):
        build_model({"arch": "torchvision", "name": "resnet1800", "lr": 0.1}, 10, (3, 32, 32))


def test_python_factory_from_the_working_directory(factory_module):
    model = build_model(
        {"arch": "python", "factory": "usermods.nets:good", "lr": 0.1}, 4, (1, 6, 6)
    )
    assert model(torch.zeros(3, 1, 6, 6)).shape == (3, 4)


def test_model_source_digest_follows_the_factory_file(factory_module):
    spec = {"arch": "python", "factory": "usermods.nets:good"}
    before = model_source(spec)
    assert before["file"] == str(factory_module) and before["factory"] == "usermods.nets:good"
    factory_module.write_text(factory_module.read_text() + "# edited\n")
    assert model_source(spec)["sha256"] != before["sha256"]
    vision = model_source({"arch": "torchvision", "name": "resnet18"})
    assert vision["file"].endswith("resnet.py") and len(vision["sha256"]) == 64
    assert "sha256" not in model_source({"arch": "mlp", "hidden": [8]})


def test_factory_errors(factory_module):
    with pytest.raises(UserModelError, match="cannot import module 'nowhere.nets'.*PYTHONPATH"):
        load_factory("nowhere.nets:good")
    with pytest.raises(UserModelError, match="has no function 'missing'"):
        load_factory("usermods.nets:missing")
    with pytest.raises(UserModelError, match="must read 'package.module:function'"):
        load_factory("usermods.nets.good")
    with pytest.raises(UserModelError, match="returned list, not a torch.nn.Module"):
        build_model(
            {"arch": "python", "factory": "usermods.nets:not_a_module", "lr": 0.1}, 4, (1, 6, 6)
        )
    wrong = build_model(
        {"arch": "python", "factory": "usermods.nets:wrong_outputs", "lr": 0.1}, 4, (1, 6, 6)
    )
    with pytest.raises(UserModelError, match=r"outputs \(2, 5\).*must give \(2, 4\)"):
        check_outputs(wrong, 4, (1, 6, 6), "here")


def _config(model: dict, dataset: dict | None = None, regularizer: dict | None = None) -> dict:
    return {
        "datasets": {"data": dataset or {"name": "fashion_mnist", "root": "/nonexistent"}},
        "models": {"mine": model},
        "corruptions": {"none": {"kind": "none"}},
        "regularizers": {"reg": regularizer or {}},
        "training": {"crop_size": None},
        "experiments": {
            "e": {
                "grids": [
                    {
                        "datasets": ["data"],
                        "models": ["mine"],
                        "corruptions": ["none"],
                        "regularizers": ["reg"],
                    }
                ]
            }
        },
    }


@pytest.mark.parametrize(
    "factory, expected",
    [
        (
            "nowhere.nets:good",
            "models.mine on datasets.data: factory 'nowhere.nets:good': cannot import",
        ),
        ("usermods.nets:not_a_module", "returned list, not a torch.nn.Module"),
        ("usermods.nets:wrong_outputs", r"outputs (2, 11) for 2 images of shape (1, 28, 28)"),
    ],
)
def test_config_check_names_the_bad_factory(factory_module, factory, expected):
    problems = user_input_problems(_config({"arch": "python", "factory": factory, "lr": 0.1}))
    assert len(problems) == 1 and expected in problems[0]


def test_config_check_passes_a_good_factory_and_refuses_dropout(factory_module):
    model = {"arch": "python", "factory": "usermods.nets:good", "lr": 0.1}
    assert user_input_problems(_config(model)) == []
    problems = user_input_problems(_config(model, regularizer={"dropout": 0.5}))
    assert problems == [
        "regularizers.reg: dropout cannot be added to a user model (models.mine); "
        "put dropout inside the model instead"
    ]
    assert "needs 'name'" in user_input_problems(_config({"arch": "torchvision", "lr": 0.1}))[0]


def test_config_check_refuses_a_crop_larger_than_the_images(factory_module):
    config = _config({"arch": "python", "factory": "usermods.nets:good", "lr": 0.1})
    config["training"] = {}  # the engine's default crop, 28, on 28x28 Fashion-MNIST: fine
    assert user_input_problems(config) == []
    config["training"] = {"crop_size": 32}
    assert "training.crop_size 32 exceeds the 28x28 images" in user_input_problems(config)[0]
