"""JPEG2000 decoding of Sentinel-2 band files: GDAL (OpenJPEG, all cores) on the CPU against
nvImageCodec (nvJPEG2000) on the GPU, and whether the two give the same pixels.

    python bench/decode.py FILE.jp2 [FILE.jp2 ...]
    python bench/decode.py --work bench-data        # the ten bands of bench/predict.py's 10980 px
    product
    python bench/decode.py --work bench-data --size 5490
    python bench/decode.py --write-sha256 FILE.jp2  # with GDAL: write FILE.jp2.sha256 for a machine
    without it

Prints per file its pixels and each decoder's seconds and Mpx/s; then the files in one
nvImageCodec batch; then both rates scaled to a whole product's ten bands (4 x 10980^2 +
6 x 5490^2 px = 663 Mpx). The CPU reference is GDAL where it is importable, else OpenCV's
OpenJPEG (one thread; said so). The GPU's pixels are compared with GDAL's, or, without GDAL,
with the SHA-256 of GDAL's pixels in FILE.sha256 beside the file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crmss.io.gpu_decode import decode_jp2, gpu_decoder  # noqa: E402

PRODUCT_MPX = (4 * 10980**2 + 6 * 5490**2) / 1e6


def cpu_decoder() -> tuple[str, object]:
    """(name, function path -> (rows, cols) array) of the CPU reference: GDAL (its own bindings,
    else
    rasterio's), else OpenCV."""
    try:
        from osgeo import gdal

        gdal.UseExceptions()
        gdal.SetConfigOption("GDAL_NUM_THREADS", str(len(os.sched_getaffinity(0))))
        return (
            f"GDAL {gdal.__version__} (OpenJPEG, {len(os.sched_getaffinity(0))} threads)"
        ), lambda path: gdal.Open(str(path)).ReadAsArray()
    except ImportError:
        pass
    try:  # GDAL inside rasterio's wheel, where GDAL's own bindings are not installed
        import rasterio

        threads = len(os.sched_getaffinity(0))

        def read_rasterio(path: Path) -> np.ndarray:
            with rasterio.Env(GDAL_NUM_THREADS=str(threads)), rasterio.open(path) as dataset:
                return dataset.read(1)

        return (
            f"GDAL {rasterio.__gdal_version__} in rasterio {rasterio.__version__} (OpenJPEG, "
            f"{threads} threads)"
        ), read_rasterio
    except ImportError:
        import cv2

        def read(path: Path) -> np.ndarray:
            pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if pixels is None:
                sys.exit(
                    f"{path}: OpenCV cannot decode it, and GDAL is not installed: no CPU reference"
                )
            return pixels

        return f"OpenCV {cv2.__version__} (OpenJPEG, one thread; GDAL is not installed)", read


def sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def reference_pixels(path: Path, cpu_pixels: np.ndarray, cpu_name: str) -> tuple[str, str]:
    """(name, SHA-256) of the pixels the GPU's must equal: GDAL's (decoded here, or from
    FILE.sha256)."""
    sidecar = Path(f"{path}.sha256")
    if cpu_name.startswith("GDAL") or not sidecar.exists():
        return cpu_name.split(" (")[0], sha256(cpu_pixels)
    return "GDAL (FILE.sha256)", sidecar.read_text().split()[0]


def product_bands(work: Path, size: int) -> list[Path]:
    """The ten CR-MSS band files of bench/predict.py's cloudy product of ``size`` px under ``work``,
    copied out of its zip into ``work/bands-<size>`` once."""
    from crmss.dataset.splits import read_split
    from crmss.io.metadata import USED_BANDS
    from crmss.io.open import open_product
    from crmss.io.raster import read_file

    products = work / f"products-{size}"
    if not products.exists():
        sys.exit(f"{products}: no product; run bench/predict.py --work {work} --size {size} first")
    cloudy = read_split()[0].cloudy
    product = open_product(next(p for p in products.iterdir() if cloudy[11:26] in p.name))
    folder = work / f"bands-{size}"
    folder.mkdir(exist_ok=True)
    files = [folder / f"{band}.jp2" for band in USED_BANDS]
    for band, file in zip(USED_BANDS, files):
        if not file.exists():
            file.write_bytes(read_file(product.band_files[band]))
    return files


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def decode_each(
    files: list[Path], cpu_name: str, cpu_decode, gpu: bool
) -> tuple[float, float, float]:
    """Decode each file on the CPU and, with ``gpu``, on the GPU; print a line per file; return
    (Mpx, CPU seconds, GPU seconds) over all files."""
    total_mpx, cpu_s, gpu_s = 0.0, 0.0, 0.0
    for path in files:
        pixels, seconds = timed(lambda p=path: cpu_decode(p))
        mpx = pixels.size / 1e6
        total_mpx, cpu_s = total_mpx + mpx, cpu_s + seconds
        line = (
            f"{path.name}: {pixels.shape[1]} x {pixels.shape[0]} px, "
            f"{path.stat().st_size / 1e6:.1f} MB"
        )
        line += f"; CPU {seconds:6.2f} s ({mpx / seconds:6.1f} Mpx/s)"
        if gpu:
            data = path.read_bytes()
            decode_jp2([data])  # warm-up: the first call loads the codec's kernels
            (on_gpu,), seconds = timed(lambda d=data: decode_jp2([d]))
            gpu_s += seconds
            reference, expected = reference_pixels(path, pixels, cpu_name)
            same = (
                f"same pixels as {reference}"
                if sha256(on_gpu) == expected
                else f"DIFFERENT PIXELS from {reference}'s"
            )
            line += f"; GPU {seconds:6.2f} s ({mpx / seconds:6.1f} Mpx/s), {same}"
        print(line)
    return total_mpx, cpu_s, gpu_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", type=Path, help="JPEG2000 files")
    parser.add_argument(
        "--work", type=Path, help="decode the ten bands of bench/predict.py's product in WORK"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=10980,
        help="with --work: the product's size (as bench/predict.py --size)",
    )
    parser.add_argument(
        "--write-sha256",
        action="store_true",
        help="write FILE.sha256 (GDAL's pixels) beside each file and stop",
    )
    args = parser.parse_args()
    files = args.files + (product_bands(args.work, args.size) if args.work else [])
    if not files:
        parser.error("give JPEG2000 files or --work")
    cpu_name, cpu_decode = cpu_decoder()
    if args.write_sha256:
        for path in files:
            Path(f"{path}.sha256").write_text(sha256(cpu_decode(path)) + "\n")
        return
    gpu = gpu_decoder() is not None
    print(
        f"CPU: {cpu_name}; GPU: "
        f"{'nvImageCodec (nvJPEG2000)' if gpu else 'none (nvImageCodec not installed or no GPU)'}"
    )
    total_mpx, cpu_s, gpu_s = decode_each(files, cpu_name, cpu_decode, gpu)
    scale = PRODUCT_MPX / total_mpx
    print(
        f"all {len(files)} files, {total_mpx:.0f} Mpx: CPU {cpu_s:.2f} s; a 10980 px product's "
        f"ten bands at that rate {scale * cpu_s:.1f} s"
    )
    if gpu:
        encoded = [path.read_bytes() for path in files]
        batch, batch_s = timed(lambda: decode_jp2(encoded))
        same = all(
            sha256(pixels) == reference_pixels(path, cpu_decode(path), cpu_name)[1]
            for path, pixels in zip(files, batch)
        )
        print(
            f"all {len(files)} files on the GPU: one by one {gpu_s:.2f} s, in one batch "
            f"{batch_s:.2f} s ({total_mpx / batch_s:.1f} Mpx/s), "
            + (
                "every file's pixels as the CPU reference's"
                if same
                else "SOME FILES' PIXELS DIFFER from the CPU reference's"
            )
        )
        print(
            f"a 10980 px product's ten bands at the batch rate: {scale * batch_s:.1f} s (target "
            "on an H100: 20 s or less)"
        )


if __name__ == "__main__":
    main()
