"""`amp: auto` trains in bf16 only where the device runs bf16 faster (training/precision.py)."""

import pytest
import torch

from rethinkgen.training import precision
from rethinkgen.training.engine import TrainConfig
from rethinkgen.training.preprocess import BatchPipeline

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    "amx, avx512_bf16, probe_says_faster, expected",
    [
        (True, True, False, torch.bfloat16),  # AMX: bf16 without a probe
        (False, True, True, torch.bfloat16),  # AVX-512 BF16 only: the probe decides
        (False, True, False, None),
        (False, False, True, None),  # no bf16 instructions: fp32, no probe
    ],
)
def test_auto_on_cpu_follows_amx_then_the_probe(
    monkeypatch, amx, avx512_bf16, probe_says_faster, expected
):
    probed = []
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(precision, "cpu_has_avx512_bf16", lambda: avx512_bf16)
    monkeypatch.setattr(precision, "cpu_bf16_probe", lambda: probed.append(1) or probe_says_faster)
    assert precision.autocast_dtype("auto", CPU) is expected
    assert bool(probed) == (avx512_bf16 and not amx)


def test_probe_runs_in_about_a_second_and_leaves_the_global_rng_alone():
    import time

    precision.cpu_bf16_probe.cache_clear()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    start = time.perf_counter()
    assert precision.cpu_bf16_probe() in (True, False)
    assert time.perf_counter() - start < 30  # ~1 s alone; generous for a loaded shared CPU
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cuda_follows_native_bf16(monkeypatch, bf16, expected):
    seen = {}

    def supported(including_emulation=True):
        seen["emulation"] = including_emulation
        return bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert precision.autocast_dtype("auto", CUDA) is expected
    assert seen["emulation"] is False  # emulated bf16 is not faster


def test_explicit_choices_ignore_the_hardware(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_avx512_bf16", lambda: False)
    assert precision.autocast_dtype("bf16", CPU) is torch.bfloat16
    assert precision.autocast_dtype("off", CPU) is None
    assert precision.autocast_dtype("auto", torch.device("mps")) is None
    with pytest.raises(ValueError, match="auto, bf16, off"):
        precision.autocast_dtype("fp16", CPU)


@pytest.mark.parametrize("amx, name", [(True, "bf16"), (False, "fp32")])
def test_pipeline_and_recorded_precision(monkeypatch, amx, name):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(precision, "cpu_has_avx512_bf16", lambda: False)
    cfg = TrainConfig(model_spec={"arch": "mlp", "hidden": [8]}, lr=0.01, amp="auto", device="cpu")
    pipeline = BatchPipeline.from_config(cfg, CPU, image_list=False)
    assert precision.precision_name(pipeline.autocast_dtype) == name


def test_amx_probe_matches_cpuinfo_flags():
    from pathlib import Path

    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if not flags:
        pytest.skip("no /proc/cpuinfo")
    assert precision.cpu_has_amx() == ("amx_bf16" in flags)
