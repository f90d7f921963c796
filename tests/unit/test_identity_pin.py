"""The identities of the runs on the built-in datasets are pinned: a code change that
alters one (a new key in a spec, a default moved, a digest added) would make Snakemake
retrain every finished run of the evidence (docs/results). If a config file below was
edited on purpose, recompute its digest with `_digest(path)` and update it here."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from rethinkgen.cli import load_checked_config, schema_dir
from rethinkgen.config import all_runs, dataset_identity, run_spec, spec_defaults, target_runs

PINNED = {
    "config/large.yaml": (37, "a65a5602f8f4812f9377ce6812b00da24dd2e7583557d088b71e528fe9446792"),
    # 800: the beyond sweeps redesigned (issue 28) and the memorization runs recording each
    # example (issue 32, record_examples); its 55 paper runs are unchanged
    "config/paper.yaml": (800, "1150bc7ba6e7c2a269563be349ddda4cfb4e3f7c8274392ab5f11a0c60086f5b"),
    # the offline default (config/quick.yaml until it became config/config.yaml)
    "config/config.yaml": (252, "eca9ab8fa0ed11ff446ec594e8b68ee99dc64845bc28b10bc84519a1479a6fde"),
    "config/evidence.yaml": (
        111,
        "42260f2f051328003912c00cb588ab24825dbcb1e22cafac4f3cbe292789c18a",
    ),
}


def _digest(path: str) -> tuple[int, str]:
    """(runs, SHA-256 of every run's identity and every dataset's prepare params)."""
    defaults = spec_defaults(yaml.safe_load((schema_dir() / "config.schema.yaml").read_text()))
    config = load_checked_config([path])
    runs = sorted(set(all_runs(config)) | set(target_runs(config, "beyond")))
    text = json.dumps(
        {
            "runs": [run_spec(config, run, defaults).identity() for run in runs],
            "datasets": {
                key: dataset_identity(config, key, defaults) for key in config["datasets"]
            },
        },
        sort_keys=True,
        default=str,
    )
    return len(runs), hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("path", sorted(PINNED))
def test_built_in_run_identities_are_unchanged(path):
    assert _digest(path) == PINNED[path]
