"""Training precision: `amp: auto` picks bf16 autocast only where the device runs it faster.

- CUDA: bf16 where the GPU has native bf16 (Ampere and later), else fp32.
- CPU with AMX (Intel Sapphire Rapids and later): bf16.
- CPU with AVX-512 BF16 but no AMX: it depends on the core, so a probe of about a second
  decides (a 3x3 convolution and a linear layer, forward and backward, in both precisions).
  On a Zen 4-class host bf16 was slower (issue 23: GEMM 73 against 131 GFLOP/s, Inception
  54 against 66 img/s); on this project's current 2-CPU host (AMD EPYC, avx512_bf16 and
  avx512_vp2intersect, no AMX) it is faster: benchmarks/train_throughput.py --clock cpu
  measured Inception 214 against 123 img/s, AlexNet 1,555 against 849, MLP 1x512 50,150
  against 33,219 (docs/results/roofline.md).
- Any other CPU or device: fp32.

Identity: the *requested* `amp` value belongs to a run's identity (its config); the
resolved precision is a recorded fact (`precision` in run_info.json), like the GPU name.
A run resumed on another machine resolves `auto` again on that machine.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

AMP_CHOICES = ("auto", "bf16", "off")


@functools.cache
def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles for bf16 (the feature that makes CPU bf16 fast)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private; present since torch 2.3
    if probe is not None:
        try:
            return bool(probe())
        except RuntimeError:
            pass
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "amx_bf16" in cpuinfo.read_text().split()


@functools.cache
def cpu_has_avx512_bf16() -> bool:
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is not None:
        return bool(probe())
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "avx512_bf16" in cpuinfo.read_text().split()


def _probe_seconds(step, repeats: int = 5) -> float:
    """Best CPU time of `step` (process time: robust to other jobs on a shared CPU)."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return min(times)


@functools.cache
def cpu_bf16_probe() -> bool:
    """About a second: does bf16 autocast train a conv and a linear layer faster than fp32?"""
    with torch.random.fork_rng(devices=[]):  # the training's global RNG stream is untouched
        torch.manual_seed(0)
        conv, linear = nn.Conv2d(64, 64, 3, padding=1), nn.Linear(784, 512)
        conv = conv.to(memory_format=torch.channels_last)
        images = torch.randn(32, 64, 14, 14).to(memory_format=torch.channels_last)
        vectors = torch.randn(128, 784)

    def step(dtype):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
                loss = (
                    conv(images).float().square().mean() + linear(vectors).float().square().mean()
                )
            loss.backward()

        return run

    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # per core: OpenMP threads spinning on a loaded CPU would count as time
    try:
        fp32, bf16 = _probe_seconds(step(None)), _probe_seconds(step(torch.bfloat16))
    finally:
        torch.set_num_threads(threads)
    logger.info(
        "amp auto probe: a conv+linear training step takes %.1f ms in fp32, %.1f ms in bf16",
        1e3 * fp32,
        1e3 * bf16,
    )
    return bf16 < 0.9 * fp32


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast trains faster than fp32 on `device` (module docstring)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_has_amx() or (cpu_has_avx512_bf16() and cpu_bf16_probe())
    return False


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None = fp32) that `amp` asks for on `device`."""
    if amp in ("off", "none", None, False):
        return None
    if amp == "auto":
        return torch.bfloat16 if bf16_is_fast(device) else None
    if amp == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            logger.warning("bf16 not supported on this GPU; training in fp32")
            return None
        return torch.bfloat16
    raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")


def precision_name(dtype: torch.dtype | None) -> str:
    """The run_info.json `precision` of an autocast dtype."""
    return "bf16" if dtype == torch.bfloat16 else "fp32"
