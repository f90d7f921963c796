"""Benchmark: our in-place Cholesky solve of K alpha = Y against the fair baselines for a
symmetric positive definite system, in float64 on the same Gaussian-kernel data:
scipy.linalg.cho_factor/cho_solve, scipy.linalg.solve(assume_a="pos"), torch.linalg.cholesky
+ cholesky_solve, and (for reference) scipy's general LU solve. Each case runs in a fresh
subprocess, so its peak memory (ru_maxrss; on CUDA torch's max_memory_allocated) is its own.

    python benchmarks/kernel_solve.py --sizes 2000 5000 10000
    python benchmarks/kernel_solve.py --device cuda --sizes 20000 60000 \\
        --methods ours_cholesky_in_place torch_cholesky
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.linalg
import torch

from rethinkgen.theory.kernels import (
    accumulate_gram,
    cholesky_solve_in_place,
    gram_to_gaussian_,
    one_hot,
    peak_memory_mb,
)


def _scipy_cho(k, y):
    return scipy.linalg.cho_solve(scipy.linalg.cho_factor(k, lower=True, overwrite_a=True), y)


def _torch_cholesky(k, y):
    return torch.cholesky_solve(y, torch.linalg.cholesky(k))


METHODS = {
    "ours_cholesky_in_place": lambda k, y: cholesky_solve_in_place(k, y, ridge=0.0),
    "torch_cholesky": _torch_cholesky,
    "scipy_cho_factor": lambda k, y: _scipy_cho(k.numpy(), y.numpy()),
    "scipy_solve_pos": lambda k, y: scipy.linalg.solve(k.numpy(), y.numpy(), assume_a="pos"),
    "scipy_solve_lu": lambda k, y: scipy.linalg.solve(k.numpy(), y.numpy(), assume_a="gen"),
}


def run_case(n: int, method: str, device: torch.device) -> dict:
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.random((n, 784), dtype=np.float32))
    labels = rng.integers(0, 10, n)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel, _, sq, _ = accumulate_gram(
        iter([(features, features[:1])]), n, 1, torch.float64, device
    )
    gram_to_gaussian_(
        kernel, sq, sq, bandwidth=float(np.sqrt(784 / 6))
    )  # median distance of U(0,1)^784
    targets = one_hot(labels, 10).to(device=device, dtype=torch.float64)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    alpha = METHODS[method](kernel, targets)
    if device.type == "cuda":
        torch.cuda.synchronize()
    solve_s = time.perf_counter() - start
    alpha = torch.as_tensor(alpha).cpu().numpy()
    return {
        "n": n,
        "method": method,
        "device": str(device),
        "solve_s": solve_s,
        "alpha_sum": float(alpha.sum()),
        "baseline_rss_mb": before_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": peak_memory_mb(device) if device.type == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # internal: "n method"
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1], device)))
        return
    print("| n | method | solve_s | peak_rss_mb | peak_gpu_mb | K_float64_mb | same alpha |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for n in args.sizes:
        for method in args.methods:
            out = subprocess.run(
                [sys.executable, __file__, "--device", args.device, "--case", str(n), method],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            row = json.loads(out)
            rows.append(row)
            first = next(r for r in rows if r["n"] == n)  # same alpha as the first method's
            same = np.isclose(row["alpha_sum"], first["alpha_sum"], rtol=1e-6)
            gpu = f"{row['peak_gpu_mb']:.0f}" if row["peak_gpu_mb"] is not None else "-"
            print(
                f"| {n} | {method} | {row['solve_s']:.2f} | {row['peak_rss_mb']:.0f} | {gpu} "
                f"| {8 * n * n / 2**20:.0f} | {same} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
