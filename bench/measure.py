"""Shared by the benchmarks: run a command as a user would and measure it; time calls; the
matmul ceiling, the first GPU's name and the generator's FLOPs, under whichever Keras backend
runs (TensorFlow or JAX). Keras is imported only by the functions that use it (bench/prepare.py
runs without it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in a new process; return (wall seconds, peak resident memory in GB). Exits on
    failure."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1e6


def timed(fn, repeats: int) -> float:
    """Seconds per call of ``fn`` (after one warm-up call), the best of three rounds; TensorFlow
    and JAX results are waited for."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            result = fn()
        _block(result)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def _block(result) -> None:
    """Wait for a TensorFlow or JAX result (a tensor, or a list or tuple of them)."""
    for item in result if isinstance(result, (list, tuple)) else [result]:
        if hasattr(item, "block_until_ready"):  # JAX
            item.block_until_ready()
        elif hasattr(item, "numpy"):  # TensorFlow
            item.numpy()


def matmul_gflops(n: int, dtype: str = "float32") -> float:
    """The rate of an n x n matmul in ``dtype`` on the backend's default device (the first GPU
    where it sees one), GFLOP/s: the compute ceiling."""
    import keras
    from keras import ops

    from crmss.nn.backends import jit

    a, b = (ops.cast(keras.random.normal((n, n), seed=seed), dtype) for seed in (0, 1))
    product = jit(ops.matmul)
    return 2 * n**3 / timed(lambda: product(a, b), 3) / 1e9


def gpu_name() -> str | None:
    """The first GPU's name as the Keras backend reports it, None where it sees no GPU."""
    from crmss.nn.backends import gpu_count, on_tensorflow

    if not gpu_count():
        return None
    if on_tensorflow():
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )
        return details.get("device_name", "GPU")
    import jax

    return jax.devices("gpu")[0].device_kind


def resident_call(model, tiles: list):
    """A call of ``model`` on ``tiles`` already in the device's memory, compiled: the compute
    alone, without Model.predict_on_batch's copies between host and device."""
    from keras import ops

    from crmss.nn.backends import compiled

    inputs = [ops.convert_to_tensor(t) for t in tiles]
    call = compiled(model, lambda run, *x: run(x))
    return lambda: call(*inputs)


def backend_line() -> str:
    """Keras's version, its backend and the backend's version, as a report's first line says."""
    import keras

    from crmss.nn.backends import backend_versions

    versions = backend_versions()
    backend = versions.pop("backend")
    return f"Keras {keras.__version__} on {backend} {versions[backend]}"


def generator_flops(size10: int, width: int) -> float:
    """FLOPs (2 x multiply-adds) of one generator pass over a size10 / size10/2 px tile pair,
    counted from the layer shapes."""
    from crmss.nn.model import build_generator

    return sum(conv_flops(layer) for layer in build_generator(width, size10).layers)


def conv_flops(layer) -> float:
    """FLOPs (2 x multiply-adds) of a convolution or transposed convolution layer of a built
    model, from its shapes (its batch of 1); 0 for other layers."""
    import keras

    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        return 0.0
    rows, cols, c_in = layer.input.shape[1:]
    if isinstance(layer, keras.layers.Conv2D):  # per output position
        rows, cols = layer.output.shape[1:3]
    return 2.0 * rows * cols * layer.kernel_size[0] * layer.kernel_size[1] * c_in * layer.filters
