"""Benchmark ``crmss predict`` on one full-size synthetic L1C product (10980 px at 10 m).

Prints, from one run on one machine:
  * the time to decode the product's ten CR-MSS bands with plain GDAL (all cores);
  * the generator's own compute on the same pixels: seconds per tile (batch as predict uses)
    times the number of tiles predict runs;
  * ``crmss predict`` as a user runs it (a new process): seconds per product, its overhead over
    the generator's compute (target below 15% on CPU), its ratio to the decode time (target
    1.2 on a GPU), and peak resident memory.

    python bench/predict.py --work bench-data    # reuses WORK/products-10980 of bench/prepare.py

The generator is an untrained width-64 CR-MSS (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from measure import run_child  # noqa: E402
from osgeo import gdal  # noqa: E402

from crmss.model import build_generator  # noqa: E402
from crmss.raster import COG_COMPRESSIONS  # noqa: E402
from crmss.safe import USED_BANDS, open_product  # noqa: E402
from crmss.scene import Generator, default_batch_size, tile_starts  # noqa: E402
from crmss.splits import read_split  # noqa: E402
from crmss.synthetic import write_pair  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder holding (or receiving) the synthetic products")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=default_batch_size(), help="tiles per call (default: as crmss predict)")
    parser.add_argument("--compress", default="zstd", choices=COG_COMPRESSIONS, help="codec of the output COGs (default: as crmss predict)")
    args = parser.parse_args()

    products = args.work / "products-10980"
    pair = read_split()[0]
    if not products.exists():
        write_pair(args.work / ".staging-10980", pair.clear, pair.cloudy, size=10980, zipped=True)
        (args.work / ".staging-10980").rename(products)
    path = next(p for p in products.iterdir() if pair.cloudy[11:26] in p.name)
    product = open_product(path)
    run = args.work / "predict-run"
    run.mkdir(parents=True, exist_ok=True)
    build_generator(64).save(run / "generator.keras")

    gdal.SetConfigOption("GDAL_NUM_THREADS", str(len(os.sched_getaffinity(0))))
    start = time.perf_counter()
    for band in USED_BANDS:
        gdal.Open(product.band_files[band]).ReadAsArray()
    decode = time.perf_counter() - start
    gdal.SetConfigOption("GDAL_NUM_THREADS", None)

    model = Generator.load(run).model  # as predict loads it (a mixed-precision copy on a GPU)
    generator = tf.function(lambda x10, x20: model([x10, x20], training=False))
    tiles = len(tile_starts(10980, args.tile, args.overlap)) ** 2
    x10 = tf.constant(np.random.default_rng(0).random((args.batch_size, args.tile, args.tile, 4), np.float32))
    x20 = tf.constant(np.random.default_rng(1).random((args.batch_size, args.tile // 2, args.tile // 2, 6), np.float32))
    generator(x10, x20)  # tracing
    start = time.perf_counter()
    rounds = 3
    for _ in range(rounds):
        np.asarray(generator(x10, x20)[0])  # waits for the result (on a GPU too)
    per_tile = (time.perf_counter() - start) / (rounds * args.batch_size)
    compute = per_tile * tiles

    out = args.work / "predicted"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "crmss",
        "predict",
        str(path),
        "--model",
        str(run),
        "--out",
        str(out),
        "--tile",
        str(args.tile),
        "--overlap",
        str(args.overlap),
        "--batch-size",
        str(args.batch_size),
        "--compress",
        args.compress,
        "--no-progress",
    ]
    whole, peak = run_child(cmd)

    gpu = tf.config.list_physical_devices("GPU")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {'GPU' if gpu else 'no GPU'}; "
        f"TensorFlow {tf.__version__}, GDAL {gdal.__version__}"
    )
    print(
        f"product: 10980 px at 10 m (zipped JPEG2000), {tiles} tiles of {args.tile} px overlapping by {args.overlap}, batch {args.batch_size}, "
        f"{args.compress.upper()} COGs"
    )
    print(f"decode of the ten bands alone (plain GDAL):   {decode:7.1f} s")
    print(f"generator compute alone on the same tiles:    {compute:7.1f} s  ({per_tile:.2f} s per tile)")
    print(f"crmss predict, whole product:                 {whole:7.1f} s  peak memory {peak:.2f} GB")
    print(f"overhead over the generator's compute: {whole / compute - 1:+.0%} (target < 15% on CPU); ratio to decode: {whole / decode:.2f}")


if __name__ == "__main__":
    main()
