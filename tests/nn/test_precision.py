"""The precision of the generator's computations and the devices it runs on
(crmss/nn/precision.py)."""

import numpy as np
import pytest
import tensorflow as tf

from crmss.core.errors import InputError
from crmss.nn import backends, precision
from crmss.nn.model import build_generator, run_generator
from crmss.nn.precision import at_precision, choose_precision, cpu_flags, local_devices

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert {"avx2", "avx512_bf16"} <= cpu_flags(tmp_path / "cpuinfo")
    assert cpu_flags(tmp_path / "absent") == set()  # macOS, Windows: no native bfloat16 assumed
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd\n")
    assert cpu_flags(tmp_path / "arm") == set()


def test_auto_picks_bfloat16_only_on_cpus_that_have_it():
    assert (
        choose_precision("auto", ["CPU:0"], {"avx2", "avx512f", "avx512_bf16"}).precision
        == "bfloat16"
    )
    assert (
        choose_precision("auto", ["CPU:0"], {"avx2", "amx_bf16", "amx_tile"}).precision
        == "bfloat16"
    )
    # AVX-512 without BF16: emulated, slower
    fallback = choose_precision("auto", ["CPU:0"], {"avx2", "avx512f", "fma"})
    assert fallback.precision == "float32" and "no native bfloat16" in str(fallback)
    assert choose_precision("auto", ["CPU:0"], set()).precision == "float32"
    for requested in ("float32", "bfloat16", "float16"):
        assert choose_precision(requested, ["CPU:0"], set()) == precision.Choice(
            requested, "as requested"
        )
    assert "AVX512_BF16" in str(choose_precision("auto", ["CPU:0"], {"avx512_bf16"}))


@pytest.mark.parametrize(
    "capabilities, expected",
    [
        ([(9, 0)], "bfloat16"),
        ([(8, 0), (8, 6)], "bfloat16"),
        ([(7, 5)], "float16"),
        ([(8, 0), (7, 0)], "float16"),
        ([(6, 1)], "float32"),
    ],
)
def test_auto_on_gpus_follows_the_slowest_compute_capability(monkeypatch, capabilities, expected):
    monkeypatch.setattr(precision, "gpu_capabilities", lambda devices: capabilities)
    choice = choose_precision(
        "auto", [f"GPU:{i}" for i in range(len(capabilities))], {"avx512_bf16"}
    )
    assert choice.precision == expected and "compute capability" in choice.reason


def test_on_jax_auto_reads_the_compute_capability_jax_reports(monkeypatch):
    """JAX's CUDA devices report ``compute_capability`` as text ("9.0" on an H100 or H200)."""

    class CudaDevice:
        platform, compute_capability = "gpu", "9.0"

    for module in (backends, precision):
        monkeypatch.setattr(module, "on_tensorflow", lambda: False)
        monkeypatch.setattr(module, "backend", lambda: "jax")
    monkeypatch.setattr(
        backends, "_jax_devices", lambda kind: [CudaDevice()] if kind == "gpu" else [object()]
    )
    assert backends.device_names() == ["CPU:0", "GPU:0"] and backends.gpu_count() == 1
    assert backends.gpu_capability("GPU:0") == (9, 0)
    choice = choose_precision("auto", ["GPU:0"])
    assert str(choice) == "bfloat16 (auto: GPU compute capability 9.0)"
    # XLA computes float32 convolutions in TF32 there too, unless asked for full float32
    assert "JAX_DEFAULT_MATMUL_PRECISION=highest" in str(choose_precision("float32", ["GPU:0"]))
    import jax

    with jax.default_matmul_precision("highest"):
        assert str(choose_precision("float32", ["GPU:0"])) == "float32 (as requested)"


def test_float32_on_gpus_that_run_tf32_says_so(monkeypatch):
    monkeypatch.setattr(precision, "gpu_capabilities", lambda devices: [(9, 0)])
    assert str(choose_precision("float32", ["GPU:0"])).startswith(
        "float32 (as requested; TensorFlow computes its convolutions in TF32"
    )
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert str(choose_precision("float32", ["GPU:0"])) == "float32 (as requested)"
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE")
    monkeypatch.setattr(tf.config.experimental, "tensor_float_32_execution_enabled", lambda: False)
    assert str(choose_precision("float32", ["GPU:0"])) == "float32 (as requested)"
    monkeypatch.setattr(precision, "gpu_capabilities", lambda devices: [])
    assert str(choose_precision("float32", ["CPU:0"])) == "float32 (as requested)"


def test_devices_are_checked_against_the_machine():
    assert local_devices() == ["CPU:0"] and local_devices("CPU:0") == ["CPU:0"]  # no GPU here
    with pytest.raises(InputError, match="no GPU:0 here; this machine has CPU:0"):
        local_devices("GPU:0")
    with pytest.raises(InputError, match="a device named twice"):
        local_devices("CPU:0,CPU:0")
    with pytest.raises(InputError, match="give 'all' or device names"):
        local_devices("gpu0")


def test_a_reduced_precision_copy_keeps_weights_and_float32_outputs():
    generator = build_generator(8)
    x = [
        np.random.default_rng(0).random((1, 64, 64, 4), np.float32),
        np.random.default_rng(1).random((1, 32, 32, 6), np.float32),
    ]
    assert at_precision(generator, "float32") is generator
    for name in ("bfloat16", "float16"):
        copy = at_precision(generator, name)
        policies = {
            layer.name: layer.dtype_policy.name
            for layer in copy.layers
            if layer.weights or layer.name.startswith("d")
        }
        assert policies["y10"] == policies["y20"] == "float32"  # the output heads
        assert {p for layer, p in policies.items() if layer not in ("y10", "y20")} == {
            f"mixed_{name}"
        }
        assert all(
            np.array_equal(a, b) for a, b in zip(generator.get_weights(), copy.get_weights())
        )
        assert all(w.dtype == "float32" for w in copy.weights)  # variables stay float32
        outputs = [np.asarray(y) for y in run_generator(copy, x)]
        reference = [np.asarray(y) for y in run_generator(generator, x)]
        assert all(y.dtype == np.float32 for y in outputs)
        difference = max(float(np.abs(a - b).max()) for a, b in zip(outputs, reference))
        assert 0 < difference < 0.05  # computed in the reduced type, and close to float32
