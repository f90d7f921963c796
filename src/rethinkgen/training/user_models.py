"""Models the user brings: any torchvision classification builder, or their own factory.

``arch: torchvision`` with ``name: resnet18`` (any name of
``torchvision.models.list_models(module=torchvision.models)``) is built untrained
(``weights=None``) and adapted to the data, as docs/own-model.md describes:

- the classifier gets ``num_classes`` outputs (the builder's own ``num_classes`` argument);
- the first convolution is rebuilt for the input's channel count when it differs;
- builders that take an ``image_size`` (the vision transformers) get the input's size;
- ``small_input_stem`` (default: when the shorter side is below 64 pixels): the first
  convolution, when it strides with overlapping windows (ResNet's 7x7/2, not a ViT
  patch embedding), strides 1, and a top-level ``maxpool`` (ResNet's) is removed. This
  is the usual CIFAR adaptation; without it a 28x28 image is 1x1 after ResNet's layer4.

``arch: python`` with ``factory: "package.module:function"`` calls
``function(num_classes=..., input_shape=(C, H, W))`` and must get an ``nn.Module`` whose
output is ``(N, num_classes)`` logits. The module is imported as installed, from
PYTHONPATH, or else relative to the working directory (where snakemake runs).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import torch
from torch import nn

SMALL_INPUT_SIDE = 64  # below this, `small_input_stem` defaults to on


class UserModelError(ValueError):
    """A user's model cannot be built or used; the message says what to change."""


def torchvision_builders() -> list[str]:
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision_builder(name: str):
    import torchvision.models

    if name not in torchvision_builders():
        raise UserModelError(
            f"torchvision has no classification model {name!r}. Known: "
            f"{', '.join(torchvision_builders())}"
        )
    return torchvision.models.get_model_builder(name)


def _parent_and_attr(model: nn.Module, qualified: str) -> tuple[nn.Module, str]:
    *path, attr = qualified.split(".")
    parent = model
    for part in path:
        parent = getattr(parent, part)
    return parent, attr


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    return next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def _rebuilt_conv(conv: nn.Conv2d, in_channels: int, stride) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        conv.padding_mode,
    )


def adapt_stem(model: nn.Module, input_shape: tuple[int, int, int], small_input: bool) -> nn.Module:
    """Rebuild the first convolution for the input's channels (and, for small inputs,
    stride 1 with the ResNet max-pool removed); see the module docstring."""
    found = _first_conv(model)
    if found is None:
        return model
    name, conv = found
    overlapping = conv.stride[0] > 1 and conv.kernel_size[0] > conv.stride[0]
    stride = 1 if small_input and overlapping else conv.stride
    if conv.in_channels != input_shape[0] or stride != conv.stride:
        parent, attr = _parent_and_attr(model, name)
        setattr(parent, attr, _rebuilt_conv(conv, input_shape[0], stride))
    if small_input and isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        model.maxpool = nn.Identity()
    return model


