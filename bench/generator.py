"""The CR-MSS generator's speed through any Keras 3 backend: TensorFlow, or JAX where no
TensorFlow built for the GPU is at hand. The generator is plain Keras 3 layers (crmss/nn/model.py),
so both run the same network; JAX compiles it with XLA.

Prints, from one run on one machine, per precision (float32, mixed bfloat16, mixed float16):
  * a matmul in that type (8192^2 on a GPU, 2048^2 on a CPU): the compute ceiling;
  * the generator's prediction on batches of 1024/512 px tiles as crmss predict feeds it
    (Model.predict_on_batch: host arrays in and out), seconds per tile and for a 10980 px
    product (169 tiles of 1024 px overlapping by 128); and with the tiles already in device
    memory (the compute alone): seconds per tile, GFLOP/s (counted from the layer shapes) and
    its share of the matmul;
  * a generator update on 256/128 px patches, batch 1 (Model.train_on_batch, L1 loss, Adam; loss
    scaling under float16): steps/s. That is the generator's half of a training step only; the
    GAN step (critic and generator) is bench/train.py's, on TensorFlow.

    python bench/generator.py --backend jax
    python bench/generator.py --backend tensorflow --width 16 --tile 256 --precisions float32
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "jax"),
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
    )
    parser.add_argument(
        "--width", type=int, default=64, help="the generator's gf_dim (default: the paper's 64)"
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=1024,
        help="10 m side of a prediction tile (default: crmss predict's)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="tiles per call (default: 4 on a GPU, 1 on a CPU, as crmss predict)",
    )
    parser.add_argument("--precisions", nargs="+", choices=tuple(POLICIES), default=list(POLICIES))
    args = parser.parse_args()
    if args.tile <= 128 or args.tile % 32:
        parser.error("--tile: a multiple of 32 px above crmss predict's overlap of 128 px")
    return args


def generator_rates(
    precision: str, args: argparse.Namespace, batch: int
) -> tuple[float, float, float]:
    """(seconds per prediction tile from and to host memory, the same with the tiles in device
    memory, generator updates per second) at ``precision``."""
    import keras
    import numpy as np
    from measure import resident_call, timed

    from crmss.nn.model import build_generator

    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        rng = np.random.default_rng(0)
        tiles = [
            rng.random((batch, args.tile, args.tile, 4), np.float32),
            rng.random((batch, args.tile // 2, args.tile // 2, 6), np.float32),
        ]
        predictor = build_generator(args.width)
        per_tile = timed(lambda: predictor.predict_on_batch(tiles), 2) / batch
        resident = timed(resident_call(predictor, tiles), 2) / batch
        patches = [
            rng.random((1, 256, 256, 4), np.float32),
            rng.random((1, 128, 128, 6), np.float32),
        ]
        learner = build_generator(args.width)
        learner.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="mae")
        steps_s = 1 / timed(lambda: learner.train_on_batch(patches, patches), 5)
    finally:
        keras.config.set_dtype_policy("float32")
    return per_tile, resident, steps_s


def main() -> None:
    args = arguments()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from measure import backend_line, generator_flops, gpu_name, matmul_gflops

    from crmss.inference.blending import tile_starts

    gpu = gpu_name()
    batch = args.batch_size or (4 if gpu else 1)
    n = 8192 if gpu else 2048
    flops = generator_flops(args.tile, args.width)
    tiles = len(tile_starts(10980, args.tile, 128)) ** 2
    print(f"{backend_line()}; device: {gpu or 'CPU (no GPU seen)'}; {os.cpu_count()} CPU cores")
    print(
        f"generator width {args.width}: {flops / 1e9:.3g} GFLOP per "
        f"{args.tile}/{args.tile // 2} px tile pair; batch {batch}"
    )
    for precision in args.precisions:
        ceiling = matmul_gflops(n, precision)
        per_tile, resident, steps_s = generator_rates(precision, args, batch)
        rate = flops / resident / 1e9
        print(
            f"{precision:>8}: matmul {n}^2 {ceiling:9.1f} GFLOP/s; prediction {per_tile:7.3f} s "
            f"per tile from host memory, {resident:7.3f} s "
            f"in device memory: {rate:8.1f} GFLOP/s = {rate / ceiling:4.0%} of the matmul; a "
            f"10980 px product's {tiles} tiles "
            f"{per_tile * tiles:6.1f} s; generator updates (256 px, batch 1) {steps_s:6.1f} steps/s"
        )


if __name__ == "__main__":
    main()
