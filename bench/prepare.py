"""Benchmark ``crmss prepare`` on one full-size synthetic WHUS2-CR pair.

Prints, from one run on one machine:
  * the ceiling: plain GDAL decoding of the same 20 band files (2 products x 10 bands, read
    from the zips) with all cores (GDAL_NUM_THREADS), in s and MB/s of decoded pixels;
  * ``crmss prepare`` as a user runs it (a new process, start-up included): wall time, its
    ratio to the ceiling (target <= 1.25), patch pairs per second, peak resident memory.

    python bench/prepare.py --work bench-data            # 10980 px tiles, as in WHUS2-CR
    python bench/prepare.py --work /tmp/b --size 3072     # a quicker look

The synthetic products are made once under WORK/products and reused.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from measure import run_child
from osgeo import gdal

from crmss.dataset.splits import read_split, write_split
from crmss.dataset.synthetic import write_pair
from crmss.io.metadata import USED_BANDS
from crmss.io.open import open_product


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="folder for the synthetic products and the prepared tree",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=10980,
        help="10 m side of the synthetic tiles in px (default 10980, a full tile)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="cores to use (default: all)",
    )
    args = parser.parse_args()

    pair = read_split()[0]
    products = args.work / f"products-{args.size}"
    if not products.exists():
        start = time.perf_counter()
        staging = args.work / f".staging-{args.size}"
        shutil.rmtree(staging, ignore_errors=True)
        write_pair(staging, pair.clear, pair.cloudy, size=args.size, zipped=True)
        staging.rename(products)
        print(f"synthetic pair written in {time.perf_counter() - start:.0f} s")
    split = args.work / "split.csv"
    write_split(split, [pair])

    files = [
        open_product(p, pair.tile).band_files[b]
        for p in sorted(products.iterdir())
        for b in USED_BANDS
    ]
    out = args.work / "prepared"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "crmss",
        "prepare",
        "--products",
        str(products),
        "--out",
        str(out),
        "--split",
        str(split),
        "--workers",
        str(args.workers),
        "--no-progress",
    ]
    prepare_s, peak = run_child(cmd)
    windows = sum(1 for _ in (out / "train" / "clear" / "10m" / pair.key).iterdir())

    gdal.SetConfigOption("GDAL_NUM_THREADS", str(args.workers))
    start = time.perf_counter()
    decoded = sum(gdal.Open(f).ReadAsArray().nbytes for f in files)
    decode_s = time.perf_counter() - start

    print(
        f"machine: {platform.machine()}, {args.workers} cores used, {os.cpu_count()} present; "
        f"GDAL {gdal.__version__}; "
        f"Python {platform.python_version()}"
    )
    print(
        f"pair: 2 zipped products, {args.size} px at 10 m, 20 band files, {decoded / 1e6:.0f} "
        f"MB decoded, {windows} windows kept"
    )
    print(
        f"ceiling, plain GDAL decode of the 20 bands: {decode_s:7.1f} s  "
        f"{decoded / 1e6 / decode_s:6.1f} MB/s"
    )
    print(
        f"crmss prepare (start-up included):         {prepare_s:7.1f} s  "
        f"{decoded / 1e6 / prepare_s:6.1f} MB/s  "
        f"{windows / prepare_s:5.1f} patch pairs/s"
    )
    print(f"ratio prepare / decode: {prepare_s / decode_s:.2f} (target <= 1.25)")
    print(f"peak memory of crmss prepare: {peak:.2f} GB")


if __name__ == "__main__":
    main()
