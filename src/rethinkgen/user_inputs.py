"""Checks of the user's own models and datasets, run while the workflow reads its config,
so that a bad factory or image folder stops `snakemake` before any job (docs/own-model.md).

For every grid that pairs a user model (``arch: torchvision`` or ``python``) with a
dataset, the model is built for that dataset's input shape and class count and given a
forward pass of two blank images. Every ``image_folder`` and ``npz`` dataset a grid uses
is read far enough to know its classes and shape, and every image of a folder is decoded
once (again only when a file is added, removed or changed: data.images). Configs without
user models or datasets import nothing heavy here.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from rethinkgen.config import USER_ARCHS
from rethinkgen.layout import results_dir

USER_DATASETS = ("image_folder", "npz")
# Folders whose every image decoded, by a digest of their listing (data.images).
DECODED_CACHE = Path(".snakemake/rethinkgen/decoded_folders")
# (C, H, W) and class count of the datasets whose shape is fixed (local_copies adds its own).
FIXED_INPUTS = {
    "fashion_mnist": ((1, 28, 28), 10),
    "mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}
ARCH_KEYS = {
    "torchvision": ("name", "e.g. name: resnet18"),
    "python": ("factory", 'e.g. factory: "examples.my_model:build"'),
}


def _default(setting: str):
    """A training setting's default when the config leaves it out (the engine's TrainConfig)."""
    from rethinkgen.training.protocol import TrainConfig

    return TrainConfig.__dataclass_fields__[setting].default


def _crop(shape: tuple[int, int, int], training: dict) -> tuple[int, int, int]:
    crop = training["crop_size"] if "crop_size" in training else _default("crop_size")
    if crop is not None and crop > min(shape[1:]):
        from rethinkgen.training.user_models import UserModelError

        raise UserModelError(
            f"training.crop_size {crop} exceeds the {shape[1]}x{shape[2]} images; "
            "set crop_size: null (whole images) or a smaller crop"
        )
    return shape if crop is None else (shape[0], crop, crop)


def dataset_input(spec: dict, training: dict) -> tuple[tuple[int, int, int], int]:
    """((C, H, W) the model sees, number of classes) of a configured dataset."""
    from rethinkgen.data.local_copies import LOCAL_COPY_SHAPES
    from rethinkgen.data.npz import npz_input
    from rethinkgen.data.own import DEFAULT_IMAGE_SIZE, folder_classes

    name = spec["name"]
    if name == "image_folder":
        size = spec.get("image_size", DEFAULT_IMAGE_SIZE)
        shape, classes = (spec.get("channels", 3), size, size), len(folder_classes(spec["root"]))
    elif name == "npz":
        shape, classes = npz_input(spec["root"])
    elif name == "imagenet":
        from torchvision.datasets.folder import find_classes

        size = training.get("image_size", _default("image_size"))
        shape, classes = (3, size, size), len(find_classes(str(Path(spec["root"]) / "train"))[0])
    else:
        shape, classes = {**FIXED_INPUTS, **LOCAL_COPY_SHAPES}[name]
    return _crop(shape, training), classes


def _training(config: dict, model_key: str, regularizer_key: str) -> dict:
    """The settings the model's runs train with (override included; config.run_settings)."""
    return (
        config["training"]
        | config["models"][model_key].get("training", {})
        | config["regularizers"][regularizer_key].get("training", {})
        | config.get("override", {})
    )


def _check_dataset(spec: dict, key: str) -> list[str]:
    from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError
    from rethinkgen.data.images import check_images_decode_once
    from rethinkgen.data.own import folder_classes, folder_samples

    try:
        dataset_input(spec, {"crop_size": None})
        if spec["name"] == "image_folder":
            classes = folder_classes(spec["root"])
            paths = [
                p
                for split in ("train", "test")
                for p, _ in folder_samples(spec["root"], split, classes)
            ]
            check_images_decode_once(Path(spec["root"]), paths, DECODED_CACHE)
    except (DatasetCorruptError, DatasetUnavailableError) as err:
        return [f"datasets.{key}: {err}"]
    return []


def _check_model(config: dict, model_key: str, dataset_key: str, training: dict) -> list[str]:
    from rethinkgen.training.user_models import UserModelError

    where = f"models.{model_key} on datasets.{dataset_key}"
    spec = config["models"][model_key]
    try:
        shape, classes = dataset_input(config["datasets"][dataset_key], training)
        model = _seeded_build(spec, classes, shape, where)
        if spec["arch"] == "python" and not _same_weights(
            model, _seeded_build(spec, classes, shape, where)
        ):
            return [
                f"{where}: the factory gives different weights for the same seed (built "
                "twice after torch.manual_seed(0)), so no run could be reproduced. Draw "
                "initial weights from torch's global generator (nn.init, torch.randn), not "
                "from the clock, `random` or numpy"
            ]
    except UserModelError as err:
        return [f"{where}: {err}" if not str(err).startswith(where) else str(err)]
    except Exception as err:  # noqa: BLE001 (the user's factory may raise anything)
        return [f"{where}: building the model failed: {type(err).__name__}: {err}"]
    return []


