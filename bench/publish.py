"""Time how ``crmss predict`` writes one full-size output, beside plain GDAL writing the same COG.

``crmss.io.cog.StreamedCOG`` on a 10980 x 10980 x 4 uint16 raster (a full product's 10 m
output): the rows written in 896-row strips with ``pwrite``, the overviews, the COG copy, and
the check that the COG equals the rows written (a second full read), each timed. The ceiling:
``gdal.Translate`` of the same array from memory to a COG with the same options (GDAL making
the overviews itself). The pixels are a smooth synthetic reflectance field with a no-data
corner, so the codec works as on real outputs.

    python bench/publish.py --work bench-data
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array, osr

from crmss.io.cog import BLOCK, StreamedCOG, overview_factors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="a folder for the outputs (about 2 GB while running)",
    )
    parser.add_argument(
        "--size", type=int, default=10980, help="side in px (default 10980, a full product at 10 m)"
    )
    parser.add_argument("--compress", default="zstd", choices=("zstd", "deflate"))
    args = parser.parse_args()
    folder = args.work / "publish"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    size, bands = args.size, ("B02", "B03", "B04", "B08")
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rng = np.random.default_rng(0)
    pixels = np.empty((size, size, len(bands)), np.uint16)
    for i in range(len(bands)):
        field = (
            800
            + 1500 * (i + 1) * (0.5 + 0.5 * np.sin(7 * x + 3 * i) * np.cos(5 * y))
            + rng.normal(0, 30, (size, size))
        )
        pixels[..., i] = np.clip(field, 1, 65535)
    pixels[: size // 5, : size // 3] = 0  # a no-data corner, as at a swath edge
    del x, y
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32650)
    geotransform = (399960.0, 10.0, 0.0, 4500000.0, 0.0, -10.0)

    times = {}
    start = time.perf_counter()
    output = StreamedCOG(
        folder / "streamed.tif", size, size, bands, geotransform, srs.ExportToWkt(), {}
    )
    for top in range(0, size, 896):
        output.write(pixels[top : top + 896], top)
    times["rows written (pwrite, with the no-data check)"] = time.perf_counter() - start
    check = output._check_copy
    checked = []
    output._check_copy = lambda block: checked.append(_timed(check, block))
    start = time.perf_counter()
    output.finish(args.compress, overview_factors(size, size), BLOCK)
    finish = time.perf_counter() - start
    times["check: the COG read back and compared with the rows"] = checked[0]
    times["overviews and COG copy"] = finish - checked[0]
    output.publish()

    memory = gdal_array.OpenArray(np.moveaxis(pixels, -1, 0))
    memory.SetGeoTransform(geotransform)
    memory.SetProjection(srs.ExportToWkt())
    for i in range(len(bands)):
        memory.GetRasterBand(i + 1).SetNoDataValue(0)
    start = time.perf_counter()
    gdal.Translate(
        str(folder / "plain.tif"),
        memory,
        format="COG",
        creationOptions=[
            f"COMPRESS={args.compress.upper()}",
            "LEVEL=1",
            "PREDICTOR=2",
            f"BLOCKSIZE={BLOCK}",
            "RESAMPLING=AVERAGE",
            "NUM_THREADS=ALL_CPUS",
            "BIGTIFF=IF_SAFER",
        ],
    )
    plain = time.perf_counter() - start
    same = np.array_equal(
        gdal.Open(str(folder / "streamed.tif")).ReadAsArray(),
        gdal.Open(str(folder / "plain.tif")).ReadAsArray(),
    )

    total = sum(times.values())
    print(
        f"machine: {platform.machine()}, GDAL {gdal.__version__}; {size} x {size} x {len(bands)} "
        f"uint16 ({pixels.nbytes / 1e9:.2f} GB), "
        f"{args.compress.upper()} COG"
    )
    for what, seconds in times.items():
        print(f"  {what:<55} {seconds:6.1f} s")
    print(f"  {'StreamedCOG in all':<55} {total:6.1f} s")
    print(
        f"ceiling: gdal.Translate of the array in memory to a COG    {plain:6.1f} s   (ratio "
        f"{total / plain:.2f}; same pixels: {same})"
    )
    shutil.rmtree(folder)


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
