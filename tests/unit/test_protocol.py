"""The training protocol: budget versus fit, the fit criteria, weight-decay scope,
initialisation and the learning-rate schedule."""

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from rethinkgen.data.splits import Split
from rethinkgen.training.checkpoint import save_checkpoint
from rethinkgen.training.engine import train
from rethinkgen.training.models import build_model
from rethinkgen.training.protocol import Interrupted, build_optimizer, epoch_lr, fit_met
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.state import RunState
from tests.conftest import make_split
from tests.unit.test_train import config


def replaced(**fields) -> TrainConfig:
    """A config with fields that from_dict takes from the model/regularizer specs."""
    return dataclasses.replace(config(), **fields)


def test_budget_continues_after_fit_and_records_fit_time():
    train_split, test_split = make_split(n=64, seed=2), make_split(n=32, seed=3)
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [256], "lr": 0.05},
        max_epochs=40,
        lr_decay=1.0,
        batch_size=16,
        fit_metric="train_accuracy",
        fit_threshold=1.0,
    )
    info = train(cfg, train_split, test_split).info
    assert info["status"] == "max_epochs" and info["epochs"] == 40  # the whole budget
    assert info["fitted"] and 1 <= info["epochs_to_fit"] < 40
    assert info["steps_to_fit"] == info["epochs_to_fit"] * 4
    # the criterion held from some epoch on, never before it was first met
    assert info["epochs_to_fit"] <= info["fit_held_from_epoch"] <= 40
    assert info["fit_criterion"] == {
        "metric": "train_accuracy",
        "threshold": 1.0,
        "patience": 1,
        "stop_when_fitted": False,
    }


def test_run_that_never_fits_says_so():
    train_split, test_split = make_split(n=64, seed=2), make_split(n=32, seed=3)
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [8], "lr": 1e-6},
        max_epochs=2,
        fit_metric="online_loss",
        fit_threshold=0.01,
    )
    info = train(cfg, train_split, test_split).info
    assert not info["fitted"] and info["epochs_to_fit"] is None
    assert info["fit_held_from_epoch"] is None and info["status"] == "max_epochs"


@pytest.mark.parametrize("stop_when_fitted", [False, True])
def test_test_set_evaluated_every_n_epochs_and_at_the_end(stop_when_fitted):
    train_split, test_split = make_split(n=64, seed=2), make_split(n=32, seed=3)
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [256], "lr": 0.05},
        max_epochs=13,
        lr_decay=1.0,
        batch_size=16,
        fit_metric="train_accuracy",
        fit_threshold=1.0,
        eval_test_every=3,
        stop_when_fitted=stop_when_fitted,
    )
    result = train(cfg, train_split, test_split)
    last = result.info["epochs"]
    test_epochs = sorted(result.metrics.loc[result.metrics["split"] == "test", "epoch"])
    assert test_epochs == sorted({0, *range(3, last + 1, 3), last})  # 0: eval_initial
    assert result.info["final"]["test"]["epoch"] == last
    if stop_when_fitted:  # stopped at fit between two scheduled evaluations, still scored
        assert result.info["status"] == "fitted" and last % 3 != 0
    assert result.info["best_test_epoch"] in test_epochs


@pytest.mark.parametrize(
    "metric, online, train_eval, expected",
    [
        ("online_loss", {"loss": 0.09, "accuracy": 0.5}, None, True),
        ("online_loss", {"loss": 0.1, "accuracy": 1.0}, None, False),
        ("online_accuracy", {"loss": 2.0, "accuracy": 0.99}, {"accuracy": 0.1}, True),
        ("train_accuracy", {"loss": 0.0, "accuracy": 1.0}, {"accuracy": 0.98}, False),
        ("train_accuracy", {"loss": 0.0, "accuracy": 1.0}, None, None),
    ],
)
def test_fit_criteria(metric, online, train_eval, expected):
    threshold = 0.1 if metric == "online_loss" else 0.99
    cfg = config(fit_metric=metric, fit_threshold=threshold)
    assert fit_met(cfg, online, train_eval) is expected


def test_fit_streak_records_first_fit_and_the_epoch_it_held_from():
    state = RunState()
    first_stops = []
    for epoch, met in enumerate([False, True, False, None, True, True, True], start=1):
        state.epoch, state.step = epoch, 10 * epoch
        if state.record_fit(met, patience=2):
            first_stops.append(epoch)
    assert (state.epochs_to_fit, state.steps_to_fit) == (2, 20)  # first time, not the last
    assert state.fit_held_from_epoch == 5 and state.fit_streak == 3
    # a stop-at-fit experiment stops where the streak first reached its patience
    assert first_stops == [6] and state.fit_stop_epoch == 6


