"""The paper's architectures: exact Table 1 parameter counts, shapes, dropout, LRN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rethinkgen.paper import PAPER_MODEL_SPECS, PAPER_NUM_PARAMS, paper_model_of
from rethinkgen.training.layers import CrossChannelLRN
from rethinkgen.training.models import MODELS, build_model, count_parameters, parameter_table


@pytest.mark.parametrize("name", sorted(PAPER_NUM_PARAMS))
def test_parameter_count_equals_paper_table1(name):
    model = build_model(PAPER_MODEL_SPECS[name], 10, (3, 28, 28))
    assert count_parameters(model) == PAPER_NUM_PARAMS[name]


@pytest.mark.parametrize("name", sorted(PAPER_MODEL_SPECS))
def test_paper_model_of_inverts_the_paper_specs(name):
    config_spec = dict(PAPER_MODEL_SPECS[name], lr=0.1, init="glorot_uniform")
    assert paper_model_of(config_spec) == name


def test_paper_model_of_reads_specs_as_the_builder_does():
    # No batch_norm key builds the BN variant, so it is the paper's "inception".
    assert paper_model_of({"arch": "small_inception"}) == "inception"
    assert paper_model_of({"arch": "mlp", "hidden": [256]}) is None


def test_paper_counts_are_the_published_numbers():
    # Guard against someone "fixing" the expected values instead of the models.
    assert PAPER_NUM_PARAMS == {
        "inception": 1_649_402,
        "inception_nobn": 1_649_402,
        "alexnet": 1_387_786,
        "mlp_3x512": 1_735_178,
        "mlp_1x512": 1_209_866,
    }


def test_batchnorm_variant_has_shift_but_no_scale_and_no_conv_bias():
    with_bn = build_model({"arch": "small_inception", "batch_norm": True}, 10, (3, 28, 28))
    without = build_model({"arch": "small_inception", "batch_norm": False}, 10, (3, 28, 28))
    bn_layers = [m for m in with_bn.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn_layers and all(not m.affine for m in bn_layers)
    assert all(m.bias is None for m in with_bn.modules() if isinstance(m, nn.Conv2d))
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())


@pytest.mark.parametrize("name", sorted(PAPER_MODEL_SPECS))
@pytest.mark.parametrize("input_shape", [(1, 28, 28), (3, 28, 28), (3, 32, 32), (1, 12, 12)])
def test_forward_shape_adapts_to_input(name, input_shape):
    model = build_model(PAPER_MODEL_SPECS[name], 7, input_shape).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("name", sorted(PAPER_MODEL_SPECS))
def test_dropout_does_not_change_parameter_count(name):
    plain = build_model(PAPER_MODEL_SPECS[name], 10, (3, 28, 28))
    dropped = build_model(PAPER_MODEL_SPECS[name], 10, (3, 28, 28), dropout=0.5)
    assert count_parameters(plain) == count_parameters(dropped)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in dropped.modules())


def test_inception_v3_builds_with_dropout_regularizer():
    model = build_model({"arch": "inception_v3"}, 5, (3, 75, 75), dropout=0.2).eval()
    assert any(isinstance(m, nn.Dropout) and m.p == 0.2 for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 75)).shape == (1, 5)
    with pytest.raises(ValueError):
        build_model({"arch": "inception_v3"}, 5, (3, 28, 28))


def test_unknown_arch_is_rejected():
    with pytest.raises(KeyError):
        build_model({"arch": "resnet"}, 10, (3, 28, 28))
    assert set(MODELS) == {
        "small_inception",
        "small_alexnet",
        "mlp",
        "inception_v3",
        "torchvision",
        "python",
    }  # the last two: your own (training/user_models.py)


def test_cross_channel_lrn_matches_tf_definition():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 5) * 3
    radius, alpha, beta, bias = 4, 0.001 / 9, 0.75, 1.0
    # Direct TF formula: sqr_sum over channels c-r..c+r.
    sq = x * x
    window = torch.stack([sq[:, max(0, c - radius) : c + radius + 1].sum(1) for c in range(16)], 1)
    expected = x / (bias + alpha * window) ** beta
    assert torch.allclose(CrossChannelLRN(16)(x), expected, atol=1e-5)
    # Same as torch's LocalResponseNorm, whose alpha is divided by the window size.
    torch_lrn = nn.LocalResponseNorm(2 * radius + 1, alpha * (2 * radius + 1), beta, bias)
    assert torch.allclose(CrossChannelLRN(16)(x), torch_lrn(x), atol=1e-5)


def test_lrn_band_is_not_saved_in_state_dict():
    model = build_model({"arch": "small_alexnet"}, 10, (3, 28, 28))
    assert not any("band" in key for key in model.state_dict())


def test_parameter_table_lists_every_paper_model():
    rows = parameter_table()
    assert [name for name, _, _ in rows] == list(PAPER_NUM_PARAMS)
    assert all(ours == paper for _, ours, paper in rows)
