"""Benchmark: our in-place Cholesky solve of K alpha = Y against scipy.linalg.solve (LU on
a copy) on the same Gaussian-kernel system, for several n. Each case runs in a fresh
subprocess so that its peak resident memory (ru_maxrss) is its own.

    .venv/bin/python benchmarks/kernel_solve.py --sizes 2000 5000 10000
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

from rethinkgen.theory.kernels import accumulate_gram, cholesky_solve_in_place, gram_to_gaussian_, one_hot


def run_case(n: int, method: str) -> dict:
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.random((n, 784), dtype=np.float32))
    labels = rng.integers(0, 10, n)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    kernel, _, sq, _ = accumulate_gram(iter([(features, features[:1])]), n, 1, torch.float64, torch.device("cpu"))
    gram_to_gaussian_(kernel, sq, sq, bandwidth=float(np.sqrt(784 / 6)))  # median distance of U(0,1)^784
    build_s = time.perf_counter() - start
    targets = one_hot(labels, 10)
    start = time.perf_counter()
    if method == "ours_cholesky_in_place":
        alpha = cholesky_solve_in_place(kernel, targets, ridge=0.0).numpy()
    else:
        k = kernel.numpy()
        alpha = scipy.linalg.solve(k, targets.numpy(), assume_a="gen")
    solve_s = time.perf_counter() - start
    return {"n": n, "method": method, "build_s": build_s, "solve_s": solve_s, "alpha_sum": float(alpha.sum()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "baseline_rss_mb": before_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # internal: "n method"
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1])))
        return
    print("| n | method | build_s | solve_s | peak_rss_mb | K_float64_mb | same alpha |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        results = []
        for method in ("ours_cholesky_in_place", "scipy_linalg_solve"):
            out = subprocess.run([sys.executable, __file__, "--case", str(n), method], check=True,
                                 capture_output=True, text=True).stdout
            results.append(json.loads(out))
        same = np.isclose(results[0]["alpha_sum"], results[1]["alpha_sum"], rtol=1e-6)
        for r in results:
            print(f"| {n} | {r['method']} | {r['build_s']:.2f} | {r['solve_s']:.2f} | {r['peak_rss_mb']:.0f} "
                  f"| {8 * n * n / 2**20:.0f} | {same} |")


if __name__ == "__main__":
    main()
