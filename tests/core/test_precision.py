"""core.precision: names, Keras policies and when bfloat16 is said to be slow."""

from __future__ import annotations

import logging

import pytest

from object_detection.core import precision


def test_policies_and_names():
    assert precision.dtype_policy("float32").name == "float32"
    policy = precision.dtype_policy("bfloat16")
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (
        "mixed_bfloat16", "bfloat16", "float32")
    assert precision.from_use_bfloat16(True) == "bfloat16"
    assert precision.from_use_bfloat16(False) == "float32"
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        precision.check_precision("float16")


@pytest.mark.parametrize("gpus, flags, slow", [
    ([(9, 0)], set(), False),                       # H100 / H200
    ([(8, 0), (8, 6)], set(), False),               # A100, RTX 30xx
    ([(7, 0)], {"avx512_bf16"}, True),              # V100: the model runs on the GPU
    ([], {"avx512f", "avx512_bf16"}, False),        # Zen 4, Cooper Lake
    ([], {"amx_bf16", "amx_tile"}, False),          # Sapphire Rapids
    ([], {"avx2", "fma"}, True),
])
def test_slow_bfloat16_reason(gpus, flags, slow):
    reason = precision.slow_bfloat16_reason(gpu_capabilities=gpus, cpu_flags=flags)
    assert (reason is not None) == slow
    if slow:
        assert "emulated" in reason


def test_a_warning_only_for_bfloat16_on_slow_hardware(monkeypatch, caplog):
    monkeypatch.setattr(precision, "slow_bfloat16_reason", lambda: "the CPU has no AVX512_BF16")
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        precision.warn_if_slow("float32")
        assert not caplog.records
        precision.warn_if_slow("bfloat16")
    assert caplog.records[0].getMessage() == (
        "mixed bfloat16 requested, but the CPU has no AVX512_BF16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n\n", encoding="utf-8")
    assert precision._cpu_flags(cpuinfo) == {"fpu", "avx512f", "avx512_bf16"}
    assert precision._cpu_flags(tmp_path / "missing") == set()


def test_the_command_lines_offer_the_same_precisions():
    """convert_model.py lists them without importing TensorFlow; they must stay the same."""
    from object_detection.cli import export_command
    assert export_command.PRECISION_CHOICES == precision.PRECISIONS


def test_building_a_bfloat16_model_warns_on_slow_hardware(monkeypatch, caplog):
    from object_detection.builders import model_builder
    from tests.export.conftest import tiny_pipeline
    monkeypatch.setattr(precision, "slow_bfloat16_reason", lambda: "no fast bfloat16 here")
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        model = model_builder.build(tiny_pipeline().model, is_training=False,
                                    precision="bfloat16")
    assert model.precision == "bfloat16"
    assert "mixed bfloat16 requested, but no fast bfloat16 here" in caplog.text
