"""Benchmark ``crmss predict`` on one synthetic L1C product (10980 px at 10 m: a full tile; or
--size), per precision.

Prints, from one run on one machine:
  * the time to decode the product's ten CR-MSS bands with plain GDAL (all cores), and that of
    the cloud weights of ``--mask haze`` (B02 and B04 decoded again, strip by strip) and, where
    s2cloudless is installed, of ``--mask s2cloudless`` (its ten bands);
  * per precision (--precisions; default float32 and what ``--precision auto`` picks here), a
    large matmul in that type (the compute ceiling) and the generator's own compute on tiles
    as predict runs them: seconds per tile, GFLOP/s, its share of the matmul, and the
    generator's compute for the whole product (seconds per tile x the tiles predict runs);
  * with --whole: ``crmss predict --precision P`` as a user runs it (a new process) on the
    whole product: seconds, its overhead over the generator's compute (target below 15% on
    CPU), its ratio to the decode time (target 1.2 on a GPU), peak resident memory, and the
    speed-up over float32;
  * with --model RUN (a trained run; the untrained default tells nothing about fidelity): each
    precision's outputs against float32's on the same model, per resolution: PSNR (data range
    1), maximum and mean absolute difference in DN (reflectance x 10000), over the whole outputs
    with --whole, else over a --window px square in the middle of the product.

    python bench/predict.py --work bench-data    # reuses WORK/products-10980 of bench/prepare.py
    python bench/predict.py --work bench-data --size 5490 --whole   # a quarter of a product,
    written in a quarter of the time
    python bench/predict.py --work bench-data --model RUN --precisions float32 bfloat16 --whole

Without --model the generator is an untrained width-64 CR-MSS (speed does not depend on the
weights).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from measure import (  # noqa: E402
    backend_line,
    generator_flops,
    gpu_name,
    matmul_gflops,
    resident_call,
    run_child,
    timed,
)
from osgeo import gdal  # noqa: E402

from crmss.core.bands import BANDS_10M, BANDS_20M  # noqa: E402
from crmss.core.options import (
    COG_COMPRESSIONS,  # noqa: E402
    PRECISIONS,  # noqa: E402
)
from crmss.dataset.splits import read_split  # noqa: E402
from crmss.dataset.synthetic import write_pair  # noqa: E402
from crmss.inference.blending import tile_starts  # noqa: E402
from crmss.inference.clean import clean  # noqa: E402
from crmss.inference.masks import scene_weights  # noqa: E402
from crmss.inference.runner import default_batch_size  # noqa: E402
from crmss.io.metadata import USED_BANDS  # noqa: E402
from crmss.io.open import open_product  # noqa: E402
from crmss.nn.model import build_generator, load_generator  # noqa: E402
from crmss.nn.precision import at_precision, choose_precision, local_devices  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="folder holding (or receiving) the synthetic products",
    )
    parser.add_argument(
        "--model", type=Path, help="a trained run folder (default: an untrained width-64 generator)"
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS[1:],
        help="precisions to run (default: float32 and what auto picks; --model adds float32)",
    )
    parser.add_argument(
        "--whole",
        action="store_true",
        help="also run crmss predict on the whole product per precision",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=2048,
        help="side of the fidelity window in 10 m px (without --whole)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=10980,
        help="10 m side of the synthetic product, a multiple of 6 (default: a full tile)",
    )
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=default_batch_size(),
        help="tiles per call (default: as crmss predict)",
    )
    parser.add_argument(
        "--compress",
        default="zstd",
        choices=COG_COMPRESSIONS,
        help="codec of the output COGs (default: as crmss predict)",
    )
    args = parser.parse_args()
    auto = choose_precision("auto", local_devices())
    # float32 is the reference of the speed-up and of --model's fidelity; --precisions alone runs
    # just those
    chosen = args.precisions or [auto.precision]
    precisions = list(
        dict.fromkeys(["float32", *chosen] if args.model or not args.precisions else chosen)
    )

    size = args.size
    products = args.work / f"products-{size}"
    pair = read_split()[0]
    if not products.exists():
        write_pair(args.work / f".staging-{size}", pair.clear, pair.cloudy, size=size, zipped=True)
        (args.work / f".staging-{size}").rename(products)
    path = next(p for p in products.iterdir() if pair.cloudy[11:26] in p.name)
    product = open_product(path)
    run = args.model
    if run is None:
        run = args.work / "predict-run"
        run.mkdir(parents=True, exist_ok=True)
        build_generator(64).save(run / "generator.keras")
    model = load_generator(run)
    width = model.get_layer("e1_conv").filters

    gpu = gpu_name()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu or 'none'}; "
        f"{backend_line()}, GDAL {gdal.__version__}"
    )
    tiles = len(tile_starts(size, args.tile, args.overlap)) ** 2
    print(
        f"product: {size} px at 10 m (zipped JPEG2000), {tiles} tiles of {args.tile} px "
        f"overlapping by {args.overlap}, batch {args.batch_size}, "
        f"{args.compress.upper()} COGs; model {run} (width {width}); auto picks {auto}"
    )

    gdal.SetConfigOption("GDAL_NUM_THREADS", str(len(os.sched_getaffinity(0))))
    start = time.perf_counter()
    for band in USED_BANDS:
        gdal.Open(product.band_files[band]).ReadAsArray()
    decode = time.perf_counter() - start
    gdal.SetConfigOption("GDAL_NUM_THREADS", None)
    print(f"decode of the ten bands alone (plain GDAL):   {decode:7.1f} s")
    start = time.perf_counter()
    clouds = scene_weights("haze", product, product.grid())
    print(
        f"cloud weights of --mask haze (B02, B04):      {time.perf_counter() - start:7.1f} s "
        f"({clouds.cloudy_fraction():.0%} of the scene weighted)"
    )
    if importlib.util.find_spec("s2cloudless"):
        start = time.perf_counter()
        clouds = scene_weights("s2cloudless", product, product.grid())
        print(
            f"cloud weights of --mask s2cloudless (10 bands): {time.perf_counter() - start:5.1f} s "
            f"({clouds.cloudy_fraction():.0%} of the scene weighted)"
        )

    flops = generator_flops(args.tile, width)
    n = 8192 if gpu else 2048
    tiles_in = [
        np.random.default_rng(0).random((args.batch_size, args.tile, args.tile, 4), np.float32),
        np.random.default_rng(1).random(
            (args.batch_size, args.tile // 2, args.tile // 2, 6), np.float32
        ),
    ]
    wholes = {}
    for precision in precisions:
        per_tile = timed(resident_call(at_precision(model, precision), tiles_in), 1)
        per_tile /= args.batch_size
        ceiling = matmul_gflops(n, precision)
        rate = flops / per_tile / 1e9
        print(
            f"{precision:>8}: matmul {n}^2 {ceiling:7.1f} GFLOP/s; generator {per_tile:6.2f} s "
            f"per tile, {rate:7.1f} GFLOP/s "
            f"= {rate / ceiling:.0%} of the matmul; its compute for the product "
            f"{per_tile * tiles:7.1f} s"
        )
        if args.whole:
            out = args.work / f"predicted-{precision}"
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
                "--precision",
                precision,
            ]
            cmd += [
                "--tile",
                str(args.tile),
                "--overlap",
                str(args.overlap),
                "--batch-size",
                str(args.batch_size),
                "--compress",
                args.compress,
            ]
            wholes[precision], peak = run_child([*cmd, "--no-progress"])
            print(
                f"{precision:>8}: crmss predict, whole product {wholes[precision]:7.1f} s, "
                "overhead over the generator's compute "
                f"{wholes[precision] / (per_tile * tiles) - 1:+.0%} (target < 15% on CPU), ratio "
                f"to decode {wholes[precision] / decode:.2f}, "
                f"peak memory {peak:.2f} GB"
                + (
                    f", {wholes['float32'] / wholes[precision]:.2f}x float32's speed"
                    if "float32" in wholes and precision != "float32"
                    else ""
                )
            )
    if args.model:
        fidelity(product, model, precisions, args)


def fidelity(product, model, precisions: list[str], args) -> None:
    """Each precision's outputs against float32's (``precisions[0]``) on the same trained model."""
    if args.whole:
        outputs = {
            p: [
                np.moveaxis(gdal.Open(str(f)).ReadAsArray(), 0, -1) / 10000
                for f in sorted((args.work / f"predicted-{p}").glob("*.tif"))
            ]
            for p in precisions
        }
        where = "whole product"
    else:
        side = args.window
        corner = (args.size - side) // 2 // 2 * 2
        window = (corner, corner, side, side)
        x = [product.read(BANDS_10M, window), product.read(BANDS_20M, window)]
        outputs = {
            p: clean(
                model,
                *x,
                tile=args.tile,
                overlap=args.overlap,
                batch_size=args.batch_size,
                precision=p,
            )
            for p in precisions
        }
        where = f"{side} px window"
    for precision in precisions[1:]:
        for res, a, b in zip(("10m", "20m"), outputs["float32"], outputs[precision]):
            difference = np.abs(a.astype(np.float64) - b)
            psnr = 10 * np.log10(1 / np.mean(difference**2))
            print(
                f"fidelity {precision} vs float32, {res}, {where}: PSNR {psnr:5.1f} dB, max "
                f"{difference.max() * 1e4:6.0f} DN, "
                f"mean {difference.mean() * 1e4:6.2f} DN"
            )


if __name__ == "__main__":
    main()
