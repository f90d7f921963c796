"""Training engine on tiny synthetic data: protocol, stopping, metrics, divergence, I/O."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image

import rethinkgen
from rethinkgen.data.splits import ImageListSplit, Split
from rethinkgen.schemas import METRIC_COLUMNS
from rethinkgen.training.checkpoint import load_checkpoint
from rethinkgen.training.engine import train
from rethinkgen.training.epochs import evaluate, train_one_epoch
from rethinkgen.training.preprocess import (
    center_crop,
    per_image_standardization,
    prepare_batch,
    random_crop,
    random_flip_rotate,
)
from rethinkgen.training.settings import TrainConfig
from tests.conftest import TEST_DEVICE, make_split

MLP = {"arch": "mlp", "hidden": [64], "lr": 0.05}


def run_dict(model_spec=MLP, regularizer_spec=None, seed=0, **training) -> dict:
    base = {
        "max_epochs": 3,
        "batch_size": 32,
        "crop_size": 6,
        "stop_when_fitted": False,
        "num_threads": 1,
        "device": TEST_DEVICE,
    }
    return {
        "dataset": "tiny",
        "model": "m",
        "corruption": "random_labels",
        "regularizer": "r",
        "seed": seed,
        "model_spec": dict(model_spec),
        "regularizer_spec": regularizer_spec or {},
        "training": base | training,
    }


def config(**kwargs) -> TrainConfig:
    return TrainConfig.from_dict(run_dict(**kwargs))


# ----------------------------------------------------------------------------- config


def test_from_dict_reads_model_regularizer_and_training():
    cfg = TrainConfig.from_dict(
        run_dict(
            regularizer_spec={"weight_decay": 5e-4, "random_crop": True, "dropout": 0.1},
            lr_decay=0.999,
            max_epochs=7,
        )
    )
    assert (cfg.lr, cfg.weight_decay, cfg.random_crop, cfg.dropout) == (0.05, 5e-4, True, 0.1)
    assert (cfg.lr_decay, cfg.max_epochs, cfg.batch_size, cfg.seed) == (0.999, 7, 32, 0)
    assert cfg.augment is False and cfg.momentum == 0.9


def test_from_dict_defaults_fill_missing_training_keys():
    cfg = TrainConfig.from_dict(
        {
            "model_spec": {"arch": "mlp", "hidden": [8], "lr": 0.1},
            "regularizer_spec": {},
            "training": {},
            "seed": 3,
        }
    )
    assert (cfg.batch_size, cfg.momentum, cfg.lr_decay, cfg.crop_size) == (128, 0.9, 0.95, 28)
    assert cfg.whiten and cfg.amp == "off" and cfg.device == "auto" and not cfg.compile


# ----------------------------------------------------------------------------- preprocessing


def test_per_image_standardization_matches_tf_definition():
    x = torch.rand(4, 3, 5, 5)
    x[1] = 0.5  # constant image: std 0 -> adjusted std 1/sqrt(75)
    out = per_image_standardization(x)
    for i in range(4):
        img = x[i].double()
        adjusted = max(img.std(unbiased=False).item(), 1 / math.sqrt(img.numel()))
        expected = (img - img.mean()) / adjusted
        assert torch.allclose(out[i].double(), expected, atol=1e-5)
    assert torch.allclose(out[0].mean(), torch.tensor(0.0), atol=1e-5)


def test_center_and_random_crop():
    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.uint8).view(2, 1, 8, 8)
    assert torch.equal(center_crop(images, 4), images[..., 2:6, 2:6])
    gen = torch.Generator().manual_seed(0)
    crops = random_crop(images, 4, gen)
    assert crops.shape == (2, 1, 4, 4)
    for i in range(2):  # every crop is a contiguous window of its own image
        top, left = divmod(int(crops[i, 0, 0, 0]) - 64 * i, 8)
        assert torch.equal(crops[i], images[i, :, top : top + 4, left : left + 4])


def test_random_crop_pads_images_no_larger_than_the_crop():
    images = torch.full((64, 1, 6, 6), 255, dtype=torch.uint8)
    crops = random_crop(images, 6, torch.Generator().manual_seed(0))
    assert crops.shape == (64, 1, 6, 6)
    assert (crops == 0).any()  # some crops reach into the zero border


def test_flip_rotate_keeps_shape_and_flips_without_rotation():
    x = torch.rand(32, 3, 9, 9)
    out = random_flip_rotate(x, 0.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    flipped = torch.isclose(out, x.flip(3), atol=1e-5).flatten(1).all(1)
    assert (same | flipped).all() and same.any() and flipped.any()


def test_prepare_batch_eval_is_deterministic_and_whitened():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    kwargs = dict(
        crop_size=6,
        random_crop_enabled=True,
        augment=True,
        rotation_degrees=25,
        whiten=True,
        generator=None,
        channels_last=False,
    )
    a = prepare_batch(images, train=False, **kwargs)
    assert a.shape == (5, 3, 6, 6) and a.dtype == torch.float32
    assert torch.equal(a, prepare_batch(images, train=False, **kwargs))
    assert torch.allclose(a.flatten(1).mean(1), torch.zeros(5), atol=1e-5)


def test_prepare_batch_leaves_float_images_untouched():
    images = torch.rand(3, 1, 6, 6) * 255
    original = images.clone()
    prepare_batch(
        images,
        crop_size=6,
        train=False,
        random_crop_enabled=False,
        augment=False,
        rotation_degrees=0,
        whiten=True,
        generator=None,
        channels_last=False,
    )
    assert torch.equal(images, original)


# ----------------------------------------------------------------------------- training


def test_one_run_produces_design_metrics_and_info(tiny_split, tiny_test_split):
    result = train(config(), tiny_split, tiny_test_split)
    m = result.metrics
    assert list(m.columns) == METRIC_COLUMNS
    assert str(m["seed"].dtype) == "int64" and str(m["loss"].dtype) == "float64"
    assert set(m["split"]) == {"train_online", "train", "test"}
    # epoch 0 (train, test) + 3 epochs x (train_online, train, test)
    assert len(m) == 2 + 3 * 3
    assert m[m.split == "train_online"]["step"].tolist() == [7, 14, 21]  # ceil(200/32)=7
    assert m["top5_accuracy"].isna().all()  # 10 classes: no top-5
    info = result.info
    assert info["status"] == "max_epochs" and info["epochs"] == 3 and info["steps"] == 21
    assert info["num_params"] == 6 * 6 * 3 * 64 + 64 + 64 * 10 + 10
    # run_info says what ran and what came of it, consistently with the metrics
    assert info["keys"] == {
        "dataset": "tiny",
        "model": "m",
        "corruption": "random_labels",
        "regularizer": "r",
        "seed": 0,
    }
    assert info["spec"]["training"]["max_epochs"] == info["max_epochs"] == 3
    assert info["data"] == {"n_train": 200, "n_test": 50, "num_classes": 10}
    for split in ("train_online", "train", "test"):
        last = m[m.split == split].iloc[-1]
        assert info["final"][split]["epoch"] == 3
        assert info["final"][split]["accuracy"] == pytest.approx(last["accuracy"])
        assert info["final"][split]["loss"] == pytest.approx(last["loss"])
    trained = m[(m.split == "test") & (m.epoch >= 1)]  # the best over trained epochs, first if tied
    assert info["best_test_accuracy"] == trained["accuracy"].max()
    assert info["best_test_epoch"] == int(trained.loc[trained["accuracy"].idxmax(), "epoch"])
    assert info["device"] == str(torch.device(TEST_DEVICE)) and info["resumed_from_epoch"] is None
    assert info["started_at"] <= info["finished_at"] and info["wall_time_s"] > 0
    # the package's version is recorded, outside the identity (it retrains nothing)
    assert info["rethinkgen_version"] == rethinkgen.__version__
    assert info["identity"] == config().identity() and "rethinkgen_version" not in str(
        info["identity"]
    )
    json.dumps(info)  # run_info.json must be serializable as is
    assert set(result.model_state) == set(torch.nn.Module.state_dict(_rebuild(result)).keys())


def _rebuild(result):
    from rethinkgen.training.models import build_model

    return build_model(MLP, 10, (3, 6, 6))


def test_learning_rate_decays_per_epoch(tiny_split, tiny_test_split):
    result = train(config(lr_decay=0.5, max_epochs=4), tiny_split, tiny_test_split)
    online = result.metrics[result.metrics.split == "train_online"]
    assert online["lr"].tolist() == pytest.approx([0.05, 0.025, 0.0125, 0.00625])


def test_top5_reported_for_more_than_ten_classes():
    train_split, test_split = make_split(k=20), make_split(n=40, k=20, seed=1)
    m = train(config(max_epochs=1), train_split, test_split).metrics
    assert m["top5_accuracy"].notna().all()
    assert (m["top5_accuracy"] >= m["accuracy"]).all()


def test_tiny_random_label_set_is_fitted_and_stops():
    train_split, test_split = make_split(n=64, seed=2), make_split(n=32, seed=3)
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [256], "lr": 0.05},
        max_epochs=200,
        stop_when_fitted=True,
        fit_patience=2,
        lr_decay=1.0,
        batch_size=16,
        fit_metric="train_accuracy",
        fit_threshold=1.0,
    )
    result = train(cfg, train_split, test_split)
    info = result.info
    assert info["status"] == "fitted"
    assert info["final"]["train"]["accuracy"] == 1.0
    assert info["epochs"] == info["epochs_to_fit"] + 1  # patience 2: one more evaluation
    assert info["steps_to_fit"] == info["epochs_to_fit"] * 4
    test = result.metrics[result.metrics.split == "test"]
    assert info["best_test_accuracy"] == test["accuracy"].max()


@pytest.mark.parametrize(
    "model_spec",
    [
        {"arch": "small_inception", "batch_norm": True, "lr": 0.1},
        {"arch": "small_alexnet", "lr": 0.01},
    ],
)
def test_conv_nets_train_one_epoch_with_regularizers(model_spec, tiny_split, tiny_test_split):
    cfg = config(
        model_spec=model_spec,
        max_epochs=1,
        regularizer_spec={
            "random_crop": True,
            "augment": True,
            "weight_decay": 5e-4,
            "dropout": 0.2,
        },
    )
    result = train(cfg, tiny_split, tiny_test_split)
    assert result.info["status"] == "max_epochs"
    assert np.isfinite(result.metrics["loss"]).all()


def test_same_seed_gives_identical_metrics_and_other_seed_differs(tiny_split, tiny_test_split):
    spec = {"arch": "small_inception", "batch_norm": True, "lr": 0.1}
    kwargs = dict(model_spec=spec, max_epochs=2, regularizer_spec={"random_crop": True})
    runs = [train(config(seed=s, **kwargs), tiny_split, tiny_test_split) for s in (0, 0, 1)]
    cols = ["epoch", "step", "split", "loss", "accuracy", "lr"]
    assert runs[0].metrics[cols].equals(runs[1].metrics[cols])
    assert not runs[0].metrics[cols].equals(runs[2].metrics[cols])


def test_huge_learning_rate_diverges_without_crashing(tiny_split, tiny_test_split):
    cfg = config(model_spec={"arch": "mlp", "hidden": [64], "lr": 1e6}, max_epochs=5)
    result = train(cfg, tiny_split, tiny_test_split)
    assert result.info["status"] == "diverged"
    assert result.info["epochs"] < 5
    online = result.metrics[result.metrics.split == "train_online"]
    assert not np.isfinite(online["loss"].iloc[-1]) or online["loss"].iloc[-1] > 1e3


def test_train_one_epoch_and_evaluate_return_dicts(tiny_split, test_device):
    from rethinkgen.training.models import build_model
    from rethinkgen.training.preprocess import BatchPipeline, InMemoryBatches, nhwc_to_device

    cfg = config()
    device = test_device
    model = build_model(MLP, 10, (3, 6, 6)).to(device)
    batches = InMemoryBatches(
        nhwc_to_device(tiny_split.images, device), torch.as_tensor(tiny_split.labels).to(device)
    )
    pipeline = BatchPipeline.from_config(cfg, device, image_list=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator(device=device).manual_seed(0)
    stats = train_one_epoch(model, batches.shuffled(32, gen), opt, pipeline, gen)
    assert stats["steps"] == 7 and stats["images"] == 200 and 0 <= stats["accuracy"] <= 1
    ev = evaluate(model, batches.ordered(64), pipeline)
    assert set(ev) == {"loss", "accuracy", "top5_accuracy"} and math.isnan(ev["top5_accuracy"])


def test_gaussian_float_images_train(tiny_test_split):
    rng = np.random.default_rng(0)
    split = Split(
        rng.normal(120, 60, (100, 8, 8, 3)).astype(np.float32),
        rng.integers(0, 10, 100).astype(np.int64),
        [str(i) for i in range(10)],
    )
    result = train(config(max_epochs=1), split, tiny_test_split)
    assert result.info["status"] == "max_epochs"


def test_checkpoint_is_written_each_epoch_atomically(tmp_path, tiny_split, tiny_test_split):
    path = tmp_path / "ckpt" / "last.pt"
    train(config(max_epochs=2), tiny_split, tiny_test_split, checkpoint_path=path)
    ckpt = load_checkpoint(path)
    assert ckpt["state"]["epoch"] == 2 and ckpt["state"]["status"] == "max_epochs"
    assert {"model", "optimizer", "rng", "fingerprint"} <= set(ckpt)
    # no temp files left; the checksum sits beside the checkpoint
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_foreign_checkpoint_is_ignored(tmp_path, tiny_split, tiny_test_split, caplog):
    path = tmp_path / "last.pt"
    train(config(max_epochs=1, seed=5), tiny_split, tiny_test_split, checkpoint_path=path)
    with caplog.at_level(logging.WARNING):
        result = train(config(max_epochs=2), tiny_split, tiny_test_split, checkpoint_path=path)
    assert "another configuration" in caplog.text
    assert result.info["resumed_from_epoch"] is None and result.info["epochs"] == 2


def test_image_list_split_trains_through_dataloader(tmp_path):
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(24):
        label = i % 3
        rel = f"class{label}/img{i}.jpg"
        (tmp_path / f"class{label}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / rel)
        paths.append(rel)
        labels.append(label)
    split = ImageListSplit(
        str(tmp_path), np.array(paths), np.array(labels, dtype=np.int64), ["a", "b", "c"]
    )
    cfg = config(
        max_epochs=2, image_size=16, num_workers=2, batch_size=8, regularizer_spec={"augment": True}
    )
    result = train(cfg, split, split)
    assert result.info["status"] == "max_epochs"
    assert result.info["num_params"] == 16 * 16 * 3 * 64 + 64 + 64 * 3 + 3
    assert result.metrics[result.metrics.split == "train_online"]["step"].tolist() == [3, 6]
