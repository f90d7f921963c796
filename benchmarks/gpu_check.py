"""The prepared GPU check: unit tests on CUDA, throughput per paper model (ours vs a plain
loop), achieved FLOP/s as a fraction of the GPU's measured peak (roofline.py), aggregate
images/s of 1/2/4/8 concurrent runs on one GPU, the kernel solve at large n.

Writes gpu_check.json and gpu_check.md to --out. Every step runs in its own process with
a time limit, and a failing step is recorded, not fatal. benchmarks/gpu_check.sh runs it;
benchmarks/gpu_hours.py turns the JSON into GPU-hours for the paper's grid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
UNIT_TESTS = ["tests/unit/test_models.py", "tests/unit/test_train.py", "tests/unit/test_kernels.py"]
# (CPU smoke sizes, GPU sizes): images, timed steps per model, kernel n.
SIZES = {
    "cpu": dict(
        n=512,
        steps=2,
        kernel=[300, 600],
        concurrency=[1, 2],
        models=["mlp_1x512"],
        test_k="test_models or one_epoch",
        gemm=256,
    ),
    "cuda": dict(
        n=50000,
        steps=200,
        kernel=[20000, 60000],
        concurrency=[1, 2, 4, 8],
        models=None,
        test_k=None,
        gemm=8192,
    ),
}


def run_step(name: str, command: list[str], limit_s: int, env: dict | None = None) -> dict:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=limit_s,
            env={**os.environ, **(env or {})},
        )
        rc, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        rc, out = 124, f"timed out after {limit_s} s\n{expired.stdout or ''}"
    seconds = time.perf_counter() - start
    print(f"[{name}] rc={rc} in {seconds:.0f} s", flush=True)
    return {"step": name, "rc": rc, "seconds": round(seconds, 1), "output_tail": out[-4000:]}


def throughput_rows(output: str) -> list[dict]:
    """Rows of train_throughput.py's table: model, reference, ours, speed-up."""
    rows = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-2].endswith("x") and parts[1].replace(",", "").isdigit():
            rows.append(
                {
                    "model": parts[0],
                    "reference_img_s": float(parts[1].replace(",", "")),
                    "ours_img_s": float(parts[2].replace(",", "")),
                    "speedup": float(parts[3].rstrip("x")),
                }
            )
    return rows


def concurrent_img_s(model: str, copies: int, device: str, n: int, steps: int) -> dict:
    """Start `copies` processes at once, each training `model` (ours); sum their images/s."""
    command = [
        sys.executable,
        str(HERE / "throughput_worker.py"),
        "--model",
        model,
        "--device",
        device,
        "--n",
        str(n),
        "--steps",
        str(steps),
    ]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(copies)
    ]
    rates = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return {
        "model": model,
        "concurrent_runs": copies,
        "aggregate_img_s": sum(rates),
        "per_run_img_s": [round(r, 1) for r in rates],
    }


def markdown(report: dict) -> str:
    lines = [
        f"# GPU check: {report['device_name']}",
        "",
        f"torch {report['torch']}, {report['mode']} mode, {report['wall_s']:.0f} s",
        "",
        "| step | rc | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {s['step']} | {s['rc']} | {s['seconds']} |" for s in report["steps"]]
    lines += ["", "| model | plain loop img/s | ours img/s | speed-up |", "|---|---|---|---|"]
    lines += [
        f"| {r['model']} | {r['reference_img_s']:,.0f} | {r['ours_img_s']:,.0f} | "
        f"{r['speedup']:.2f}x |"
        for r in report["throughput"]
    ]
    roofline = report.get("roofline", {"rows": [], "gemm_peak_gflop_s": {}})
    gemm_peaks = ", ".join(f"{k} {v:,.0f}" for k, v in roofline["gemm_peak_gflop_s"].items())
    lines += [
        "",
        f"Roofline: GEMM peak {gemm_peaks} GFLOP/s",
        "",
        "| model | precision | GFLOP/img | ours GFLOP/s | of GEMM peak | of layer peak |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['precision']} | {r['gflop_per_image']:.3f} | "
        f"{r['ours_gflop_s']:,.1f} | {r['ours_of_gemm_peak']:.0%} | {r['ours_of_layer_peak']:.0%} |"
        for r in roofline["rows"]
    ]
    lines += ["", "| model | concurrent runs | aggregate img/s |", "|---|---|---|"]
    lines += [
        f"| {c['model']} | {c['concurrent_runs']} | {c['aggregate_img_s']:,.0f} |"
        for c in report["concurrency"]
    ]
    lines += ["", "Kernel solve:", "", "```", report.get("kernel_table", ""), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny sizes on the CPU (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")))
    args = parser.parse_args()
    import torch

    mode = "cpu" if args.cpu else "cuda"
    if mode == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run with --cpu for the CPU smoke version")
    sizes, start = SIZES[mode], time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "mode": mode,
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name() if mode == "cuda" else "cpu",
        "steps": [],
        "throughput": [],
        "concurrency": [],
    }
    tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *UNIT_TESTS]
    tests += ["-k", sizes["test_k"]] if sizes["test_k"] else []
    report["steps"].append(run_step("unit tests", tests, 240, {"RETHINKGEN_TEST_DEVICE": mode}))

    bench = [
        sys.executable,
        str(HERE / "train_throughput.py"),
        "--device",
        mode,
        "--n",
        str(sizes["n"]),
        "--size",
        "32",
        "--channels",
        "3",
        "--steps",
        str(sizes["steps"]),
        "--repeats",
        "1",
    ] + (["--models", *sizes["models"]] if sizes["models"] else [])
    step = run_step("throughput", bench, 180)
    report["steps"].append(step)
    report["throughput"] = throughput_rows(step["output_tail"])

    roofline = [
        sys.executable,
        str(HERE / "roofline.py"),
        "--device",
        mode,
        "--n",
        str(min(sizes["n"], 8192)),
        "--steps",
        str(sizes["steps"]),
        "--repeats",
        "1",
        "--gemm",
        str(sizes["gemm"]),
        "--json",
        str(args.out / "roofline.json"),
    ] + (["--models", *sizes["models"]] if sizes["models"] else [])
    report["steps"].append(run_step("roofline", roofline, 240))
    if (args.out / "roofline.json").exists():
        report["roofline"] = json.loads((args.out / "roofline.json").read_text())

    for model in sizes["models"] or ["inception", "mlp_1x512"]:
        for copies in sizes["concurrency"]:
            report["concurrency"].append(
                concurrent_img_s(model, copies, mode, sizes["n"], sizes["steps"])
            )

    kernel = [
        sys.executable,
        str(HERE / "kernel_solve.py"),
        "--device",
        mode,
        "--sizes",
        *map(str, sizes["kernel"]),
        "--methods",
        "ours_cholesky_in_place",
        "torch_cholesky",
    ]
    step = run_step("kernel solve", kernel, 240)
    report["steps"].append(step)
    report["kernel_table"] = step["output_tail"]
    report["wall_s"] = time.perf_counter() - start
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
