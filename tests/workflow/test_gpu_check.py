"""The prepared GPU check runs end to end on the CPU (--cpu) and writes its report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_cpu_mode_writes_json_and_markdown(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        [str(ROOT / "benchmarks/gpu_check.sh"), "--cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [s["rc"] for s in report["steps"]] == [0, 0, 0, 0], report["steps"]
    assert report["roofline"]["rows"][0]["ours_of_gemm_peak"] > 0
    assert report["roofline"]["rows"][0]["precision"] in ("fp32", "bf16")
    assert report["throughput"] and report["throughput"][0]["ours_img_s"] > 0
    assert [c["concurrent_runs"] for c in report["concurrency"]] == [1, 2]
    assert "| 600 | torch_cholesky |" in report["kernel_table"]
    assert "# GPU check: cpu" in (tmp_path / "gpu_check.md").read_text()
    hours = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_hours.py"), str(tmp_path / "gpu_check.json")],
        capture_output=True,
        text=True,
    )
    assert hours.returncode == 0 and "GPU-hours" in hours.stdout, hours.stderr
