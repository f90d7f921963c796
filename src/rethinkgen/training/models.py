"""The paper's architectures (Appendix A, Figure 3, Table 1) behind one builder.

`build_model(spec, num_classes, input_shape)` turns a config entry such as
``{"arch": "small_inception", "batch_norm": true, "lr": 0.1}`` into an ``nn.Module``.
Every model adapts to its input shape ``(C, H, W)``: 28x28x1 Fashion-MNIST and 28x28x3
CIFAR-10 crops use the same code.

Parameter-counting convention (docs/paper.md, "Architectures"): every convolution owns
k*k*c_in*c_out weights plus exactly ONE c_out vector. With batch norm that vector is the
BN shift (beta) and BN has no scale (gamma) -- TF-slim's ``batch_norm`` default
(``center=True, scale=False``), so the conv itself has no bias. Without batch norm the
vector is the conv bias. Both small-Inception variants therefore have 1,649,402
parameters for 28x28x3 inputs, as in Table 1.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from rethinkgen.paper import PAPER_MODELS
from rethinkgen.training.layers import CrossChannelLRN, ShiftOnlyBatchNorm2d
from rethinkgen.training.user_models import build_python, build_torchvision


def _same_pool_size(size: int) -> int:
    """Output size of a stride-2 'same' conv/pool (ceil(size / 2))."""
    return math.ceil(size / 2)


class ConvModule(nn.Sequential):
    """Figure 3 'Conv module': conv (same padding) -> [BN] -> ReLU; one c_out vector."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, batch_norm: bool):
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(ShiftOnlyBatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class InceptionModule(nn.Module):
    """Figure 3 'Inception module': parallel 1x1 and 3x3 conv modules, concatenated."""

    def __init__(self, c_in: int, ch1: int, ch3: int, batch_norm: bool):
        super().__init__()
        self.branch1 = ConvModule(c_in, ch1, 1, 1, batch_norm)
        self.branch3 = ConvModule(c_in, ch3, 3, 1, batch_norm)
        self.out_channels = ch1 + ch3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x)], dim=1)


class DownsampleModule(nn.Module):
    """Figure 3 'Downsample module': stride-2 3x3 conv module beside a 3x3/2 max-pool."""

    def __init__(self, c_in: int, ch3: int, batch_norm: bool):
        super().__init__()
        self.conv = ConvModule(c_in, ch3, 3, 2, batch_norm)
        # padding=1 gives ceil(H/2) like TF 'same' for both branches (28 -> 14 -> 7).
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.out_channels = ch3 + c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


class SmallInception(nn.Module):
    """The small Inception of Figure 3 (docs/paper.md lists its 13 layers)."""

    # (kind, channels): "inception" takes (ch1, ch3), "downsample" takes ch3.
    LAYOUT = [
        ("inception", (32, 32)),
        ("inception", (32, 48)),
        ("downsample", 80),
        ("inception", (112, 48)),
        ("inception", (96, 64)),
        ("inception", (80, 80)),
        ("inception", (48, 96)),
        ("downsample", 96),
        ("inception", (176, 160)),
        ("inception", (176, 160)),
    ]

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, int, int],
        batch_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        c_in = input_shape[0]
        layers: list[nn.Module] = [ConvModule(c_in, 96, 3, 1, batch_norm)]
        channels = 96
        for kind, spec in self.LAYOUT:
            if kind == "inception":
                block: nn.Module = InceptionModule(channels, *spec, batch_norm=batch_norm)
            else:
                block = DownsampleModule(channels, spec, batch_norm=batch_norm)
            layers.append(block)
            channels = block.out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # global mean pool (7x7 for 28x28 input)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


class SmallAlexNet(nn.Module):
    """Small AlexNet (Appendix A) as the TF cifar10 tutorial net: conv-pool-LRN, conv-LRN-pool,
    FC 384, 192 (docs/paper.md, "Architectures")."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, int, int],
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        c_in, height, width = input_shape

        def norm(layer, channels, kind):  # batch_norm (ours): BN after the layer, no bias
            if not batch_norm:
                return [layer]
            layer.bias = None
            return [layer, kind(channels)]

        self.features = nn.Sequential(
            *norm(nn.Conv2d(c_in, 64, 5, padding=2), 64, nn.BatchNorm2d),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            CrossChannelLRN(64),
            *norm(nn.Conv2d(64, 64, 5, padding=2), 64, nn.BatchNorm2d),
            nn.ReLU(inplace=True),
            CrossChannelLRN(64),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        flat = (
            64 * _same_pool_size(_same_pool_size(height)) * _same_pool_size(_same_pool_size(width))
        )
        self.hidden = nn.Sequential(
            nn.Flatten(),
            *norm(nn.Linear(flat, 384), 384, nn.BatchNorm1d),
            nn.ReLU(inplace=True),
            *norm(nn.Linear(384, 192), 192, nn.BatchNorm1d),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(192, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.hidden(self.features(x))))


# The MLP's hidden nonlinearity (spec["activation"]; the paper's is relu).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
}


class MLP(nn.Module):
    """MLP 1x512 / 3x512 (Appendix A): fully connected layers on the flattened image; ReLU
    unless ``activation`` names another of ``ACTIVATIONS``."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, int, int],
        hidden: list[int],
        dropout: float = 0.0,
        activation: str = "relu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        width = math.prod(input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for units in hidden:
            layers += [nn.Linear(width, units), ACTIVATIONS[activation]()]
            width = units
        self.hidden = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.hidden(x)))


