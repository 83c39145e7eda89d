"""Render docs/cleaned_scenes.png from a ``crmss demo`` folder: a 10 km corner of the cloudy
testing product, crmss's raw and masked outputs on it, the cloud-free product and the weights,
true colour at one stretch.

    crmss predict DEMO/products/<cloudy> --model DEMO/runs/crmss --out raw --mask none
    crmss predict DEMO/products/<cloudy> --model DEMO/runs/crmss --out masked --mask haze
    python scripts/cleaned_scenes.py DEMO raw masked docs/cleaned_scenes.png

(``crmss demo`` prints the cloudy testing product's path; the demo's own predicted/ is masked.)
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

#: true colour: B04, B03, B02 (positions in the 10 m stack B02, B03, B04, B08); 10 km at 10 m
RGB, SIDE, TOP = (2, 1, 0), 1000, 0.25
TILE = "T37UCQ"


def _stack(path: Path) -> np.ndarray:
    return np.moveaxis(gdal.Open(str(path)).ReadAsArray(), 0, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path, help="the folder of 'crmss demo --out'")
    parser.add_argument("raw", type=Path, help="predict's outputs with --mask none")
    parser.add_argument("masked", type=Path, help="predict's outputs with --mask haze")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    gdal.UseExceptions()
    (raw,) = args.raw.glob(f"*_{TILE}_CR_10m.tif")
    cloudy_name = raw.name.split(f"_{TILE}_")[0]
    (cloudy,) = (args.demo / "products").glob(f"{cloudy_name}*")
    (clear,) = [p for p in (args.demo / "products").glob("*PDMC*R064*") if p != cloudy]
    window = (0, 0, SIDE, SIDE)
    bands = ("B02", "B03", "B04", "B08")
    panels = {
        "cloudy input": crmss.open_product(cloudy, TILE).read(bands, window),
        "--mask none (raw output)": _stack(raw)[:SIDE, :SIDE] / 10000,
        "--mask haze (default)": _stack(args.masked / raw.name)[:SIDE, :SIDE] / 10000,
        "cloud-free product": crmss.open_product(clear, TILE).read(bands, window),
    }
    (weights,) = args.masked.glob(f"*_{TILE}_CR_mask.tif")
    figure, axes = plt.subplots(1, 5, figsize=(16, 3.9), layout="constrained")
    for axis, (title, stack) in zip(axes, panels.items()):
        axis.imshow(np.clip(stack[..., RGB] / TOP, 0, 1))
        axis.set_title(title, fontsize=12)
    percent = gdal.Open(str(weights)).ReadAsArray()[: SIDE // 4, : SIDE // 4]
    shown = axes[-1].imshow(percent, cmap="magma", vmin=0,
                            vmax=100)  # fmt: skip
    axes[-1].set_title("weights: % network output", fontsize=12)
    figure.colorbar(shown, ax=axes[-1], shrink=0.9)
    for axis in axes:
        axis.set_axis_off()
    figure.suptitle(
        f"Demo testing product R064_{TILE}, 10 km x 10 km, true colour B04/B03/B02, same stretch "
        f"(reflectance 0-{TOP})",
        fontsize=12,
    )
    figure.savefig(args.out, dpi=75)


if __name__ == "__main__":
    main()