def test_weight_decay_only_on_kernels_and_applied():
    model = build_model({"arch": "small_inception", "batch_norm": True}, 10, (1, 12, 12))
    cfg = replaced(weight_decay=0.5, momentum=0.0, lr=0.1)
    optimizer = build_optimizer(model, cfg)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    others = [p for n, p in model.named_parameters() if id(p) not in {id(k) for k in kernels}]
    assert others and all(id(p) not in decayed for p in others)  # biases, BN scale and shift
    assert all(id(k) in decayed for k in kernels)
    # one step with zero gradients: kernels shrink by lr * wd, the rest do not move
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        factor = 1 - 0.1 * 0.5 if any(p is k for k in kernels) else 1.0
        assert torch.allclose(p, before[name] * factor), name


def test_weight_decay_scope_all_decays_biases():
    model = build_model({"arch": "mlp", "hidden": [4]}, 3, (1, 2, 2))
    optimizer = build_optimizer(model, replaced(weight_decay=1e-3, weight_decay_scope="all"))
    assert all(g["weight_decay"] == 1e-3 for g in optimizer.param_groups)
    with pytest.raises(ValueError, match="weight_decay_scope"):
        build_optimizer(model, replaced(weight_decay=1e-3, weight_decay_scope="bias"))


def test_regularizer_spec_reaches_the_optimizer():
    cfg = TrainConfig.from_dict(
        {
            "model_spec": {"arch": "mlp", "hidden": [4], "lr": 0.1},
            "regularizer_spec": {"weight_decay": 5e-4},
            "training": {},
        }
    )
    assert (cfg.weight_decay, cfg.weight_decay_scope) == (5e-4, "weights")


@pytest.mark.parametrize("init", ["glorot_uniform", "he_normal"])
def test_init_options_zero_biases_and_set_the_kernel_scale(init):
    torch.manual_seed(0)
    model = build_model({"arch": "small_alexnet", "init": init}, 10, (1, 28, 28))
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)][0]
    fan_out, fan_in = linear.weight.shape
    expected_var = 2.0 / (fan_in + fan_out) if init == "glorot_uniform" else 2.0 / fan_in
    assert linear.weight.var().item() == pytest.approx(expected_var, rel=0.1)
    assert all(
        (m.bias == 0).all()
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None
    )
    default = build_model({"arch": "small_alexnet"}, 10, (1, 28, 28))
    assert not any((m.bias == 0).all() for m in default.modules() if isinstance(m, nn.Linear))
    with pytest.raises(KeyError, match="unknown init"):
        build_model({"arch": "mlp", "hidden": [4], "init": "orthogonal"}, 3, (1, 2, 2))


def test_lr_schedule_decay_per_paper_epoch_and_warmup():
    cfg = replaced(lr=0.1, lr_decay=0.95, batch_size=128, lr_decay_every_steps=391)
    assert epoch_lr(cfg, 1, 50_000) == pytest.approx(0.1)
    assert epoch_lr(cfg, 3, 50_000) == pytest.approx(0.1 * 0.95**2)
    # 500 images = 4 steps an epoch: decay 0.95 per 391 steps, not per epoch
    assert epoch_lr(cfg, 2, 500) == pytest.approx(0.1 * 0.95 ** (4 / 391))
    warm = replaced(lr=0.1, lr_decay=1.0, lr_warmup_epochs=4, lr_decay_every_steps=None)
    assert [epoch_lr(warm, e, 100) for e in (1, 2, 4, 5)] == pytest.approx([0.025, 0.05, 0.1, 0.1])
    assert math.isclose(
        epoch_lr(replaced(lr=0.1, lr_decay_every_steps=None, lr_decay=0.5), 3, 10), 0.025
    )


# ------------------------------------------------- each regularizer reaches training


def _one_image_split(n: int = 32) -> "Split":
    """n copies of one random 8x8 image: without augmentation every training input is equal."""
    image = make_split(n=1, seed=5).images
    return Split(
        image.repeat(n, axis=0), torch.arange(n).remainder(10).numpy(), [f"c{i}" for i in range(10)]
    )


