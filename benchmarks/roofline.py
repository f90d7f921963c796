"""Training speed as a fraction of this machine's measured peak (a roofline in one run).

For every paper model, on the same device and thread count:
- the measured peak: a square GEMM in fp32 and in bf16 (the faster of torch.mm and the same
  GEMM as a 1x1 convolution), and the model's heaviest layer
  (the conv, or for MLPs the linear layer, with the most FLOPs) timed alone, forward and
  backward, at the batch size and in the precision our engine trains in;
- the model's training FLOPs per image (forward + backward, `torch.utils.flop_counter`:
  matmuls and convolutions only, so element-wise work counts as zero);
- the achieved FLOP/s of our engine and of the plain DataLoader loop (train_throughput.py),
  and each as a fraction of the GEMM peak of the engine's precision and of the layer peak.

On a CPU every rate is per CPU-second of this process (time.process_time), so that other
jobs on a shared machine do not lower it; run with --threads 1 for a per-core roofline.

    python benchmarks/roofline.py --threads 1                 # CPU, all paper models
    python benchmarks/roofline.py --profile inception         # + where the time goes
    python benchmarks/roofline.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from train_throughput import engine_images_per_s, reference_images_per_s

from rethinkgen.paper import PAPER_MODEL_SPECS
from rethinkgen.training.models import build_model
from rethinkgen.training.precision import autocast_dtype, precision_name


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock_for(device: torch.device):
    """CPU: the process's CPU time, so that a rate is per core-second of this process and other
    jobs sharing the cores do not lower it (with --threads 1, one core); GPU: wall time."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def best_seconds(fn, device: torch.device, repeats: int = 5) -> float:
    fn()  # warm-up (oneDNN/cuDNN pick their kernels here)
    clock, times = clock_for(device), []
    for _ in range(repeats):
        _sync(device)
        start = clock()
        fn()
        _sync(device)
        times.append(clock() - start)
    return min(times)


def gemm_peak(device: torch.device, dtype: torch.dtype, size: int) -> dict:
    """FLOP/s of a square GEMM two ways: torch.mm (MKL for CPU fp32, oneDNN for CPU bf16,
    cuBLAS) and a 1x1 convolution (the same GEMM through oneDNN/cuDNN, as conv nets run);
    on AMD CPUs MKL's fp32 GEMM is far below oneDNN's, so the peak is the faster of the two."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    mm = 2 * size**3 / best_seconds(lambda: torch.mm(a, b), device)
    side = 16
    conv = nn.Conv2d(size, size, 1, bias=False).to(device, dtype, memory_format=torch.channels_last)
    x = torch.randn(size // side**2 or 1, size, side, side, device=device, dtype=dtype).to(
        memory_format=torch.channels_last
    )
    with torch.no_grad():
        conv_rate = 2 * x.shape[0] * side**2 * size**2 / best_seconds(lambda: conv(x), device)
    return {"mm": mm, "conv1x1": conv_rate, "peak": max(mm, conv_rate)}


def training_flops(module: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> int:
    """FLOPs of one forward and backward pass (counted, not timed)."""
    with FlopCounterMode(display=False) as counter:
        out = module(x)
        (
            F.cross_entropy(out, target) if target is not None else out.float().square().mean()
        ).backward()
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def heaviest_layer(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Size, int]:
    """The conv or linear layer with the most training FLOPs at this input, its input shape
    and those FLOPs."""
    shapes = {}

    def record(module, inputs, output) -> None:  # a hook returning a value would replace the output
        shapes.setdefault(module, inputs[0].shape)

    hooks = [
        m.register_forward_hook(record)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    flops = {
        m: training_flops(m, torch.randn(s, device=x.device, requires_grad=True))
        for m, s in shapes.items()
    }
    layer = max(flops, key=flops.get)
    return layer, shapes[layer], flops[layer]


def layer_peak(
    layer: nn.Module, shape: torch.Size, flops: int, device: torch.device, dtype
) -> float:
    """FLOP/s of the layer alone, forward and backward, in the engine's precision and layout."""
    x = torch.randn(shape, device=device, requires_grad=True)
    if x.dim() == 4:
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_()
        layer = layer.to(memory_format=torch.channels_last)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = layer(x)
        out.float().square().mean().backward()

    return flops / best_seconds(step, device)


