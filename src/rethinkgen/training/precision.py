"""Training precision: `amp: auto` picks bf16 autocast only where the device runs it faster.

bf16 autocast pays off where the hardware has bf16 matrix units: CUDA GPUs with bf16
(Ampere and later) and CPUs with AMX (Intel Sapphire Rapids and later). On a CPU with only
AVX-512 BF16 (e.g. AMD Zen 4) oneDNN's bf16 GEMM is slower than its fp32 GEMM (measured
73 against 131 GFLOP/s at 1024^2 on one core; issue 23), and the casts cost more, so
`auto` trains in fp32 there, and on every other device.

Identity: the *requested* `amp` value belongs to a run's identity (its config); the
resolved precision is a recorded fact (`precision` in run_info.json), like the GPU name.
A run resumed on another machine resolves `auto` again on that machine.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

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


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast trains faster than fp32 on `device`."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_has_amx()
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
