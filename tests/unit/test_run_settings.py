"""One resolution of a run's settings for every reader (issue 30 item 7): the GPU claim,
runs per GPU and the preflight read `training:` with each run's model and regularizer
sections and the command line's `override` on top."""

from __future__ import annotations

import copy

import pytest
import torch

from rethinkgen.config import rule_settings, run_settings
from rethinkgen.preflight import cuda_run
from rethinkgen.run import RunKeys
from rethinkgen.training import gpu_share

CONFIG = {
    "seeds": [0],
    "training": {"max_epochs": 2, "device": "auto"},
    "datasets": {"d": {"name": "fashion_mnist"}},
    "models": {
        "a": {"arch": "mlp", "hidden": [4], "lr": 0.1},
        "b": {"arch": "mlp", "hidden": [8], "lr": 0.1},
    },
    "corruptions": {"c": {"kind": "none"}},
    "regularizers": {"r": {}},
    "experiments": {
        "e": {
            "grids": [
                {
                    "datasets": ["d"],
                    "models": ["a", "b"],
                    "corruptions": ["c"],
                    "regularizers": ["r"],
                }
            ]
        }
    },
}
RUN_A, RUN_B = RunKeys("d", "a", "c", "r", 0), RunKeys("d", "b", "c", "r", 0)


def test_an_override_reaches_the_gpu_claim_and_the_preflight():
    config = copy.deepcopy(CONFIG) | {"override": {"device": "cuda", "runs_per_gpu": 4}}
    settings = rule_settings(config)
    assert gpu_share.runs_per_gpu(settings) == 4  # honoured, not ignored
    assert gpu_share.train_job_resources(settings) == {"gpu": 0, "gpu_slots": 1}
    assert cuda_run([RUN_A], lambda run: run_settings(config, run))[0] == RUN_A


def test_a_models_own_device_reaches_the_gpu_claim_and_the_preflight():
    config = copy.deepcopy(CONFIG)
    config["models"]["b"]["training"] = {"device": "cuda:0"}
    assert rule_settings(config)["device"] == "cuda:0"
    assert gpu_share.train_job_resources(rule_settings(config)) == {"gpu": 1, "gpu_slots": 1}
    run, settings = cuda_run([RUN_A, RUN_B], lambda r: run_settings(config, r))
    assert run == RUN_B and settings["device"] == "cuda:0"
    assert cuda_run([RUN_A], lambda r: run_settings(config, r)) is None  # only a's job runs


def test_without_cuda_anywhere_nothing_is_claimed():
    assert rule_settings(CONFIG)["device"] == "auto"
    assert gpu_share.train_job_resources(rule_settings(CONFIG)) == {"gpu": 0, "gpu_slots": 0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: no message")
def test_the_gpu_message_names_the_run():
    message = gpu_share.missing_gpu_message({"device": "cuda"}, " for run d/a/c/r/seed0")
    assert message.startswith("training.device is 'cuda' for run d/a/c/r/seed0 but torch")
