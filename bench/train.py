"""Benchmark CR-MSS training at full size (width 64, 256/128 px patches).

Prints, from one run on one machine, each beside its ceiling:
  * a large fp32 matmul (2048^2 on CPU, 8192^2 on GPU) in GFLOP/s: the ceiling;
  * the generator's forward pass (batch 4) in patch pairs/s and GFLOP/s (FLOPs counted from
    the layer shapes: 2 x MACs of every convolution), and its ratio to the matmul;
  * full training steps per second (one critic and one generator update, batch 1);
  * the input pipeline (crmss.nn.pipeline.make_dataset over a prepared tree, augmentation on) in
    patch pairs/s, and its ratio to the training rate (target >= 10).
The forward pass and training steps are measured in float32 and again with the policy of
``train --mixed-precision`` on this machine (crmss/nn/precision.py: bfloat16 on CPUs and on GPUs of
compute capability 8.0 or more, else float16), beside a matmul in that type.

    python bench/train.py --work bench-data                 # prepares a small synthetic tree once
    python bench/train.py --work bench-data --data DATA     # or use an existing prepared tree
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from measure import generator_flops, matmul_gflops, timed  # noqa: E402

from crmss.core.options import TrainOptions  # noqa: E402
from crmss.dataset.tree import load_patches, merge
from crmss.nn.model import build_generator  # noqa: E402
from crmss.nn.pipeline import make_dataset  # noqa: E402
from crmss.nn.precision import training_policy  # noqa: E402
from crmss.nn.training import build_gan  # noqa: E402


def forward_rate(width: int, batch: int, size: int) -> float:
    generator = build_generator(width)
    x = [
        tf.random.uniform((batch, size, size, 4)),
        tf.random.uniform((batch, size // 2, size // 2, 6)),
    ]
    f = tf.function(lambda: generator(x, training=False))
    return batch / timed(f, 3)


def train_rate(data_batch, options) -> float:
    gan = build_gan(options)
    step = tf.function(gan.train_step)
    return 1 / timed(lambda: step(data_batch), 3)


def input_rate(patches, seconds: float = 20.0) -> float:
    dataset = make_dataset(patches, 1, repeat=True)
    iterator = iter(dataset)
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
    args = parser.parse_args()

    gpu = bool(tf.config.list_physical_devices("GPU"))
    device = "/GPU:0" if gpu else "/CPU:0"
    size, width = 256, 64
    data = args.data or prepared_tree(args.work)
    patches = merge(list(load_patches(data).values()))
    batch = next(iter(make_dataset(patches, 1, shuffle=False, augmentation=False)))
    flops = generator_flops(size, width)

    gpu_name = (
        tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
            "device_name"
        )
        if gpu
        else "none"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu_name}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    ceiling = matmul_gflops(8192 if gpu else 2048, device)
    print(f"ceiling, fp32 matmul {8192 if gpu else 2048}^2:       {ceiling:8.1f} GFLOP/s")
    print(f"generator: {flops / 1e9:.1f} GFLOP per 256/128 px patch pair (counted from the layers)")
    mixed = training_policy()  # what train --mixed-precision uses on this machine
    rows = [("float32", "float32"), (mixed, mixed.removeprefix("mixed_"))]
    rates = {}
    for policy, dtype in rows:
        keras.mixed_precision.set_global_policy(policy)
        rate = (
            ceiling if dtype == "float32" else matmul_gflops(8192 if gpu else 2048, device, dtype)
        )
        if dtype != "float32":
            print(f"ceiling, {dtype} matmul {8192 if gpu else 2048}^2:   {rate:8.1f} GFLOP/s")
        pairs_s = forward_rate(width, 4 if not gpu else 32, size)
        print(
            f"generator forward ({policy}, batch {4 if not gpu else 32}): {pairs_s:8.2f} patch "
            f"pairs/s  {pairs_s * flops / 1e9:8.1f} GFLOP/s  "
            f"= {pairs_s * flops / 1e9 / rate:.0%} of the {dtype} matmul"
        )
        steps_s = train_rate(
            batch,
            TrainOptions(
                data=str(data), out="unused", width=width, mixed_precision=policy != "float32"
            ),
        )
        rates[policy] = steps_s
        print(f"training ({policy}, batch 1, width 64):  {steps_s:8.2f} steps/s = patch pairs/s")
    keras.mixed_precision.set_global_policy("float32")
    print(
        f"train --mixed-precision ({mixed}) / float32: {rates[mixed] / rates['float32']:.2f}x "
        "the steps per second"
    )
    steps_s = rates["float32"]
    pipeline = input_rate(patches)
    print(
        f"input pipeline (read + augment, batch 1): {pipeline:8.1f} patch pairs/s = "
        f"{pipeline / steps_s:.0f}x the training rate (target >= 10x)"
    )


if __name__ == "__main__":
    main()
