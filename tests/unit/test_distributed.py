"""Data-parallel training: launch decision, sharding, and real torchrun runs on the CPU (gloo)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rethinkgen.data.splits import ImageListSplit, load_split, save_split
from rethinkgen.io import read_json
from rethinkgen.run import RunKeys
from rethinkgen.training import distributed
from rethinkgen.training.distributed import Shard
from rethinkgen.training.engine import train
from rethinkgen.training.epochs import evaluate
from rethinkgen.training.models import build_model
from rethinkgen.training.preprocess import BatchPipeline, InMemoryBatches, make_batches
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split

MLP = {"arch": "mlp", "hidden": [32], "lr": 0.05}


def run_dict(**training) -> dict:
    base = {
        "max_epochs": 2,
        "batch_size": 8,
        "image_size": 16,
        "num_workers": 0,
        "amp": "off",
        "device": "cpu",
        "stop_when_fitted": False,
        "num_threads": 1,
    }
    return {
        "dataset": "imagenet_tiny",
        "model": "mlp",
        "corruption": "none",
        "regularizer": "none",
        "seed": 3,
        "model_spec": dict(MLP),
        "regularizer_spec": {},
        "training": base | training,
    }


def image_list_split(root, n: int, seed: int) -> ImageListSplit:
    """An ImageFolder-like set of tiny random JPEGs in 3 classes."""
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i in range(n):
        label = i % 3
        rel = f"class{label}/img{seed}_{i}.jpg"
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / rel)
        paths.append(rel)
        labels.append(label)
    return ImageListSplit(
        str(root), np.array(paths), np.array(labels, dtype=np.int64), ["a", "b", "c"]
    )


# ----------------------------------------------------------------------------- launch decision


@pytest.mark.parametrize(
    "training, image_list, gpus, expected",
    [
        ({}, True, 4, 4),  # ImageNet on a 4-GPU job: one rank per GPU
        ({}, True, 1, 1),  # one GPU: in-process
        ({}, True, 0, 1),  # CPU job: in-process
        ({}, False, 4, 1),  # in-memory datasets stay on one GPU
        ({"device": "cpu"}, True, 4, 1),  # the config pins the CPU
        ({"nproc_per_node": 2}, False, 0, 2),  # asked for explicitly (gloo on CPU)
        ({"nproc_per_node": 1}, True, 4, 4),  # 1 is the default: GPUs still decide
    ],
)
def test_processes_for(training, image_list, gpus, expected):
    run = {"training": training}
    assert distributed.processes_for(run, image_list, gpus) == expected


@pytest.mark.parametrize("cuda, expected", [(False, 0), (True, 3)])
def test_visible_gpu_count_counts_devices_only_when_cuda_works(monkeypatch, cuda, expected):
    # A CPU-only torch build can still report devices (a driver without a usable CUDA).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert distributed.visible_gpu_count(lambda: 3) == expected


def test_torchrun_command_starts_the_cli_on_one_node():
    paths = RunKeys("d", "m", "c", "r", 0).paths("out/results")
    command = distributed.torchrun_command(
        4, paths, train="tr.npz", test="te.npz", threads=2, python="py"
    )
    assert command[:5] == [
        "py",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=4",
    ]
    assert command[5:7] == ["-m", "rethinkgen.training.cli"]
    args = dict(zip(command[7::2], command[8::2]))
    assert args == {
        "--run-config": str(paths.spec),
        "--train": "tr.npz",
        "--test": "te.npz",
        "--metrics": str(paths.metrics),
        "--info": str(paths.info),
        "--model": str(paths.model),
        "--threads": "2",
    }
    no_threads = distributed.torchrun_command(2, paths, train="a", test="b")
    assert "--threads" not in no_threads


def test_split_is_image_list(tmp_path):
    save_split(image_list_split(tmp_path / "img", 3, 0), tmp_path / "list.npz")
    save_split(make_split(n=4), tmp_path / "memory.npz")
    assert distributed.split_is_image_list(tmp_path / "list.npz")
    assert not distributed.split_is_image_list(tmp_path / "memory.npz")


def test_launch_logs_the_ranks_and_raises_on_failure(tmp_path, monkeypatch):
    failing = [
        sys.executable,
        "-c",
        "import os, sys; print('rank output', os.environ['OMP_NUM_THREADS']); sys.exit(3)",
    ]
    monkeypatch.setattr(distributed, "torchrun_command", lambda *a, **k: failing)
    paths = RunKeys("d", "m", "c", "r", 0).paths(tmp_path / "results")
    log = paths.log
    log.parent.mkdir(parents=True)
    log.write_text("adapter line\n")
    with pytest.raises(RuntimeError, match="exit code 3"):
        distributed.launch(2, paths, train="a", test="b", threads=8)
    assert log.read_text() == "adapter line\nrank output 4\n"  # appended; 8 CPUs / 2 ranks


def test_not_under_torchrun_means_single_process():
    assert distributed.init_from_env("cpu", environ={}) is None
    assert distributed.init_from_env("cpu", environ={"RANK": "0"}) is None
    assert not distributed.is_active() and distributed.is_main_process()
    sums = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_sums(sums) is sums and sums.tolist() == [1.0, 2.0]


def test_rank_logger_lets_only_warnings_through_on_other_ranks(caplog):
    ctx = distributed.DistributedContext(
        rank=1, local_rank=1, world_size=2, device=torch.device("cpu")
    )
    log = distributed.rank_logger(logging.getLogger("rethinkgen.test"), ctx)
    with caplog.at_level(logging.INFO):
        log.info("epoch line")
        log.warning("trouble")
    assert caplog.messages == ["[rank 1] trouble"]
    main = distributed.DistributedContext(0, 0, 2, torch.device("cpu"))
    assert distributed.rank_logger(logging.getLogger("x"), main) is logging.getLogger("x")


# ----------------------------------------------------------------------------- sharding


def test_shard_orders_agree_and_seeds_differ_per_rank_and_epoch():
    ranks = [Shard(rank, 2, seed=7) for rank in range(2)]
    assert torch.equal(ranks[0].permutation(10, 1), ranks[1].permutation(10, 1))
    assert not torch.equal(ranks[0].permutation(10, 1), ranks[0].permutation(10, 2))
    seeds = {shard.rank_seeds(epoch) for shard in ranks for epoch in (1, 2)}
    assert len(seeds) == 4 and ranks[1].rank_seeds(2) == Shard(1, 2, 7).rank_seeds(2)
    assert all(0 <= s < 2**63 for pair in seeds for s in pair)


def test_shard_splits_each_global_batch_and_drops_a_too_small_last_one():
    batches = list(torch.arange(11).split(4))  # 4, 4, 3 samples
    parts = [Shard(rank, 2, 0).split_batches(batches) for rank in range(2)]
    assert [len(p) for p in parts] == [2, 2]  # 3 < 2 per rank x 2 ranks: dropped
    for step in range(2):
        together = torch.cat([parts[0][step], parts[1][step]]).sort().values
        assert torch.equal(together, batches[step].sort().values)


def test_in_memory_shards_cover_the_split():
    split = make_split(n=23, h=4, w=4)
    images = torch.as_tensor(split.images).permute(0, 3, 1, 2)
    labels = torch.arange(23)  # labels = sample index, to see who got what
    shards = [InMemoryBatches(images, labels, Shard(rank, 2, seed=1)) for rank in range(2)]
    evaluated = [lab for b in shards for _, batch in b.ordered(5) for lab in batch.tolist()]
    assert sorted(evaluated) == list(range(23))
    trained = [[batch for _, batch in b.shuffled(8, None, epoch=3)] for b in shards]
    assert [len(t) for t in trained] == [3, 3]
    seen = torch.cat([torch.cat(t) for t in trained]).tolist()
    assert sorted(seen) == list(range(23))  # 23 = 8 + 8 + 7: nothing dropped or repeated


def test_image_list_shards_cover_the_split_deterministically(tmp_path):
    split = image_list_split(tmp_path, 11, seed=0)
    cfg = TrainConfig.from_dict(run_dict(batch_size=4))
    cpu = torch.device("cpu")
    shards = [Shard(rank, 2, seed=cfg.seed) for rank in range(2)]
    evaluated = []
    for shard in shards:
        for _, labels in make_batches(split, cfg, False, cpu, shard).ordered(3):
            evaluated.extend(labels.tolist())
    assert sorted(evaluated) == sorted(split.labels.tolist())  # every image exactly once

    def epoch_labels(shard, epoch):
        batches = make_batches(split, cfg, True, cpu, shard)
        return [
            labels.tolist()
            for _, labels in batches.shuffled(4, torch.Generator().manual_seed(0), epoch)
        ]

    # 11 images -> 6 per rank (one padded), per-rank batch 2 -> 3 steps on every rank
    assert [len(epoch_labels(shard, 1)) for shard in shards] == [3, 3]
    assert epoch_labels(shards[0], 1) == epoch_labels(shards[0], 1)  # resumable
    assert sum(len(b) for b in epoch_labels(shards[1], 1)) == 6


# ----------------------------------------------------------------------------- torchrun


def _write_inputs(tmp_path, n_train: int, n_test: int, **training):
    save_split(image_list_split(tmp_path / "images", n_train, seed=0), tmp_path / "train.npz")
    save_split(image_list_split(tmp_path / "images", n_test, seed=1), tmp_path / "test.npz")
    run = run_dict(**training)
    (tmp_path / "run.json").write_text(json.dumps(run))
    return run


def _torchrun(tmp_path, nproc: int) -> tuple[pd.DataFrame, dict, str]:
    run = json.loads((tmp_path / "run.json").read_text())
    paths = RunKeys.of(run).paths(tmp_path / "results")
    paths.spec.parent.mkdir(parents=True, exist_ok=True)
    paths.spec.write_text(json.dumps(run))
    command = distributed.torchrun_command(
        nproc, paths, train=tmp_path / "train.npz", test=tmp_path / "test.npz", threads=1
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not paths.checkpoint.exists()  # removed after the outputs
    return (pd.read_parquet(paths.metrics), read_json(paths.info), done.stderr)


def _numbers(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics[["epoch", "step", "split", "loss", "accuracy"]].reset_index(drop=True)


def test_torchrun_one_process_matches_in_process_training(tmp_path):
    # A full batch per step: the gradient does not depend on the shuffling order, which
    # DistributedSampler draws differently from the in-process loader.
    run = _write_inputs(tmp_path, n_train=12, n_test=6, batch_size=16)
    expected = train(
        TrainConfig.from_dict(run),
        load_split(tmp_path / "train.npz"),
        load_split(tmp_path / "test.npz"),
    )
    metrics, info, log = _torchrun(tmp_path, nproc=1)
    pd.testing.assert_frame_equal(
        _numbers(metrics), _numbers(expected.metrics), check_exact=False, rtol=1e-5
    )
    assert info["world_size"] == 1 and info["status"] == "max_epochs"
    assert log.count("epoch   2/2") == 1


def test_torchrun_two_processes_report_whole_dataset_metrics(tmp_path):
    run = _write_inputs(tmp_path, n_train=13, n_test=7, batch_size=8)
    train_split, test_split = load_split(tmp_path / "train.npz"), load_split(tmp_path / "test.npz")
    metrics, info, log = _torchrun(tmp_path, nproc=2)
    assert info["world_size"] == 2 and info["epochs"] == 2
    # 13 images -> 7 per rank, per-rank batch 4 -> 2 steps per epoch
    assert metrics[metrics.split == "train_online"]["step"].tolist() == [2, 4]
    assert log.count("epoch   1/2") == 1 and log.count("epoch   2/2") == 1  # rank 0 only

    # Before training both ranks hold the seed's initial model: the sharded, all-reduced
    # evaluation must equal evaluating the whole splits in one process.
    initial = train(TrainConfig.from_dict(run, max_epochs=0), train_split, test_split)
    pd.testing.assert_frame_equal(
        _numbers(metrics[metrics.epoch == 0]),
        _numbers(initial.metrics),
        check_exact=False,
        rtol=1e-5,
    )
    # After training: the saved model, evaluated on all 7 test images in one process,
    # gives the final test row.
    cfg = TrainConfig.from_dict(run)
    model = build_model(cfg.model_spec, 3, (3, 16, 16))
    model.load_state_dict(torch.load(RunKeys.of(run).paths(tmp_path / "results").model))
    cpu = torch.device("cpu")
    whole = evaluate(
        model,
        make_batches(test_split, cfg, False, cpu).ordered(100),
        BatchPipeline.from_config(cfg, cpu, image_list=True),
    )
    final = metrics[metrics.split == "test"].iloc[-1]
    assert final["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert final["accuracy"] == pytest.approx(whole["accuracy"])
    assert final["accuracy"] * 7 == pytest.approx(round(final["accuracy"] * 7))


def test_torchrun_two_processes_train_an_in_memory_split(tmp_path):
    # training.nproc_per_node also runs CIFAR-style in-memory splits data-parallel; random
    # crops exercise the per-rank augmentation streams.
    save_split(make_split(n=40, h=8, w=8), tmp_path / "train.npz")
    save_split(make_split(n=15, h=8, w=8, seed=1), tmp_path / "test.npz")
    run = run_dict(batch_size=16, crop_size=6, nproc_per_node=2)
    run["regularizer_spec"] = {"random_crop": True}
    (tmp_path / "run.json").write_text(json.dumps(run))
    metrics, info, _ = _torchrun(tmp_path, nproc=2)
    assert info["world_size"] == 2
    # global batches of 16 as in one process: 16 + 16 + 8 -> 3 steps per epoch
    assert metrics[metrics.split == "train_online"]["step"].tolist() == [3, 6]
    initial = train(
        TrainConfig.from_dict(run, max_epochs=0),
        load_split(tmp_path / "train.npz"),
        load_split(tmp_path / "test.npz"),
    )
    pd.testing.assert_frame_equal(
        _numbers(metrics[metrics.epoch == 0]),
        _numbers(initial.metrics),
        check_exact=False,
        rtol=1e-5,
    )