def _build_small_inception(spec, num_classes, input_shape, dropout):
    return SmallInception(num_classes, input_shape, bool(spec.get("batch_norm", True)), dropout)


def _build_small_alexnet(spec, num_classes, input_shape, dropout):
    return SmallAlexNet(num_classes, input_shape, dropout, bool(spec.get("batch_norm", False)))


def _build_mlp(spec, num_classes, input_shape, dropout):
    return MLP(
        num_classes,
        input_shape,
        [int(h) for h in spec["hidden"]],
        dropout,
        spec.get("activation", "relu"),
    )


def _build_inception_v3(spec, num_classes, input_shape, dropout):
    from torchvision.models import Inception3

    if min(input_shape[1:]) < 75:
        raise ValueError(f"inception_v3 needs inputs of at least 75x75, got {input_shape}")
    # Dropout is a regularizer in Table 2: 0 unless the regularizer sets it.
    return Inception3(num_classes=num_classes, aux_logits=False, init_weights=True, dropout=dropout)


Builder = Callable[[dict, int, tuple[int, int, int], float], nn.Module]

MODELS: dict[str, Builder] = {
    "small_inception": _build_small_inception,
    "small_alexnet": _build_small_alexnet,
    "mlp": _build_mlp,
    "inception_v3": _build_inception_v3,
    # The user's models (training/user_models.py); dropout is theirs to place.
    "torchvision": lambda spec, num_classes, input_shape, dropout: build_torchvision(
        spec, num_classes, input_shape
    ),
    "python": lambda spec, num_classes, input_shape, dropout: build_python(
        spec, num_classes, input_shape
    ),
}

# Archs whose speed benefits from bf16 autocast + channels_last (convolutional nets).
CONV_ARCHS = frozenset({"small_inception", "small_alexnet", "inception_v3"})


def glorot_uniform_(model: nn.Module) -> nn.Module:
    """TensorFlow's defaults (the paper's framework): Glorot-uniform kernels, zero biases.

    BatchNorm and LRN layers keep their own initialisation (scale 1, shift 0).
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def he_normal_(model: nn.Module) -> nn.Module:
    """He et al. (2015): N(0, 2 / fan_in) kernels, zero biases; keeps the scale of ReLU
    activations through depth, which matters without BatchNorm."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


# spec["init"]: how weights start. "default" keeps PyTorch's (Kaiming-uniform) init.
INITS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "default": lambda model: model,
    "glorot_uniform": glorot_uniform_,
    "he_normal": he_normal_,
}


def build_model(
    spec: dict, num_classes: int, input_shape: tuple[int, int, int], dropout: float = 0.0
) -> nn.Module:
    """Build the architecture named by ``spec["arch"]`` for ``input_shape = (C, H, W)``.

    ``dropout`` (the dropout regularizer) is added before the classifier only when > 0,
    so it never changes the parameter count. ``spec["init"]`` picks the weight
    initialisation (``INITS``); it draws from the global torch RNG, seeded by the caller.
    """
    arch = spec["arch"]
    if arch not in MODELS:
        raise KeyError(f"unknown arch {arch!r}; known: {sorted(MODELS)}")
    init = spec.get("init", "default")
    if init not in INITS:
        raise KeyError(f"unknown init {init!r}; known: {sorted(INITS)}")
    model = MODELS[arch](spec, num_classes, tuple(input_shape), float(dropout or 0.0))
    return INITS[init](model)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_table(
    input_shape: tuple[int, int, int] = (3, 28, 28), num_classes: int = 10
) -> list[tuple[str, int, int]]:
    """(model, our count, paper count) for every Table 1 architecture."""
    return [
        (m.name, count_parameters(build_model(m.spec, num_classes, input_shape)), m.num_params)
        for m in PAPER_MODELS
        if m.num_params is not None
    ]


def main() -> None:
    print(f"{'model':<16}{'params (28x28x3)':>18}{'paper':>12}{'params (28x28x1)':>18}")
    gray = dict((name, n) for name, n, _ in parameter_table((1, 28, 28)))
    for name, ours, paper in parameter_table():
        print(f"{name:<16}{ours:>18,}{paper:>12,}{gray[name]:>18,}")
    v3 = count_parameters(build_model({"arch": "inception_v3"}, 1000, (3, 299, 299)))
    print(f"{'inception_v3':<16}{v3:>18,}{'-':>12}{'(299x299x3, 1000 classes)':>26}")


if __name__ == "__main__":
    main()
