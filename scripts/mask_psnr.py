"""PSNR of ``crmss predict``'s whole outputs under each named ``--mask`` against the cloud-free
product of the pair, on all, clear and cloud-affected pixels, beside the cloudy input: the
evidence for predict's default mask on whole scenes (``crmss test --mask`` scores patches, and
has no s2cloudless: its patches hold no 60 m bands).

For each testing pair of a split list, the cloudy product is cleaned by the run's best
checkpoint with ``--mask none``, ``haze`` and ``s2cloudless``; a pixel is cloud-affected where
its B02 exceeds the cloud-free product's by more than 0.02 (``crmss test``'s threshold; a 20 m
pixel where any of its four 10 m pixels is), and pixels where either product has no data are
left out. Prints the PSNR (dB, data range 1) per band and the 10 m / 20 m means, averaged over
the pairs::

    python scripts/mask_psnr.py study/products study/split.csv study/runs/crmss /tmp/mask-psnr

docs/cleaned-scenes.md records its output for the study on the synthetic land.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from osgeo import gdal

import crmss
from crmss.core.bands import BANDS_10M, BANDS_20M
from crmss.core.options import PredictOptions
from crmss.dataset.splits import read_split
from crmss.evaluation.metrics import class_metrics, cloud_mask
from crmss.inference.predict import predict_products
from crmss.io.discovery import find_products, locate
from crmss.io.names import ProductName

MASKS = ("none", "haze", "s2cloudless")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("products", type=Path, help="the folder of the products")
    parser.add_argument("split", type=Path, help="their split list")
    parser.add_argument("run", type=Path, help="the trained run (its best checkpoint is used)")
    parser.add_argument("out", type=Path, help="a folder for the outputs")
    args = parser.parse_args()
    found = find_products(args.products)
    rows = []
    for pair in [p for p in read_split(args.split) if p.subset == "test"]:
        cloudy, clear = (
            crmss.open_product(locate(name, found), ProductName.of(name).tile)
            for name in (pair.cloudy, pair.clear)
        )
        stacks = {
            "input": [cloudy.read(BANDS_10M), cloudy.read(BANDS_20M)],
            **{mask: _cleaned(cloudy, args.run, args.out / pair.key / mask) for mask in MASKS},
        }
        truth = [clear.read(BANDS_10M), clear.read(BANDS_20M)]
        classes = _classes(stacks["input"], truth)
        for method, (x10, x20) in stacks.items():
            for bands, predicted, reference, masks in zip(
                (BANDS_10M, BANDS_20M), (x10, x20), truth, classes
            ):
                scores = class_metrics(predicted[None], reference[None], masks)
                for pixels, metrics in scores.items():
                    for band, value in zip(bands, metrics["PSNR"][0]):
                        rows.append((method, pair.key, pixels, band, value))
    table = pd.DataFrame(rows, columns=["method", "pair", "pixels", "band", "psnr"])
    means = table.groupby(["pixels", "method", "band"], sort=False).psnr.mean().unstack("band")
    means = means[list(BANDS_10M + BANDS_20M)].assign(
        **{"10 m": means[list(BANDS_10M)].mean(1), "20 m": means[list(BANDS_20M)].mean(1)}
    )
    print(means.round(2).to_string())


def _cleaned(product: crmss.Granule, run: Path, out: Path) -> list[np.ndarray]:
    """``product`` cleaned by ``run``'s best checkpoint into ``out`` with the mask that is
    ``out``'s name: the 10 m and 20 m stacks as float32 reflectance."""
    predict_products(
        PredictOptions([product.path], run, out, checkpoint="best", mask=out.name, progress=False)
    )
    return [
        np.moveaxis(gdal.Open(str(path)).ReadAsArray(), 0, -1).astype(np.float32) / 10000
        for path in (next(out.glob("*_CR_10m.tif")), next(out.glob("*_CR_20m.tif")))
    ]


def _classes(cloudy: list[np.ndarray], clear: list[np.ndarray]) -> list[dict]:
    """Per resolution, the pixel classes scored: all, clear and cloud-affected, each without
    the pixels where either product has no data; (1, rows, cols) bool masks."""
    cloud = cloud_mask(cloudy[0][None], clear[0][None])
    classes = []
    for given, reference, cloudy_pixels in zip(cloudy, clear, cloud):
        valid = ((given > 0).all(-1) & (reference > 0).all(-1))[None]
        classes.append(
            {"all": valid, "clear": valid & ~cloudy_pixels, "cloud": valid & cloudy_pixels}
        )
    return classes


if __name__ == "__main__":
    main()
