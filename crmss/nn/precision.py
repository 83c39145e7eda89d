"""The precision of the generator's computations, and the devices it runs on.

``auto`` picks, for inference (``crmss predict``, ``crmss test``, :func:`crmss.clean`) and for
training with mixed precision (``mixed_precision``):

* on GPUs of compute capability 8.0 or more (Ampere, Ada, Hopper and later): bfloat16, which
  their tensor cores run at the float16 rate, without float16's overflow and loss scaling;
* on GPUs of compute capability 7.x (Volta, Turing): float16 (loss scaling in training);
* on older GPUs: float32 (no fast half precision);
* on CPUs with native bfloat16 arithmetic (x86 flags ``avx512_bf16`` or ``amx_bf16``, read
  from /proc/cpuinfo; TensorFlow's oneDNN kernels use them): bfloat16;
* on every other CPU: float32 (bfloat16 would be emulated there: 12x slower on an AVX2 machine,
  BENCHMARKS.md).

Reduced precision follows Keras's mixed-precision policies: variables stay float32, layers
compute in the reduced type, and the model's output layers (the sigmoid heads ``y10`` and
``y20``) compute in float32; scaling and blending around the model stay float32.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import keras

from ..core.errors import InputError
from ..core.options import PredictOptions
from ..core.validation import argument, checked
from .backends import (
    backend,
    device_names,
    gpu_capability,
    gpu_count,
    on_device,
    on_tensorflow,
)

#: x86 CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Choice:
    """A precision and why it was chosen, as printed and recorded in the outputs."""

    precision: str
    reason: str

    def __str__(self) -> str:
        return f"{self.precision} ({self.reason})"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (the first ``flags`` line of /proc/cpuinfo); empty where there
    is no such file (macOS, Windows): their CPUs are then taken to lack native bfloat16."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def gpu_capabilities(devices: list[str]) -> list[tuple[int, int]]:
    """Compute capabilities of the GPUs among ``devices`` (names as ``GPU:0``)."""
    return [gpu_capability(name) for name in devices if name.startswith("GPU:")]


def choose_precision(requested: str, devices: list[str], flags: set[str] | None = None) -> Choice:
    """The precision to run at on ``devices`` (see the module docstring). ``requested`` other
    than ``auto`` is taken as it is; ``flags`` are the CPU's (default: this machine's)."""
    capabilities = gpu_capabilities(devices)
    if requested != "auto":
        return Choice(
            requested,
            "as requested"
            + (TF32_NOTES[backend()] if requested == "float32" and _tf32(capabilities) else ""),
        )
    if capabilities:
        slowest = min(capabilities)
        label = f"GPU compute capability {slowest[0]}.{slowest[1]}"
        if slowest >= (8, 0):
            return Choice("bfloat16", f"auto: {label}")
        if slowest >= (7, 0):
            return Choice("float16", f"auto: {label}")
        return Choice("float32", f"auto: {label}, no fast half precision")
    native = sorted(set(NATIVE_BFLOAT16_FLAGS) & (cpu_flags() if flags is None else flags))
    if native:
        return Choice("bfloat16", f"auto: the CPU has {', '.join(native).upper()}")
    return Choice("float32", "auto: the CPU has no native bfloat16 (AVX512_BF16 or AMX)")


#: what a float32 choice says, per backend, where float32 convolutions run in TF32 (measured on
#: JAX's XLA, whose default it is as it is TensorFlow's)
TF32_NOTES = {
    "tensorflow": (
        "; TensorFlow computes its convolutions in TF32 on these GPUs (75 dB from float32 on an "
        "H200, BENCHMARKS.md): NVIDIA_TF32_OVERRIDE=0 or "
        "tf.config.experimental.enable_tensor_float_32_execution(False) for full float32"
    ),
    "jax": (
        "; JAX computes its convolutions in TF32 on these GPUs (75 dB from float32 on an H200, "
        "BENCHMARKS.md): JAX_DEFAULT_MATMUL_PRECISION=highest for full float32"
    ),
}


def _tf32(capabilities: list[tuple[int, int]]) -> bool:
    """Whether the backend runs float32 convolutions in TF32 on GPUs of these ``capabilities``
    (compute capability 8.0 or more, TF32 left on: TensorFlow's and XLA's default)."""
    if not capabilities or min(capabilities) < (8, 0):
        return False
    if not on_tensorflow():
        import jax

        precision = jax.config.jax_default_matmul_precision  # type: ignore[attr-defined]
        return precision in (None, "default", "tensorfloat32")
    import tensorflow as tf

    return (
        tf.config.experimental.tensor_float_32_execution_enabled()
        and os.environ.get("NVIDIA_TF32_OVERRIDE") != "0"
    )


def training_policy() -> str:
    """The Keras policy of ``train --mixed-precision`` on the local devices: ``mixed_bfloat16``
    on CPUs and on GPUs of compute capability 8.0 or more, else ``mixed_float16`` (which needs
    loss scaling)."""
    gpus = [f"GPU:{i}" for i in range(gpu_count())]
    if gpus:
        return "mixed_bfloat16" if min(gpu_capabilities(gpus)) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16"


def local_devices(requested: str = "all") -> list[str]:
    """The devices to run on: ``all`` gives every local GPU, or the first CPU where there is
    none; else a comma-separated list of TensorFlow device names (``GPU:0,GPU:1``, ``CPU:0``),
    each of which must exist (InputError naming those that do), on either backend."""
    present = device_names()
    if requested == "all":
        gpus = [d for d in present if d.startswith("GPU:")]
        return gpus or ["CPU:0"]
    # the options' rule of the list's form
    chosen = checked(PredictOptions, "devices", requested).split(",")
    missing = [d for d in chosen if d not in present]
    if missing or len(set(chosen)) < len(chosen):
        problem = f"no {', '.join(missing)} here" if missing else "a device named twice"
        raise InputError(
            f"{argument('devices', requested)}: {problem}; this machine has {', '.join(present)}"
        )
    return chosen


def at_precision(model: keras.Model, precision: str, device: str | None = None) -> keras.Model:
    """A copy of ``model`` (same weights) whose layers compute in ``precision``, its output
    layers in float32, its variables placed on ``device`` (None: the backend's choice); the
    model itself where nothing changes."""
    if precision == "float32" and device is None:
        return model
    policy = "float32" if precision == "float32" else f"mixed_{precision}"
    heads = set(model.output_names)  # the layers that produce the outputs

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in heads else policy
        return layer.__class__.from_config(config)

    with on_device(device):
        copy = keras.models.clone_model(model, clone_function=clone)
        copy.set_weights(model.get_weights())
    return copy