def _seeded_build(spec: dict, classes: int, shape, where: str):
    """The model built after torch.manual_seed(0) and given a forward pass (which also
    materializes lazy layers), leaving the global generator as it was."""
    import torch

    from rethinkgen.training.models import build_model
    from rethinkgen.training.user_models import check_outputs

    state = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        model = build_model(spec, classes, shape)
        check_outputs(model, classes, shape, where)
        return model
    finally:
        torch.set_rng_state(state)


def _same_weights(first, second) -> bool:
    import torch

    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _grid_pairs(config: dict):
    """(dataset, model, regularizer) keys of every grid, each once, in config order."""
    seen = {}
    for experiment in config["experiments"].values():
        for grid in experiment["grids"]:
            for combo in itertools.product(grid["datasets"], grid["models"], grid["regularizers"]):
                if all(
                    k in config[s] for k, s in zip(combo, ("datasets", "models", "regularizers"))
                ):
                    seen.setdefault(combo, None)
    return list(seen)


def user_input_problems(config: dict) -> list[str]:
    """Every problem with the user models and datasets the experiments use."""
    problems = []
    for key, model in config["models"].items():
        needed, example = ARCH_KEYS.get(model["arch"], (None, ""))
        if needed and needed not in model:
            problems.append(f"models.{key}: arch {model['arch']} needs '{needed}' ({example})")
    problems += own_model_problems(config)
    if problems:
        return problems
    pairs = _grid_pairs(config)
    unusable = set()
    for key in dict.fromkeys(d for d, _, _ in pairs):
        if config["datasets"][key]["name"] in USER_DATASETS:
            found = _check_dataset(config["datasets"][key], key)
            problems += found
            unusable |= {key} if found else set()
    checked = set()
    for dataset_key, model_key, regularizer_key in pairs:
        user_model = config["models"][model_key]["arch"] in USER_ARCHS
        user_data = config["datasets"][dataset_key]["name"] in USER_DATASETS
        # The paper's models on your images too: a crop larger than the images, or images
        # too small for the model's pooling, stop here and not in the job.
        if not (user_model or user_data) or dataset_key in unusable:
            continue
        if user_model and config["regularizers"][regularizer_key].get("dropout", 0) > 0:
            problems.append(
                f"regularizers.{regularizer_key}: dropout cannot be added to a user model "
                f"(models.{model_key}); put dropout inside the model instead"
            )
        training = _training(config, model_key, regularizer_key)
        todo = (model_key, dataset_key, training.get("crop_size"), training.get("image_size"))
        if todo not in checked:
            checked.add(todo)
            problems += _check_model(config, model_key, dataset_key, training)
    return sorted(dict.fromkeys(problems), key=problems.index)


# ---- the ready experiment's page (config `own_model:`; rule make_own_model_page)
PAGE_EXPERIMENTS = ("randomizations", "sweep", "dynamics")


def own_model_page(config: dict) -> dict | None:
    """The page's settings with the figures it shows, each by key and page-relative path."""
    spec = config.get("own_model")
    if spec is None:
        return None
    shown = {
        part: [
            key
            for key, figure in config.get("figures", {}).items()
            if figure["experiment"] == spec[part]
        ]
        for part in PAGE_EXPERIMENTS[:2]
    }
    for part, kind in (("dynamics", "memorization_dynamics"), ("examples", "example_learning")):
        shown[part] = [
            key
            for key, output in config.get("beyond", {}).items()
            if output["experiment"] == spec["dynamics"] and output["kind"] == kind
        ]
    return {**spec, **{f"{part}_figures": keys for part, keys in shown.items()}}


def own_model_page_file(config: dict) -> str:
    """<results>/own_model.md, beside the figures/ folder the page links to."""
    return f"{results_dir(config)}/own_model.md"


def own_model_targets(config: dict) -> list[str]:
    return [own_model_page_file(config)] if "own_model" in config else []


def own_model_problems(config: dict) -> list[str]:
    spec = config.get("own_model")
    if spec is None:
        return []
    problems = [
        f"own_model.{part}: '{spec[part]}' is not defined under 'experiments:'"
        for part in PAGE_EXPERIMENTS
        if spec[part] not in config["experiments"]
    ]
    for part, section in (("model", "models"), ("dataset", "datasets")):
        if spec[part] not in config[section]:
            problems.append(f"own_model.{part}: '{spec[part]}' is not defined under '{section}:'")
    return problems