def _train_and_watch(monkeypatch, regularizer_spec: dict) -> tuple[nn.Module, list[torch.Tensor]]:
    """Train one epoch through the engine; return the model it built and the inputs it
    fed that model in train mode (captured by a forward pre-hook)."""
    from rethinkgen.training import session

    built, inputs = [], []

    def spy(*args, **kwargs):
        model = build_model(*args, **kwargs)
        model.register_forward_pre_hook(
            lambda m, a: inputs.append(a[0].detach().float().clone()) if m.training else None
        )
        built.append(model)
        return model

    monkeypatch.setattr(session, "build_model", spy)
    train(
        config(max_epochs=1, regularizer_spec=regularizer_spec), _one_image_split(), make_split(n=8)
    )
    return built[0], inputs


@pytest.mark.parametrize("regularizer", [{}, {"random_crop": True}, {"augment": True}])
def test_random_crop_and_augmentation_change_the_training_inputs(monkeypatch, regularizer):
    _, inputs = _train_and_watch(monkeypatch, regularizer)
    batch = torch.cat(inputs)
    differ = not torch.allclose(batch, batch[:1].expand_as(batch))
    assert differ == bool(regularizer), regularizer  # identical images stay identical only without


def test_dropout_regularizer_puts_dropout_with_its_rate_in_the_trained_model(monkeypatch):
    model, _ = _train_and_watch(monkeypatch, {"dropout": 0.3})
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.3]
    plain, _ = _train_and_watch(monkeypatch, {})
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())


# ------------------------------------------------------------------ resuming across versions


def _recorded_without(cfg: TrainConfig, field: str) -> str:
    """cfg's fingerprint as an earlier version of the code, without `field`, recorded it."""
    recorded = json.loads(cfg.fingerprint())
    assert field not in recorded  # a setting at its default is not part of the identity
    recorded.pop(field, None)
    return json.dumps(recorded, sort_keys=True)


def test_checkpoint_of_an_earlier_version_resumes_when_new_settings_are_at_default():
    cfg = config(max_epochs=3)
    assert cfg.resumes(cfg.fingerprint())
    # eval_test_every was added later, with a default that keeps the old behaviour
    assert cfg.resumes(_recorded_without(cfg, "eval_test_every"))
    assert not replaced(eval_test_every=3).resumes(_recorded_without(cfg, "eval_test_every"))


def test_checkpoint_of_another_run_or_unknown_setting_is_refused():
    cfg = config(max_epochs=3)
    assert not dataclasses.replace(cfg, batch_size=64).resumes(cfg.fingerprint())
    # a longer budget is the same run trained on (test_budget_resume.py)
    assert config(max_epochs=4).resumes(cfg.fingerprint())
    recorded = json.loads(cfg.fingerprint()) | {"setting_this_version_lacks": 1}
    assert not cfg.resumes(json.dumps(recorded))
    assert not cfg.resumes("not json") and not cfg.resumes(None)


def test_engine_resumes_a_checkpoint_recorded_before_a_setting_existed(tmp_path):
    train_split, test_split = make_split(n=64, seed=2), make_split(n=32, seed=3)
    cfg = config(model_spec={"arch": "mlp", "hidden": [16], "lr": 0.05}, max_epochs=2)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):  # stopped (as by SIGTERM) after epoch 1's checkpoint
        train(cfg, train_split, test_split, checkpoint_path=checkpoint, should_stop=lambda: True)
    state = torch.load(checkpoint, weights_only=True)
    state["fingerprint"] = _recorded_without(cfg, "eval_test_every")
    save_checkpoint(state, checkpoint)
    result = train(cfg, train_split, test_split, checkpoint_path=checkpoint)
    assert result.info["resumed_from_epoch"] == 1 and result.info["epochs"] == 2


def test_an_unmeasured_epoch_inside_a_fit_streak_neither_breaks_nor_restarts_it():
    """train_accuracy every other epoch: the epochs between evaluations are not measured
    (None); the streak runs on through them and stops where it reached its patience."""
    state = RunState()
    stops = []
    for epoch, met in enumerate([False, True, None, True], start=1):
        state.epoch = epoch
        if state.record_fit(met, patience=3):
            stops.append(epoch)
    assert state.fit_held_from_epoch == 2 and state.fit_streak == 3
    assert stops == [4] and state.fit_stop_epoch == 4
    assert fit_met(config(fit_metric="train_accuracy", fit_threshold=0.9), {}, None) is None
