"""Golden digests: what must not move while the code around it is refactored.

Long runs train from this code and are resumed, and their saved corruptions re-read, by
later versions. A run's identity (Snakemake's params), its checkpoint fingerprint and the
bytes a corruption draws are pinned here for a few runs of config/large.yaml; a change to
any of them (a renamed setting, another seeding order) fails these tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from rethinkgen.config import run_spec, spec_defaults
from rethinkgen.data.corruptions import apply_corruption, split_digest
from rethinkgen.run import RunKeys
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "workflow/schemas"


def _large_config() -> dict:
    """config/large.yaml with the schema defaults filled in, as the workflow sees it."""
    config = yaml.safe_load((ROOT / "config/large.yaml").read_text())
    for name in ("config", "outputs", "beyond"):
        validate(config, schema=str(SCHEMAS / f"{name}.schema.yaml"))
    return config


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


IDENTITY_DIGESTS = {
    ("fashion_mnist_10k", "alexnet_bf16", "random_labels", "none", 0): "374a9ce6e18aeacd",
    ("fashion_mnist_1k", "alexnet", "true_labels", "none", 0): "6d891b3b36a33afa",
    ("fashion_mnist_20k", "mlp_1x512", "random_labels", "none", 0): "a335a16a2f7bce6f",
    ("fashion_mnist_250", "inception", "random_pixels", "none", 0): "e4e8ceb5ac38c342",
    ("fashion_mnist_500", "inception", "shuffled_pixels", "none", 0): "85e40aea918592c0",
}


@pytest.fixture(scope="module")
def large():
    config = _large_config()
    defaults = spec_defaults(yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text()))
    return config, defaults


@pytest.mark.parametrize("keys", sorted(IDENTITY_DIGESTS))
def test_large_run_identities_are_pinned(large, keys):
    config, defaults = large
    spec = run_spec(config, RunKeys(*keys), defaults)
    assert _digest(spec.identity()) == IDENTITY_DIGESTS[keys]


def test_a_large_runs_checkpoint_fingerprint_is_pinned(large):
    config, defaults = large
    spec = run_spec(
        config, RunKeys("fashion_mnist_1k", "alexnet", "true_labels", "none", 0), defaults
    )
    fingerprint = TrainConfig.from_dict(spec.to_dict(), data_digest="d" * 64).fingerprint()
    assert hashlib.sha256(fingerprint.encode()).hexdigest()[:16] == "35592d4c2f93a93c"


CORRUPTION_DIGESTS = {
    "random_labels": ({"kind": "random_labels", "prob": 0.5}, "74d519c0b802f83d/d7ff7ef4bdc528b0"),
    "shuffled_pixels": (
        {"kind": "shuffled_pixels", "splits": ["train", "test"]},
        "b714c2d1aa858a76/2e8fdca7ba27984d",
    ),
    "random_pixels": ({"kind": "random_pixels"}, "0abe077aee22185e/d7ff7ef4bdc528b0"),
    "gaussian": ({"kind": "gaussian"}, "9c144eb963de60f3/d7ff7ef4bdc528b0"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTION_DIGESTS))
def test_a_saved_corruption_is_bit_identical(kind):
    """Any change to how the stream is seeded (its order, its key) redraws every saved
    corruption: the data a finished run trained on would no longer be what it names."""
    spec, expected = CORRUPTION_DIGESTS[kind]
    result = apply_corruption(spec, make_split(n=40), make_split(n=10, seed=1), seed=20170424)
    digests = split_digest(result.train)[:16], split_digest(result.test)[:16]
    assert "/".join(digests) == expected
