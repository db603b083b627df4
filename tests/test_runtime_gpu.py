"""LiteRT's GPU accelerator through ``probe_gpu``: real compilations in child processes.

Without a Vulkan driver the GPU path runs on SwiftShader from Debian's chromium
(tests/setup/apt-packages.txt); the models are the tiny committed fixtures in
tests/fixtures/bench (see make_models.py there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobilepack.runtime.child import run_in_child
from mobilepack.runtime.gpu import (GpuProbe, discover_vulkan, parse_adapter, parse_cpu_ops, probe_gpu)
from tests.conftest import require

FIX = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture(scope="module")
def vulkan():
    setup = discover_vulkan()
    require(setup.source != "none", setup.message)
    return setup


def test_fully_supported_model_is_full(vulkan):
    probe = probe_gpu(FIX / "dense.tflite")
    assert isinstance(probe, GpuProbe)
    assert probe.status == "full" and probe.fully_accelerated is True
    assert probe.adapter, probe
    if vulkan.source == "swiftshader":
        assert probe.software is True and probe.adapter.startswith("SwiftShader")
    assert probe.cpu_ops == ()


def test_partly_supported_model_names_the_cpu_ops(vulkan):
    probe = probe_gpu(FIX / "partial_lrn.tflite")
    assert probe.status == "partial" and probe.fully_accelerated is False
    assert probe.cpu_ops == ("LOCAL_RESPONSE_NORMALIZATION",)
    assert "not accelerated" in probe.message


def test_data_dependent_shape_is_rejected_with_litert_message(vulkan):
    probe = probe_gpu(FIX / "unique.tflite")
    assert probe.status == "rejected" and probe.fully_accelerated is None
    assert "Failed to modify graph with delegate" in probe.message


def test_not_a_model_is_rejected(tmp_path, vulkan):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    probe = probe_gpu(bad)
    assert probe.status == "rejected" and probe.message


def test_missing_vulkan_driver_is_unavailable(tmp_path, monkeypatch, vulkan):
    monkeypatch.setenv("VK_ICD_FILENAMES", str(tmp_path / "no_such_icd.json"))
    probe = probe_gpu(FIX / "dense.tflite")
    assert probe.status == "unavailable", probe
    assert probe.message


def test_timeout_is_reported(vulkan):
    probe = probe_gpu(FIX / "dense.tflite", timeout=0.01)
    assert probe.status == "timeout" and "timed out" in probe.message


def test_child_crash_is_an_outcome_not_an_exception():
    # the child really dies of SIGSEGV: signal.raise_signal(11) in the fresh interpreter
    outcome = run_in_child("signal:raise_signal", 11, timeout=60)
    assert outcome.answer is None and outcome.signal_name == "SIGSEGV"
    assert outcome.failure() == "crashed (SIGSEGV)"


# Lines as LiteRT 2.3 prints them (captured from the probes above on SwiftShader).
_LOG = """\
I0000 00:00:1795506496.273834   30057 environment.cc:532] Selected adapter: SwiftShader Device (Subzero), \
arch=swiftshader, vendor=google, backend=Vulkan, adapterType=CPU / Software
ERROR: Following operations are not supported by GPU delegate:
LOCAL_RESPONSE_NORMALIZATION: Operation is not supported.
2 operations will run on the GPU, and the remaining 3 operations will run on the CPU.
"""


def test_log_parsers():
    assert parse_adapter(_LOG) == ("SwiftShader Device (Subzero)", True)
    assert parse_adapter("Selected adapter: NVIDIA H100, arch=hopper, adapterType=Discrete GPU") == ("NVIDIA H100", False)
    assert parse_adapter("nothing here") == (None, False)
    assert parse_cpu_ops(_LOG) == ("LOCAL_RESPONSE_NORMALIZATION",)
    assert parse_cpu_ops("") == ()


def test_discovery_respects_a_user_icd():
    user = discover_vulkan({"VK_ICD_FILENAMES": "/x/vk_swiftshader_icd.json"})
    assert user.source == "user" and user.software and user.env == {}
    real = discover_vulkan({"VK_ICD_FILENAMES": "/usr/share/vulkan/icd.d/nvidia_icd.json"})
    assert real.source == "user" and not real.software


def test_build_without_any_vulkan_driver_skips_the_gpu_with_a_note(tmp_path, monkeypatch, capsys):
    """A fresh machine without chromium or a GPU driver: the build succeeds, the GPU is 'skipped'."""
    import mobilepack
    from mobilepack.cli.build import _summary
    from mobilepack.runtime import gpu

    none = gpu.VulkanSetup("none", {}, None, False, "no Vulkan driver and no SwiftShader (install chromium)")
    monkeypatch.setattr(gpu, "discover_vulkan", lambda environ=None: none)
    d = Path(__file__).resolve().parent.parent / "examples" / "digits"
    result = mobilepack.build(str(d / "digits.keras"), out=str(tmp_path / "out"), quantize=["fp32"],
                              calibration=str(d / "calibration"), labels=str(d / "labels.txt"),
                              eval_data=str(d / "eval"), delegates=["cpu", "gpu"], runs=3, warmup=0, target_ci=0,
                              threads=[1], cache_dir=str(tmp_path / "cache"))
    bench = {r["delegate"]: r for r in result.report["bench"]["results"]}
    assert bench["cpu"]["status"] == "ok"
    assert bench["gpu"]["failure"] == "gpu_unavailable" and bench["gpu"]["note"].startswith("skipped")
    assert result.report["lint"]["fp32"]["gpu"]["status"] == "unavailable"
    assert result.report["selection"]["winner"] == "fp32"
    _summary(result, quiet=False)
    out = capsys.readouterr().out
    assert "skipped" in out and "note: the GPU check was skipped" in out and "failed" not in out


def test_software_gpu_evaluates_a_seeded_bounded_subset(vulkan):
    """On SwiftShader the GPU cell covers SOFTWARE_GPU_SAMPLES seeded samples; the CPU cells all of them."""
    import numpy as np

    from mobilepack.data.readers import Samples
    from mobilepack.evaluate.accuracy import SOFTWARE_GPU_SAMPLES, evaluate, software_subset

    if not vulkan.software:
        pytest.skip("a real GPU is evaluated on every sample")
    assert software_subset(40) == software_subset(40) and len(software_subset(40)) == SOFTWARE_GPU_SAMPLES
    assert software_subset(SOFTWARE_GPU_SAMPLES) is None          # small sets are evaluated whole
    rng = np.random.default_rng(3)
    xs = rng.uniform(-1, 1, (40, 1, 16)).astype(np.float32)
    labels = tuple(int(v) for v in rng.integers(0, 8, 40))
    samples = Samples(batches=tuple({"x": x} for x in xs), source="test", kind="npz", labels=labels)
    m = evaluate([("fp32", FIX / "dense.tflite")], samples, delegates=["cpu", "gpu"])
    cpu, gpu = m.cell("fp32", "cpu"), m.cell("fp32", "gpu")
    assert cpu.status == "ok" and cpu.samples == 40
    assert gpu.status == "ok" and gpu.software and gpu.samples == SOFTWARE_GPU_SAMPLES
    assert any(f"subset of {SOFTWARE_GPU_SAMPLES} of 40 samples" in w for w in m.warnings)
    # agreement is measured on the same subset: the GPU computes what the CPU does on those rows
    assert gpu.agreement == 1.0
