"""The paper's randomization tests (Zhang et al. 2017, section 2.1) as pure functions.

Every function takes the data and an explicit ``numpy.random.Generator`` and returns new
arrays; nothing touches global random state. The workflow draws each corruption once per
(dataset, corruption, data seed), saves it, and every run reads the same file.

Choices the paper leaves open, made here and documented in config/README.md:
- pixel permutations move whole pixels (all channels of a position together), and act on
  the stored images, i.e. before cropping and per-image whitening;
- Gaussian images use per-channel mean and variance of the training images and are kept
  as float32 on the 0-255 scale (rounding to uint8 would clip the tails).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rethinkgen.data.splits import ImageListSplit, Split


def corrupt_labels(
    labels: np.ndarray, prob: float, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Each label independently, with probability `prob`, replaced by a uniformly drawn class.

    The draw is over all classes, so a replaced label may equal the original: the expected
    fraction that changes is prob * (1 - 1/K), as in the paper.
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"label corruption probability must be in [0, 1], got {prob}")
    replace = rng.random(len(labels)) < prob
    drawn = rng.integers(0, num_classes, size=len(labels))
    return np.where(replace, drawn, labels).astype(np.int64)


def pixel_permutation(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """One random permutation of the height*width pixel positions."""
    return rng.permutation(height * width)


def permute_pixels(images: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Apply one permutation of pixel positions to every image (channels move together)."""
    n, h, w, c = images.shape
    return images.reshape(n, h * w, c)[:, permutation, :].reshape(n, h, w, c)


def randomly_permute_each_image(
    images: np.ndarray, rng: np.random.Generator, chunk: int = 4096
) -> np.ndarray:
    """Apply a different random permutation of pixel positions to each image."""
    n, h, w, c = images.shape
    flat = images.reshape(n, h * w, c)
    out = np.empty_like(flat)
    for start in range(0, n, chunk):  # chunks bound the (chunk, h*w) index array's memory
        stop = min(start + chunk, n)
        order = rng.permuted(np.tile(np.arange(h * w), (stop - start, 1)), axis=1)
        out[start:stop] = np.take_along_axis(flat[start:stop], order[:, :, None], axis=1)
    return out.reshape(n, h, w, c)


def channel_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all images and positions (float64)."""
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64)
    return pixels.mean(axis=0), pixels.std(axis=0)


def gaussian_images(
    shape: tuple, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Images of i.i.d. Gaussian pixels with the given per-channel mean and std (float32)."""
    return rng.standard_normal(shape, dtype=np.float32) * std.astype(np.float32) + mean.astype(
        np.float32
    )


@dataclass
class CorruptionResult:
    train: Split
    test: Split
    stats: dict


def apply_none(spec, train, test, rng) -> CorruptionResult:
    return CorruptionResult(train, test, {})


def apply_random_labels(spec, train, test, rng) -> CorruptionResult:
    # Only training labels: the paper keeps test labels true (enforced by the config checks).
    # The true labels travel with the split: training scores clean and changed examples apart.
    labels = corrupt_labels(train.labels, spec["prob"], train.num_classes, rng)
    return CorruptionResult(
        dataclasses.replace(train, labels=labels, true_labels=train.labels), test, {}
    )


def apply_shuffled_pixels(spec, train, test, rng) -> CorruptionResult:
    _, h, w, _ = train.images.shape
    permutation = pixel_permutation(h, w, rng)
    splits = {"train": train, "test": test}
    for name in spec.get("splits", ["train"]):
        splits[name] = Split(
            permute_pixels(splits[name].images, permutation), splits[name].labels, train.classes
        )
    return CorruptionResult(
        splits["train"], splits["test"], {"permutation_head": permutation[:8].tolist()}
    )


def apply_random_pixels(spec, train, test, rng) -> CorruptionResult:
    splits = {"train": train, "test": test}
    for name in spec.get("splits", ["train"]):
        splits[name] = Split(
            randomly_permute_each_image(splits[name].images, rng),
            splits[name].labels,
            train.classes,
        )
    return CorruptionResult(splits["train"], splits["test"], {})


def apply_gaussian(spec, train, test, rng) -> CorruptionResult:
    mean, std = channel_moments(train.images)
    splits = {"train": train, "test": test}
    for name in spec.get("splits", ["train"]):
        images = gaussian_images(splits[name].images.shape, mean, std, rng)
        splits[name] = Split(images, splits[name].labels, train.classes)
    return CorruptionResult(
        splits["train"],
        splits["test"],
        {"dataset_channel_mean": mean.tolist(), "dataset_channel_std": std.tolist()},
    )


CORRUPTIONS: dict[str, Callable] = {
    "none": apply_none,
    "random_labels": apply_random_labels,
    "shuffled_pixels": apply_shuffled_pixels,
    "random_pixels": apply_random_pixels,
    "gaussian": apply_gaussian,
}


def split_digest(split: Split | ImageListSplit) -> str:
    """SHA-256 of a split's images and labels: equal digests mean bit-identical data."""
    digest = hashlib.sha256()
    content = split.paths if isinstance(split, ImageListSplit) else split.images
    for array in (content, split.labels):
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def stream_key(spec: dict) -> tuple[int, str]:
    """(key, draws): the random stream of a corruption, from a stable hash of its spec.

    Two specs share a stream only if they are equal, so random labels at p = 0.2 and
    0.4 are independent draws, and adding or reordering corruption kinds in the code
    changes no saved corruption. With ``nested: true`` the probability is left out of the
    hash: every p then reuses the same uniforms, so the labels replaced at a smaller p
    are a subset of those replaced at a larger one (a controlled sweep; config/README.md).
    """
    nested = bool(spec.get("nested", False))
    hashed = {k: v for k, v in spec.items() if not (nested and k == "prob")}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "little"), "nested" if nested else "independent"


def apply_corruption(spec: dict, train: Split, test: Split, seed: int) -> CorruptionResult:
    """Corrupt a dataset per `spec` with a generator seeded by `seed` and the spec's
    stable hash (:func:`stream_key`); record what was done."""
    kind = spec["kind"]
    key, draws = stream_key(spec)
    rng = np.random.default_rng([seed, key])
    result = CORRUPTIONS[kind](spec, train, test, rng)
    result.stats = {
        "spec": spec,
        "seed": seed,
        "stream_key": f"{key:016x}",
        "draws": draws,
        "num_classes": train.num_classes,
        "n_train": len(result.train),
        "n_test": len(result.test),
        "train_fraction_labels_changed": float(np.mean(result.train.labels != train.labels)),
        "test_fraction_labels_changed": float(np.mean(result.test.labels != test.labels)),
        **result.stats,
        "train_sha256": split_digest(result.train),
        "test_sha256": split_digest(result.test),
    }
    return result
