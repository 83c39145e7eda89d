"""Benchmark CR-MSS training at full size (256/128 px patches), on Keras's TensorFlow or JAX
backend (KERAS_BACKEND).

Prints, from one run on one machine, each beside its ceiling:
  * a large matmul (2048^2 on CPU, 8192^2 on GPU) in GFLOP/s: the ceiling;
  * the generator's forward pass in patch pairs/s and GFLOP/s (FLOPs counted from the layer
    shapes: 2 x MACs of every convolution), and its ratio to the matmul;
  * full training steps per second (one critic and one generator update) at each batch size;
  * the input pipeline (crmss.nn.pipeline.make_dataset over a prepared tree, augmentation on:
    tf.data on TensorFlow, the PyDataset on JAX) in patch pairs/s, and its ratio to the training
    rate (target >= 10).
The forward pass and training steps are measured in float32 and again with the policy of
``train --mixed-precision`` on this machine (crmss/nn/precision.py: bfloat16 on CPUs and on GPUs of
compute capability 8.0 or more, else float16), beside a matmul in that type.

    python bench/train.py --work bench-data                 # prepares a small synthetic tree once
    python bench/train.py --work bench-data --data DATA     # or use an existing prepared tree
    KERAS_BACKEND=jax python bench/train.py --work bench-data --batches 1 8
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from measure import (  # noqa: E402
    backend_line,
    generator_flops,
    gpu_name,
    matmul_gflops,
    resident_call,
    timed,
)

from crmss.core.options import TrainOptions  # noqa: E402
from crmss.dataset.tree import load_patches, merge  # noqa: E402
from crmss.nn.model import build_generator  # noqa: E402
from crmss.nn.pipeline import make_dataset  # noqa: E402
from crmss.nn.precision import training_policy  # noqa: E402
from crmss.nn.training import build_gan  # noqa: E402


def forward_rate(width: int, batch: int, size: int) -> float:
    """Patch pairs per second through the generator, the inputs in device memory."""
    rng = np.random.default_rng(0)
    tiles = [
        rng.random((batch, size, size, 4), np.float32),
        rng.random((batch, size // 2, size // 2, 6), np.float32),
    ]
    return batch / timed(resident_call(build_generator(width), tiles), 3)


def train_rate(batch, options: TrainOptions) -> float:
    """Training steps per second on ``batch`` (already in device memory), through Keras's own
    compiled train function, by ``train_on_batch``: each call also waits for the step and reads
    its logs, as ``fit``'s callbacks do every step (crmss's StopOnNonFinite)."""
    gan = build_gan(options)
    x, y = ([ops.convert_to_tensor(np.asarray(s)) for s in half] for half in batch)
    return 1 / timed(lambda: gan.train_on_batch(x, y, return_dict=True), 3)


def input_rate(patches, seconds: float = 20.0) -> float:
    """Patch pairs per second read and augmented by the input pipeline, batch 1."""
    iterator = iter(make_dataset(patches, 1, repeat=True))
    for _ in range(20):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += 1
    return count / (time.perf_counter() - start)


def prepared_tree(work: Path) -> Path:
    from crmss.core.options import PrepareOptions
    from crmss.dataset.prepare import prepare
    from crmss.dataset.splits import read_split, write_split
    from crmss.dataset.synthetic import write_pair

    data = work / "train-data"
    if not (data / "manifest.json").exists():
        pairs = read_split()[:2]
        for pair in pairs:
            write_pair(work / "train-products", pair.clear, pair.cloudy, size=2052, seed=3)
        write_split(work / "train-split.csv", pairs)
        prepare(
            PrepareOptions(
                work / "train-products", data, split=work / "train-split.csv", progress=False
            )
        )
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work", type=Path, required=True, help="folder for a small synthetic prepared tree"
    )
    parser.add_argument(
        "--data", type=Path, help="a prepared tree to read instead (default: made under --work)"
    )
    parser.add_argument("--width", type=int, default=64, help="generator width (default 64)")
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[1], help="training batch sizes (default 1)"
    )
    args = parser.parse_args()

    gpu = gpu_name()
    size, width, n = 256, args.width, 8192 if gpu else 2048
    data = args.data or prepared_tree(args.work)
    patches = merge(list(load_patches(data).values()))
    batches = {
        b: next(iter(make_dataset(patches, b, shuffle=False, augmentation=False)))
        for b in args.batches
    }
    flops = generator_flops(size, width)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu or 'none'}; "
        f"{backend_line()}"
    )
    ceiling = matmul_gflops(n)
    print(f"ceiling, fp32 matmul {n}^2:       {ceiling:8.1f} GFLOP/s")
    print(f"generator: {flops / 1e9:.3g} GFLOP per 256/128 px patch pair (counted from the layers)")
    mixed = training_policy()  # what train --mixed-precision uses on this machine
    rates = {}
    for policy in ("float32", mixed):
        dtype = policy.removeprefix("mixed_")
        keras.mixed_precision.set_global_policy(policy)
        rate = ceiling if dtype == "float32" else matmul_gflops(n, dtype)
        if dtype != "float32":
            print(f"ceiling, {dtype} matmul {n}^2:   {rate:8.1f} GFLOP/s")
        forward_batch = 32 if gpu else 4
        pairs_s = forward_rate(width, forward_batch, size)
        print(
            f"generator forward ({policy}, batch {forward_batch}): {pairs_s:8.2f} patch "
            f"pairs/s  {pairs_s * flops / 1e9:8.1f} GFLOP/s  "
            f"= {pairs_s * flops / 1e9 / rate:.0%} of the {dtype} matmul"
        )
        for b, batch in batches.items():
            options = TrainOptions(
                data=str(data), out="unused", width=width, mixed_precision=policy != "float32"
            )
            rates[policy, b] = steps_s = train_rate(batch, options)
            pairs = len(batch[0][0])  # fewer than b where the tree has fewer patches
            print(
                f"training ({policy}, batch {pairs}, width {width}): {steps_s:8.2f} steps/s "
                f"= {steps_s * pairs:8.2f} patch pairs/s"
            )
    keras.mixed_precision.set_global_policy("float32")
    for b in batches:
        print(
            f"train --mixed-precision ({mixed}) / float32, batch {b}: "
            f"{rates[mixed, b] / rates['float32', b]:.2f}x the steps per second"
        )
    steps_s = rates["float32", args.batches[0]] * args.batches[0]
    pipeline = input_rate(patches)
    print(
        f"input pipeline (read + augment, batch 1): {pipeline:8.1f} patch pairs/s = "
        f"{pipeline / steps_s:.0f}x the training rate (target >= 10x)"
    )


if __name__ == "__main__":
    main()
