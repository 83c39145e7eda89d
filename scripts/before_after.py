"""Render the README's before/after figure from a ``crmss demo`` folder: the cloudy test
product's true colour, crmss's output on it, and the cloud-free product of the pair (sensed
ten days earlier), over the same window of the 10 m grid, with one fixed stretch.

    python scripts/before_after.py demo docs/before_after.png

The demo's model is tiny and trained for minutes on synthetic land: the figure shows what the
command writes and how to look at it, not what a fully trained CR-MSS achieves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

import crmss  # noqa: E402

#: true colour: B04, B03, B02 (positions in the 10 m stack B02, B03, B04, B08), reflectance x 3.5
RGB, STRETCH = (2, 1, 0), 3.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path, help="the folder of 'crmss demo --out'")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    gdal.UseExceptions()
    (output,) = sorted((args.demo / "predicted").glob("*_T37UCQ_CR_10m.tif"))
    cloudy_name = output.name.split("_T37UCQ_")[0]
    (cloudy,) = (args.demo / "products").glob(f"{cloudy_name}*")
    (clear,) = [p for p in (args.demo / "products").glob("*PDMC*R064*") if p != cloudy]
    cleaned = np.moveaxis(gdal.Open(str(output)).ReadAsArray(), 0, -1).astype(np.float32) / 10000
    panels = {
        "cloudy input (L1C)": crmss.open_product(cloudy, "T37UCQ").read(
            ("B02", "B03", "B04", "B08")
        ),
        "crmss predict": cleaned,
        "cloud-free, 10 days earlier": crmss.open_product(clear, "T37UCQ").read(
            ("B02", "B03", "B04", "B08")
        ),
    }
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4), constrained_layout=True)
    for axis, (title, stack) in zip(axes, panels.items()):
        axis.imshow(np.clip(stack[..., RGB] * STRETCH, 0, 1))
        axis.set_title(title, fontsize=12)
        axis.set_axis_off()
    figure.suptitle(
        "Sentinel-2 true colour (B04, B03, B02), synthetic demo tile T37UCQ", fontsize=12
    )
    figure.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
