"""Fixed feature maps for the kernel solves of Section 5 and Table 3 (pixels, a Gabor
wavelet transform, a random convolutional network).

Each returns a FeatureStream: the feature dimension and an iterator of (train, test)
float32 column blocks on the device, so that wide maps (the random conv net's
4 x 32,000 features) never exist in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


@dataclass
class FeatureStream:
    feature_dim: int
    chunks: Iterator[tuple[torch.Tensor, torch.Tensor]]


def _to_float_nchw(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()


def pixel_features(train_images, test_images, device, seed) -> FeatureStream:
    """Raw pixels scaled to [0, 1]."""
    train, test = (
        _to_float_nchw(x, device).flatten(1) / 255.0 for x in (train_images, test_images)
    )
    return FeatureStream(train.shape[1], iter([(train, test)]))


def gabor_filter_bank(wavelengths: list[float], orientations: int) -> list[torch.Tensor]:
    """Complex Gabor wavelets (real and imaginary part as two filters), one tensor of shape
    (2 * orientations, 1, s, s) per wavelength; Gaussian envelope sigma = 0.56 wavelength
    (one-octave bandwidth), zero-mean real part, unit L2 norm."""
    banks = []
    for wavelength in wavelengths:
        sigma = 0.56 * wavelength
        half = int(math.ceil(2.5 * sigma))
        grid = torch.arange(-half, half + 1, dtype=torch.float64)
        yy, xx = torch.meshgrid(grid, grid, indexing="ij")
        filters = []
        for k in range(orientations):
            theta = math.pi * k / orientations
            along = xx * math.cos(theta) + yy * math.sin(theta)
            envelope = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
            for part in (torch.cos, torch.sin):
                f = envelope * part(2 * math.pi * along / wavelength)
                f = f - envelope * f.sum() / envelope.sum()  # no response to flat regions
                filters.append(f / f.norm())
        banks.append(torch.stack(filters)[:, None].float())
    return banks


def gabor_features(
    train_images, test_images, device, seed, wavelengths, orientations, pool, batch_size=2048
) -> FeatureStream:
    """Gabor wavelet transform: modulus of each complex response, average-pooled over
    pool x pool windows; grey images (colour channels are averaged)."""
    banks = [b.to(device) for b in gabor_filter_bank(wavelengths, orientations)]

    def transform(images):
        out = []
        for start in range(0, len(images), batch_size):
            grey = (
                _to_float_nchw(images[start : start + batch_size], device).mean(1, keepdim=True)
                / 255.0
            )
            maps = []
            for bank in banks:
                response = torch.nn.functional.conv2d(grey, bank, padding=bank.shape[-1] // 2)
                modulus = response.unflatten(1, (-1, 2)).square().sum(2).sqrt()
                maps.append(
                    torch.nn.functional.avg_pool2d(modulus, pool, ceil_mode=True).flatten(1)
                )
            out.append(torch.cat(maps, 1))
        return torch.cat(out)

    train, test = transform(train_images), transform(test_images)
    return FeatureStream(train.shape[1], iter([(train, test)]))


def random_conv_features(
    train_images,
    test_images,
    device,
    seed,
    num_filters,
    patch_size=6,
    threshold=0.25,
    filter_chunk=2048,
    batch_size=256,
    whitening_patches=100_000,
) -> FeatureStream:
    """Coates & Ng (2012) single-layer network with random instead of k-means filters:
    every patch_size x patch_size patch (stride 1) is brightness/contrast normalised and
    ZCA-whitened, then each unit-norm Gaussian random filter gives relu(<f, patch> -
    threshold), averaged over the four image quadrants: 4 * num_filters features."""
    gen = torch.Generator().manual_seed(seed)
    train = torch.from_numpy(np.ascontiguousarray(train_images))
    channels = train.shape[-1]
    patch_dim = channels * patch_size**2

    def normalized_patches(batch):  # (B, L, P), each patch: zero mean, unit-ish variance
        p = torch.nn.functional.unfold(_to_float_nchw(batch, device), patch_size).transpose(1, 2)
        p = p - p.mean(-1, keepdim=True)
        return (
            p / (p.square().mean(-1, keepdim=True) + 10.0).sqrt()
        )  # +10 on the 0-255 scale (Coates & Ng)

    # ZCA whitening fitted on the patches of random training images.
    picks = torch.randint(
        len(train), (min(len(train), whitening_patches // 16 + 1),), generator=gen
    )
    sample = normalized_patches(train[picks].numpy()).reshape(-1, patch_dim).double()
    mean = sample.mean(0)
    eigval, eigvec = torch.linalg.eigh(torch.cov(sample.T))
    zca = (eigvec * (eigval + 0.1).rsqrt()) @ eigvec.T
    filters = torch.randn(num_filters, patch_dim, generator=gen, dtype=torch.float64)
    filters = filters / filters.norm(dim=1, keepdim=True)
    # Fold the (linear) whitening into the filters: <f, W(p - mean)> = <W f, p> - <W f, mean>.
    folded = filters @ zca
    offsets = (folded @ mean).float().to(device)
    # <f, p - m 1> = <f - mean(f) 1, p>: centred filters absorb each patch's mean.
    folded = folded - folded.mean(1, keepdim=True)
    folded = folded.float().reshape(num_filters, channels, patch_size, patch_size).to(device)

    def pooled(images, f, offset):
        """The same normalisation written as a convolution (much faster than unfolding):
        response = conv(x, centred f) / patch scale, in place to spare memory traffic."""
        out = []
        for start in range(0, len(images), batch_size):
            x = _to_float_nchw(images[start : start + batch_size], device)
            m = torch.nn.functional.avg_pool2d(x.mean(1, keepdim=True), patch_size, stride=1)
            sq = torch.nn.functional.avg_pool2d(
                x.square().mean(1, keepdim=True), patch_size, stride=1
            )
            inv_scale = (sq - m.square()).clamp_min_(0).add_(10.0).rsqrt_()
            act = (
                torch.nn.functional.conv2d(x, f)
                .mul_(inv_scale)
                .sub_((offset + threshold)[:, None, None])
                .relu_()
            )
            # 2 x 2 quadrant pooling (average; with an odd side the middle row/column is shared)
            out.append(torch.nn.functional.adaptive_avg_pool2d(act, 2).flatten(1))
        return torch.cat(out)

    def chunks():
        for start in range(0, num_filters, filter_chunk):
            block = slice(start, start + filter_chunk)
            args = folded[block], offsets[block]
            yield pooled(train_images, *args), pooled(test_images, *args)

    return FeatureStream(4 * num_filters, chunks())


FEATURES = {"pixels": pixel_features, "gabor": gabor_features, "random_conv": random_conv_features}
