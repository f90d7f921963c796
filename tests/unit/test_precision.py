"""`amp: auto` trains in bf16 only where the device runs bf16 faster (training/precision.py)."""

import pytest
import torch

from rethinkgen.training import precision
from rethinkgen.training.engine import TrainConfig
from rethinkgen.training.preprocess import BatchPipeline

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("amx, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cpu_follows_amx(monkeypatch, amx, expected):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    assert precision.autocast_dtype("auto", CPU) is expected


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
    assert precision.autocast_dtype("bf16", CPU) is torch.bfloat16
    assert precision.autocast_dtype("off", CPU) is None
    assert precision.autocast_dtype("auto", torch.device("mps")) is None
    with pytest.raises(ValueError, match="auto, bf16, off"):
        precision.autocast_dtype("fp16", CPU)


@pytest.mark.parametrize("amx, name", [(True, "bf16"), (False, "fp32")])
def test_pipeline_and_recorded_precision(monkeypatch, amx, name):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    cfg = TrainConfig(model_spec={"arch": "mlp", "hidden": [8]}, lr=0.01, amp="auto", device="cpu")
    pipeline = BatchPipeline.from_config(cfg, CPU, image_list=False)
    assert precision.precision_name(pipeline.autocast_dtype) == name


def test_amx_probe_matches_cpuinfo_flags():
    from pathlib import Path

    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if not flags:
        pytest.skip("no /proc/cpuinfo")
    assert precision.cpu_has_amx() == ("amx_bf16" in flags)
