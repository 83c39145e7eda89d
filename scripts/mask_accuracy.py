"""How well ``--mask haze`` finds the cloud of a folder of synthetic pairs: for each pair of a
split list, the share of clear 40 m blocks it flags and of cloud-affected blocks it misses, with
the truth the cloudy product's B02 more than 0.02 above the cloud-free product's (the threshold
``crmss test`` calls clear by), and the land the false alarms lie on.

    python scripts/mask_accuracy.py demo/products demo/split.csv

docs/cleaned-scenes.md records its output for the demo's pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import crmss
from crmss.dataset.cloud_masks import coarse, haze_mask
from crmss.dataset.splits import read_split
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


if __name__ == "__main__":
    main()