def profile_engine(spec, images, labels, device, steps: int, batch_size: int) -> str:
    """The engine's top operators by self time over a few steps (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        engine_images_per_s(spec, images, labels, 28, device, steps, batch_size, "auto")
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=list(PAPER_MODEL_SPECS))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--n", type=int, default=2048, help="synthetic 28x28x1 training images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per model")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timed windows")
    parser.add_argument("--gemm", type=int, default=2048, help="square GEMM size of the peak")
    parser.add_argument(
        "--profile", nargs="*", default=[], help="models to profile (torch.profiler)"
    )
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, 28, 28, 1), np.uint8)
    labels = rng.integers(0, 10, args.n).astype(np.int64)
    dtype = autocast_dtype("auto", device)
    gemms = {
        "fp32": gemm_peak(device, torch.float32, args.gemm),
        "bf16": gemm_peak(device, torch.bfloat16, args.gemm),
    }
    peaks = {name: rates["peak"] for name, rates in gemms.items()}
    precision = precision_name(dtype)
    print(
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", torch {torch.__version__}, threads {torch.get_num_threads()}, load "
        f"{os.getloadavg()[0]:.2f}, clock {'CPU time' if device.type == 'cpu' else 'wall'}, batch "
        f"{args.batch_size}, engine precision (amp auto) {precision}"
    )
    for name, rates in gemms.items():
        print(
            f"GEMM {args.gemm}^2 {name}: torch.mm {rates['mm'] / 1e9:,.0f} GFLOP/s, as a 1x1 conv "
            f"{rates['conv1x1'] / 1e9:,.0f} GFLOP/s; peak {rates['peak'] / 1e9:,.0f}"
        )
    header = (
        f"{'model':<16}{'GFLOP/img':>10}{'plain img/s':>12}{'ours img/s':>11}{'ours GFLOP/s':>13}"
        f"{'layer GFLOP/s':>14}{'ours/GEMM':>10}{'ours/layer':>11}{'plain/GEMM':>11}  heaviest "
        "layer"
    )
    print(header)
    rows = []
    for name in args.models:
        spec = dict(PAPER_MODEL_SPECS[name], lr=0.01)
        model = build_model(spec, 10, (1, 28, 28)).to(device)
        x = torch.randn(args.batch_size, 1, 28, 28, device=device)
        y = torch.randint(0, 10, (args.batch_size,), device=device)
        per_image = training_flops(model, x, y) / args.batch_size
        layer, shape, flops = heaviest_layer(model, x)
        layer_rate = layer_peak(layer, shape, flops, device, dtype)
        steps = args.steps or (6 if spec["arch"] != "mlp" and device.type == "cpu" else 100)
        clock = clock_for(device)
        plain = max(
            reference_images_per_s(
                spec, images, labels, 28, device, steps, args.batch_size, 0, clock
            )
            for _ in range(args.repeats)
        )
        ours = max(
            engine_images_per_s(
                spec, images, labels, 28, device, steps, args.batch_size, "auto", clock
            )
            for _ in range(args.repeats)
        )
        row = {
            "model": name,
            "gflop_per_image": per_image / 1e9,
            "precision": precision,
            "plain_img_s": plain,
            "ours_img_s": ours,
            "ours_gflop_s": ours * per_image / 1e9,
            "layer_gflop_s": layer_rate / 1e9,
            "gemm_peak_gflop_s": peaks[precision] / 1e9,
            "ours_of_gemm_peak": ours * per_image / peaks[precision],
            "ours_of_layer_peak": ours * per_image / layer_rate,
            "plain_of_gemm_peak": plain * per_image / peaks["fp32"],
            "heaviest_layer": f"{type(layer).__name__} {tuple(shape)}",
        }
        rows.append(row)
        print(
            f"{name:<16}{row['gflop_per_image']:>10.3f}{plain:>12,.0f}{ours:>11,.0f}{row['ours_gflop_s']:>13,.1f}"
            f"{row['layer_gflop_s']:>14,.1f}{row['ours_of_gemm_peak']:>10.0%}{row['ours_of_layer_peak']:>11.0%}"
            f"{row['plain_of_gemm_peak']:>11.0%}  {row['heaviest_layer']}",
            flush=True,
        )
    for name in args.profile:
        spec = dict(PAPER_MODEL_SPECS[name], lr=0.01)
        print(f"\nprofile of our engine, {name}, {precision}:")
        print(profile_engine(spec, images, labels, device, 4, args.batch_size))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                    "precision": precision,
                    "gemm_peak_gflop_s": {k: v / 1e9 for k, v in peaks.items()},
                    "gemm_gflop_s": {
                        k: {w: r / 1e9 for w, r in v.items()} for k, v in gemms.items()
                    },
                    "rows": rows,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