def build_torchvision(spec: dict, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    builder = _torchvision_builder(spec["name"])
    kwargs = {"weights": None, "num_classes": num_classes, **spec.get("kwargs", {})}
    if "image_size" in inspect.signature(builder).parameters or spec["name"].startswith("vit_"):
        kwargs.setdefault("image_size", input_shape[1])
    try:
        model = builder(**kwargs)
    except (TypeError, ValueError, AssertionError) as err:
        raise UserModelError(
            f"torchvision.models.{spec['name']}(**{kwargs}) failed for inputs {input_shape}: "
            f"{type(err).__name__}: {err}"
        ) from err
    small = spec.get("small_input_stem", min(input_shape[1:]) < SMALL_INPUT_SIDE)
    return adapt_stem(model, input_shape, bool(small))


def _import_module(module_name: str):
    """Import as installed or on PYTHONPATH, else from the working directory (appended
    to sys.path, so an installed package of the same name wins)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not module_name.startswith(err.name) or os.getcwd() in sys.path:
            raise
    sys.path.append(os.getcwd())
    return importlib.import_module(module_name)


def load_factory(path: str):
    """The function named by ``"package.module:function"``; a clear error otherwise."""
    module_name, sep, function = path.partition(":")
    if not sep or not module_name or not function:
        raise UserModelError(
            f"factory {path!r} must read 'package.module:function', e.g. 'examples.my_model:build'"
        )
    try:
        module = _import_module(module_name)
    except Exception as err:  # the user's module may raise anything while importing
        raise UserModelError(
            f"factory {path!r}: cannot import module {module_name!r} ({type(err).__name__}: "
            f"{err}). Install it, put its folder on PYTHONPATH, or give its path relative to "
            f"the folder you run snakemake from ({os.getcwd()})"
        ) from err
    factory = getattr(module, function, None)
    if not callable(factory):
        raise UserModelError(
            f"factory {path!r}: module {module_name!r} ({module.__file__}) "
            f"has no function {function!r}"
        )
    return factory


def build_python(spec: dict, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    factory = load_factory(spec["factory"])
    model = factory(num_classes=num_classes, input_shape=tuple(input_shape))
    if not isinstance(model, nn.Module):
        raise UserModelError(
            f"factory {spec['factory']!r} returned {type(model).__name__}, not a torch.nn.Module. "
            "It must return the model, e.g. `return nn.Sequential(...)`"
        )
    return model


def check_outputs(
    model: nn.Module, num_classes: int, input_shape: tuple[int, int, int], where: str
) -> None:
    """Forward two zero images (train mode, as the first step will) and check the logits."""
    model.train()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape))
    except Exception as err:  # a forward pass may fail in any layer
        raise UserModelError(
            f"{where}: forward pass on inputs of shape (2, {', '.join(map(str, input_shape))}) "
            f"failed: {type(err).__name__}: {err}"
        ) from err
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, num_classes):
        raise UserModelError(
            f"{where}: outputs {shape} for 2 images of shape {tuple(input_shape)}; it must give "
            f"(2, {num_classes}): one logit per class of the dataset ({num_classes} classes)"
        )


def sha256_of_file(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _imported_names(module_name: str, is_package: bool, source: str) -> list[str]:
    """Absolute names of the modules a module's source may import (every `import` and
    `from ... import` anywhere in it, relative ones resolved; names that turn out not to
    be modules are dropped by the caller)."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names += [".".join(parts[: i + 1]) for i in range(len(parts))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(part for part in [*anchor, base] if part)
            if base:
                parts = base.split(".")
                names += [".".join(parts[: i + 1]) for i in range(len(parts))]
            names += [f"{base}.{a.name}" if base else a.name for a in node.names]
    return names


def _module_file(name: str) -> str | None:
    """The .py file of module ``name``, imported or importable, or None."""
    module = sys.modules.get(name)
    if module is not None:
        found = getattr(module, "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError, AttributeError):
            return None
        found = spec.origin if spec is not None and spec.has_location else None
    return found if found and found.endswith(".py") else None


def package_modules(module_name: str) -> dict[str, str]:
    """{module: file} of the factory's module and every module of the same package it
    imports, transitively (for a top-level module: the modules beside it that it imports).
    Modules outside it (torch, numpy, this workflow) are versioned otherwise."""
    top = module_name.partition(".")[0]
    own_file = _module_file(module_name)
    folder = os.path.dirname(own_file) if own_file else None

    def belongs(name: str, path: str) -> bool:
        if "." in module_name:
            return name == top or name.startswith(top + ".")
        beside = os.path.join(folder, *name.split("."))  # imported from the factory's folder
        return path in (beside + ".py", os.path.join(beside, "__init__.py"))

    found: dict[str, str] = {}
    pending = [module_name]
    parts = module_name.split(".")
    pending += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages' __init__
    while pending:
        name = pending.pop()
        path = _module_file(name)
        if name in found or path is None or not belongs(name, path):
            continue
        found[name] = path
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        try:
            pending += _imported_names(name, path.endswith("__init__.py"), text)
        except SyntaxError:  # being edited: its digest changes all the same
            continue
    return dict(sorted(found.items()))


def model_source(model_spec: dict) -> dict:
    """Where a model's code comes from: builder name or import path, its source file and
    that file's SHA-256 (for user models; the workflow's own archs are versioned by its
    git commit). Editing a factory's file changes the digest, hence the run identity; so
    does editing any module of its package that it imports (``modules``: their digests,
    present when there is any)."""
    arch = model_spec["arch"]
    if arch == "python":
        factory = inspect.unwrap(load_factory(model_spec["factory"]))
        source = inspect.getsourcefile(factory)
        module_name = model_spec["factory"].partition(":")[0]
        helpers = {
            name: sha256_of_file(path)
            for name, path in package_modules(module_name).items()
            if os.path.realpath(path) != os.path.realpath(source)
        }
        return {
            "arch": arch,
            "factory": model_spec["factory"],
            "file": source,
            "sha256": sha256_of_file(source),
            **({"modules": helpers} if helpers else {}),
        }
    if arch == "torchvision":
        import torchvision

        builder = _torchvision_builder(model_spec["name"])
        source = inspect.getsourcefile(inspect.unwrap(builder))  # not the decorator's file
        return {
            "arch": arch,
            "builder": f"torchvision.models.{model_spec['name']}",
            "torchvision": torchvision.__version__,
            "file": source,
            "sha256": sha256_of_file(source),
        }
    return {"arch": arch, "builder": f"rethinkgen.training.models:{arch}"}
