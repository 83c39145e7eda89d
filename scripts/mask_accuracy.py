"""How well the named masks (``--mask haze`` and ``--mask s2cloudless``) find the cloud of a
folder of synthetic pairs: for each pair of a split list and each mask, the share of clear 40 m
blocks it flags and of cloud-affected blocks it misses, with the truth the cloudy product's B02
more than 0.02 above the cloud-free product's (the threshold ``crmss test`` calls clear by);
then the share of each land-cover class of three cloud-free 768 px scenes (seeds 0 to 2) that
each mask flags, where the false alarms lie.

    python scripts/mask_accuracy.py demo/products demo/split.csv

docs/cleaned-scenes.md records its output for the demo's pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import crmss
from crmss.core.bands import RESOLUTION
from crmss.dataset.cloud_masks import (
    MASK_FACTOR,
    S2CLOUDLESS_BANDS,
    coarse,
    haze_mask,
    s2cloudless_mask,
    sampled,
)
from crmss.dataset.land import CLASSES
from crmss.dataset.splits import read_split
from crmss.dataset.synthetic import Scene
from crmss.inference.masks import scene_weights
from crmss.io.discovery import find_products, locate
from crmss.io.names import ProductName

#: how much brighter than the cloud-free product a cloud-affected pixel's B02 is
CLOUDY_B02 = 0.02
MASKS = ("haze", "s2cloudless")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("products", type=Path, help="the folder of the synthetic products")
    parser.add_argument("split", type=Path, help="their split list")
    args = parser.parse_args()
    found = find_products(args.products)
    print("pair                 cloud-affected  mask         clear flagged  cloud missed")
    for pair in read_split(args.split):
        cloudy, clear = (
            crmss.open_product(locate(name, found), ProductName.of(name).tile)
            for name in (pair.cloudy, pair.clear)
        )
        blocks = coarse(np.concatenate([cloudy.read(("B02",)), clear.read(("B02",))], -1))
        valid = (blocks > 0).all(-1)
        truth = (blocks[..., 0] - blocks[..., 1] > CLOUDY_B02)[valid]
        for mask in MASKS:
            weights = scene_weights(mask, cloudy, cloudy.grid())
            assert weights is not None
            flagged = (weights.coarse == 1)[valid]  # the blocks found, before the ramp
            print(
                f"{pair.key:<20} {truth.mean():>14.1%}  {mask:<12} "
                f"{flagged[~truth].mean():>13.1%} {(~flagged[truth]).mean():>13.1%}"
            )
    flagged_land()


def flagged_land() -> None:
    """Print the share of each class of three cloud-free 768 px scenes that each mask flags on
    the weights' 40 m grid (a block's class: the class of its most pixels)."""
    flagged = {mask: np.zeros(len(CLASSES)) for mask in MASKS}
    counts = np.zeros(len(CLASSES))
    for seed in range(3):
        scene = Scene(768, seed=seed, cloud_cover=0.0)
        shape = (768 // MASK_FACTOR,) * 2
        bands = {
            band: sampled(scene.clear(band), 6, shape)
            if RESOLUTION[band] == 60
            else coarse(scene.clear(band)[..., None], MASK_FACTOR * 10 // RESOLUTION[band])[..., 0]
            for band in S2CLOUDLESS_BANDS
        }
        found = {
            "haze": haze_mask(bands["B02"], bands["B04"]),
            "s2cloudless": s2cloudless_mask(np.stack([bands[b] for b in S2CLOUDLESS_BANDS], -1)),
        }
        cover = _majority(scene.land.cover, len(CLASSES))
        counts += np.bincount(cover.ravel(), minlength=len(CLASSES))
        for mask in MASKS:
            flagged[mask] += np.bincount(cover[found[mask]], minlength=len(CLASSES))
    print("land cover (cloud-free)  " + "  ".join(f"{m:>11}" for m in MASKS))
    for index, name in enumerate(CLASSES):
        shares = [flagged[m][index] / max(counts[index], 1) for m in MASKS]
        print(f"{name:<24} " + "  ".join(f"{share:>11.1%}" for share in shares))


def _majority(cover: np.ndarray, classes: int) -> np.ndarray:
    """The commonest class of each MASK_FACTOR x MASK_FACTOR block of a 10 m class map."""
    rows, cols = (size // MASK_FACTOR for size in cover.shape)
    blocks = cover[: rows * MASK_FACTOR, : cols * MASK_FACTOR].reshape(
        rows, MASK_FACTOR, cols, MASK_FACTOR
    )
    one_hot = np.eye(classes, dtype=np.int16)[blocks].sum(axis=(1, 3))
    return one_hot.argmax(-1)


if __name__ == "__main__":
    main()
