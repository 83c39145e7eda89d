"""Where the generator's time goes, per kind of layer, at float32 and at a reduced precision.

Runs each layer of an untrained width-64 CR-MSS generator on its real inputs (one tile pair of
--tile px, batch 1), each as its own compiled TensorFlow function, as `crmss predict` builds the
model for that precision (crmss/nn/precision.py: the same layers, a mixed policy). Prints per kind
of layer (convolutions, transposed convolutions, instance normalisation, activations,
concatenations, the float32 heads) its count, seconds at each precision, the reduced/float32
ratio, its share of the reduced-precision total and, for convolutions, GFLOP/s; then the matmul
ceiling of each type. Summed layer by layer, so fusion across layers is not seen: compare with
the whole model's time it prints too.

    python bench/layers.py                       # float32 against what --precision auto picks here
    python bench/layers.py --tile 1024 --precision bfloat16
"""

from __future__ import annotations

import argparse
import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from measure import conv_flops, matmul_gflops, timed  # noqa: E402

from crmss.nn.model import build_generator, run_generator  # noqa: E402
from crmss.nn.precision import at_precision, choose_precision, local_devices  # noqa: E402


def kind(layer: keras.layers.Layer) -> str:
    """The row a layer's time is added to."""
    if layer.name.startswith("y"):
        return "output heads (float32)"
    names = {
        "Conv2D": "Conv2D 3x3",
        "Conv2DTranspose": "Conv2DTranspose 4x4",
        "GroupNormalization": "instance norm",
        "LeakyReLU": "LeakyReLU / ReLU",
        "ReLU": "LeakyReLU / ReLU",
        "Concatenate": "Concatenate",
    }
    return names.get(type(layer).__name__, type(layer).__name__)


def per_layer(model: keras.Model, inputs: list) -> dict[str, list[float]]:
    """kind -> [seconds, count, FLOPs] over the model's layers, each run alone on its real
    inputs."""
    values = {id(t): v for t, v in zip(model.inputs, inputs)}
    rows: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0, 0.0])
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        # Keras's private graph: the layer's arguments as KerasTensors
        node = layer._inbound_nodes[0]
        args, kwargs = node.arguments.fill_in(values)
        call = tf.function(lambda *a, layer=layer, **k: layer(*a, **k))
        output = call(*args, **kwargs)
        seconds = timed(lambda call=call, args=args, kwargs=kwargs: call(*args, **kwargs), 3)
        values[id(node.output_tensors[0])] = output
        row = rows[kind(layer)]
        row[0] += seconds
        row[1] += 1
        row[2] += conv_flops(layer)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tile", type=int, default=512, help="10 m side of the tile pair (default 512)"
    )
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument(
        "--precision",
        choices=("bfloat16", "float16"),
        help="the reduced precision (default: what auto picks here)",
    )
    args = parser.parse_args()
    reduced = args.precision or choose_precision("auto", local_devices()).precision
    if reduced == "float32":
        parser.error(
            "auto picks float32 here: name --precision bfloat16 or float16 (it may be "
            "emulated on this CPU)"
        )
    reference = build_generator(args.width, args.tile)
    rng = np.random.default_rng(0)
    x = [
        tf.constant(rng.random((1, side, side, bands), np.float32))
        for side, bands in ((args.tile, 4), (args.tile // 2, 6))
    ]
    results = {}
    for precision in ("float32", reduced):
        model = at_precision(reference, precision)
        whole = tf.function(lambda a, b, m=model: run_generator(m, [a, b]))
        results[precision] = (per_layer(model, x), timed(lambda w=whole: w(*x), 2))
    layers32, whole32 = results["float32"]
    layers16, whole16 = results[reduced]
    total16 = sum(row[0] for row in layers16.values())
    print(
        f"generator width {args.width}, one {args.tile}/{args.tile // 2} px tile pair; float32 "
        f"against {reduced}"
    )
    print(
        f"{'layers':<26}{'count':>6}{'float32 s':>11}{reduced + ' s':>13}{'ratio':>7}{'share':>7}"
        f"{'GFLOP/s f32':>13}{'GFLOP/s red.':>14}"
    )
    for name in sorted(layers16, key=lambda n: -layers16[n][0]):
        s32, count, flops = layers32[name]
        s16 = layers16[name][0]
        rates = f"{flops / s32 / 1e9:13.1f}{flops / s16 / 1e9:14.1f}" if flops else ""
        print(
            f"{name:<26}{count:>6}{s32:11.4f}{s16:13.4f}{s16 / s32:7.2f}{s16 / total16:7.0%}{rates}"
        )
    print(f"{'sum of the layers':<32}{sum(r[0] for r in layers32.values()):11.4f}{total16:13.4f}")
    print(f"{'the whole model, one call':<32}{whole32:11.4f}{whole16:13.4f}")
    for precision in ("float32", reduced):
        print(f"matmul 2048^2 {precision}: {matmul_gflops(2048, precision):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
