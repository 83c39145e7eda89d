"""How well ``--mask haze`` finds the cloud of a folder of synthetic pairs: for each pair of a
split list, the share of clear 40 m blocks it flags and of cloud-affected blocks it misses, with
the truth the cloudy product's B02 more than 0.02 above the cloud-free product's (the threshold
``crmss test`` calls clear by); then the share of each land-cover class of three cloud-free 768
px scenes (seeds 0 to 2) that the test flags, where the false alarms lie.

    python scripts/mask_accuracy.py demo/products demo/split.csv

docs/cleaned-scenes.md records its output for the demo's pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import crmss
from crmss.dataset.cloud_masks import coarse, haze_mask
from crmss.dataset.land import CLASSES
from crmss.dataset.splits import read_split
from crmss.dataset.synthetic import Scene
from crmss.io.discovery import find_products, locate
from crmss.io.names import ProductName

#: how much brighter than the cloud-free product a cloud-affected pixel's B02 is
CLOUDY_B02 = 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("products", type=Path, help="the folder of the synthetic products")
    parser.add_argument("split", type=Path, help="their split list")
    args = parser.parse_args()
    found = find_products(args.products)
    print("pair                 cloud-affected  clear flagged  cloud missed")
    for pair in read_split(args.split):
        cloudy, clear = (
            crmss.open_product(locate(name, found), ProductName.of(name).tile).read(("B02", "B04"))
            for name in (pair.cloudy, pair.clear)
        )
        blocks = coarse(np.concatenate([cloudy, clear[..., :1]], -1))
        valid = (blocks > 0).all(-1)
        truth = (blocks[..., 0] - blocks[..., 2] > CLOUDY_B02)[valid]
        flagged = haze_mask(blocks[..., 0], blocks[..., 1])[valid]
        print(
            f"{pair.key:<20} {truth.mean():>14.1%} {flagged[~truth].mean():>14.1%} "
            f"{(~flagged[truth]).mean():>13.1%}"
        )
    flagged_land()


def flagged_land() -> None:
    """Print the share of each class of three cloud-free 768 px scenes that the test flags."""
    flagged, counts = np.zeros(len(CLASSES)), np.zeros(len(CLASSES))
    for seed in range(3):
        scene = Scene(768, seed=seed, cloud_cover=0.0)
        hazy = haze_mask(scene.clear("B02"), scene.clear("B04"))
        flagged += np.bincount(scene.land.cover[hazy], minlength=len(CLASSES))
        counts += np.bincount(scene.land.cover.ravel(), minlength=len(CLASSES))
    print("land cover (cloud-free)  flagged")
    for name, share in zip(CLASSES, flagged / np.maximum(counts, 1)):
        print(f"{name:<24} {share:>7.1%}")


if __name__ == "__main__":
    main()
