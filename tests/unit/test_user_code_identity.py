"""A user model's identity covers every module of its package that the factory imports
(issue 30 item 2): editing a helper (ReLU to Tanh) makes another run, and its checkpoint
is refused, naming why, instead of resumed as if the code were the same."""

from __future__ import annotations

import sys
import textwrap

import pytest

from rethinkgen.config import _source_of, run_spec
from rethinkgen.run import RunKeys
from rethinkgen.training.user_models import model_source, package_modules

KEYS = RunKeys("d", "m", "c", "r", 0)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """mynets/ with the factory in mynets/model.py, its helper mynets/blocks/act.py, and a
    module of the package that the factory does not import."""
    root = tmp_path / "mynets"
    _write(root / "__init__.py", "")
    _write(root / "blocks" / "__init__.py", "")
    _write(root / "blocks" / "act.py", "from torch import nn\n\nACT = nn.ReLU\n")
    _write(root / "unused.py", "X = 1\n")
    _write(
        root / "model.py",
        """
        from torch import nn

        from .blocks import act


        def build(num_classes, input_shape):
            from . import late  # imported only when called

            layers = [nn.Flatten(), nn.LazyLinear(8), act.ACT(), nn.Linear(8, num_classes)]
            return nn.Sequential(*layers)
        """,
    )
    _write(root / "late.py", "Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n == "mynets" or n.startswith("mynets.")]:
        sys.modules.pop(name)
    _source_of.cache_clear()


def _config():
    return {
        "data_seed": 1,
        "seeds": [0],
        "training": {"max_epochs": 2},
        "experiments": {},
        "datasets": {"d": {"name": "fashion_mnist"}},
        "models": {"m": {"arch": "python", "factory": "mynets.model:build", "lr": 0.1}},
        "corruptions": {"c": {"kind": "none"}},
        "regularizers": {"r": {}},
    }


def test_the_package_modules_the_factory_imports_are_listed(user_package):
    model_source({"arch": "python", "factory": "mynets.model:build"})
    assert sorted(package_modules("mynets.model")) == [
        "mynets",
        "mynets.blocks",
        "mynets.blocks.act",
        "mynets.late",
        "mynets.model",
    ]  # not mynets.unused, nor torch


def test_editing_a_helper_changes_the_run_identity(user_package):
    before = run_spec(_config(), KEYS).identity()["model_source"]
    assert set(before["modules"]) == {"mynets", "mynets.blocks", "mynets.blocks.act", "mynets.late"}
    (user_package / "unused.py").write_text("X = 2\n")
    _source_of.cache_clear()
    assert run_spec(_config(), KEYS).identity()["model_source"] == before
    act = user_package / "blocks" / "act.py"
    act.write_text(act.read_text().replace("ReLU", "Tanh"))
    _source_of.cache_clear()
    after = run_spec(_config(), KEYS).identity()["model_source"]
    assert after["modules"]["mynets.blocks.act"] != before["modules"]["mynets.blocks.act"]
    assert after["sha256"] == before["sha256"]  # the factory's own file is unchanged


def test_a_top_level_factory_covers_the_modules_beside_it(tmp_path, monkeypatch):
    _write(tmp_path / "helpers_beside.py", "WIDTH = 8\n")
    _write(
        tmp_path / "net_beside.py",
        "import numpy\nimport helpers_beside\n\n"
        "def build(num_classes, input_shape):\n    return None\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        source = model_source({"arch": "python", "factory": "net_beside:build"})
        assert list(source["modules"]) == ["helpers_beside"]
    finally:
        sys.modules.pop("net_beside", None)
        sys.modules.pop("helpers_beside", None)


def test_a_factory_without_helpers_keeps_its_identity_form(tmp_path, monkeypatch):
    """No `modules` key where there is no helper: such runs keep their identity."""
    _write(
        tmp_path / "plain_net.py",
        "from torch import nn\n\ndef build(num_classes, input_shape):\n"
        "    return nn.Linear(1, num_classes)\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        source = model_source({"arch": "python", "factory": "plain_net:build"})
        assert set(source) == {"arch", "factory", "file", "sha256"}
    finally:
        sys.modules.pop("plain_net", None)


def test_a_helper_edited_mid_run_refuses_the_checkpoint_naming_why(user_package, tmp_path):
    """The checkpoint's fingerprint covers the model's code (training.cli.data_digest): a
    run resumed after a helper changed starts over, and the log says why."""
    from rethinkgen.training.cli import train_config

    (tmp_path / "train.npz").write_bytes(b"train")
    (tmp_path / "test.npz").write_bytes(b"test")
    files = (tmp_path / "train.npz", tmp_path / "test.npz")
    before = train_config(run_spec(_config(), KEYS).to_dict(), *files)
    act = user_package / "blocks" / "act.py"
    act.write_text(act.read_text().replace("ReLU", "Tanh"))
    _source_of.cache_clear()
    after = train_config(run_spec(_config(), KEYS).to_dict(), *files)
    assert not after.resumes(before.fingerprint())
    assert after.explain_difference(before.fingerprint()) == (
        "it differs from this run's in data_digest (the input files, data specs or your "
        "model's code)"
    )
