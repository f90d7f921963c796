"""GPU sharing: job resources, the slot limit, and pinning each job to its slot's GPU."""

from __future__ import annotations

import pytest

from rethinkgen.training import gpu_share


@pytest.fixture(autouse=True)
def release_slot_locks():
    yield
    while gpu_share._held_locks:
        gpu_share._held_locks.pop().close()


@pytest.mark.parametrize(
    "training, expected",
    [
        ({"device": "auto"}, {"gpu": 0, "gpu_slots": 0}),
        ({"device": "cpu", "runs_per_gpu": 4}, {"gpu": 0, "gpu_slots": 0}),
        ({"device": "cuda"}, {"gpu": 1, "gpu_slots": 1}),
        ({"device": "cuda:1", "runs_per_gpu": 1}, {"gpu": 1, "gpu_slots": 1}),
        ({"device": "cuda", "runs_per_gpu": 4}, {"gpu": 0, "gpu_slots": 1}),
    ],
)
def test_train_job_resources(training, expected):
    assert gpu_share.train_job_resources(training) == expected


def test_slot_limit_is_gpus_times_runs_unless_given():
    assert gpu_share.slot_limit(gpus=2, slots=None, per_gpu=4) == 8
    assert gpu_share.slot_limit(gpus=2, slots=3, per_gpu=4) is None
    assert gpu_share.slot_limit(gpus=None, slots=None, per_gpu=4) is None


def test_jobs_spread_over_gpus_then_share_them(tmp_path, caplog):
    env = {}
    gpu_share.export_slots(2, 2, env)
    env["CUDA_VISIBLE_DEVICES"] = "4,5"
    pinned = []
    for _ in range(4):
        job_env = dict(env)
        pinned.append(
            (gpu_share.pin_to_gpu_slot("cuda", job_env, tmp_path), job_env["CUDA_VISIBLE_DEVICES"])
        )
    assert pinned == [(0, "4"), (1, "5"), (0, "4"), (1, "5")]
    assert gpu_share.pin_to_gpu_slot("cuda", dict(env), tmp_path) in (0, 1)  # oversubscribed
    assert "all 4 GPU slots are taken" in caplog.text


def test_released_slot_is_reused(tmp_path):
    env = {gpu_share.SLOTS_ENV: "2:1"}
    assert gpu_share.pin_to_gpu_slot("auto", dict(env), tmp_path) == 0
    gpu_share._held_locks.pop().close()  # the job holding slot 0 ended
    assert gpu_share.pin_to_gpu_slot("auto", dict(env), tmp_path) == 0


@pytest.mark.parametrize(
    "env, device",
    [
        ({}, "cuda"),  # no --resources gpu=G
        ({gpu_share.SLOTS_ENV: "1:4"}, "cuda"),  # one GPU: nothing to choose
        ({gpu_share.SLOTS_ENV: "2:4"}, "cpu"),
        ({gpu_share.SLOTS_ENV: "2:4"}, "cuda:1"),  # the config names the GPU
    ],
)
def test_no_pinning(env, device, tmp_path):
    job_env = dict(env)
    assert gpu_share.pin_to_gpu_slot(device, job_env, tmp_path) is None
    assert "CUDA_VISIBLE_DEVICES" not in job_env


def test_export_slots_clears_a_stale_announcement():
    env = {gpu_share.SLOTS_ENV: "2:4"}
    gpu_share.export_slots(None, 4, env)
    assert gpu_share.SLOTS_ENV not in env
