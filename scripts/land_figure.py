"""Render docs/synthetic_land.png: the synthetic land of crmss/dataset/land.py and its clouds, as
the products show them: a scene's land cover, its true and false colour in spring and in summer,
a hilly scene lit by the sun, and the three cloud textures with their shadows, all 1536 px (15 km)
at one stretch; print the statistics docs/synthetic-land.md tabulates.

    python scripts/land_figure.py docs/synthetic_land.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from crmss.dataset.land import CLASSES, Landscape  # noqa: E402
from crmss.dataset.synthetic import Scene  # noqa: E402
from crmss.evaluation.spectrum import spectral_slope  # noqa: E402

SIZE = 1536
#: a colour per land-cover class, in CLASSES order
COLOURS = (
    "#2b6cb0",
    "#1b4d2b",
    "#3f8f3f",
    "#a6d96a",
    "#e6c229",
    "#f28e2b",
    "#76b7b2",
    "#b07a4f",
    "#bdbdbd",
    "#c0392b",
    "#404040",
)
TRUE, FALSE = ("B04", "B03", "B02"), ("B12", "B08", "B04")


def composite(scene: Scene, bands: tuple[str, ...], cloudy: bool = False) -> np.ndarray:
    """(H, W, 3) of ``bands`` at 10 m (20 m bands repeated), stretched by a fixed gain."""
    gain = 3.5 if bands == TRUE else 2.2
    layers = []
    for band in bands:
        image = scene.cloudy(band) if cloudy else scene.clear(band)
        repeat = SIZE // image.shape[0]
        layers.append(np.repeat(np.repeat(image, repeat, 0), repeat, 1))
    return np.clip(np.stack(layers, -1) * gain, 0, 1)


def statistics() -> None:
    """Print the band correlations and spectral slopes of four 768 px midsummer scenes without
    cloud (seeds 0 to 3): their mean, minimum and maximum."""
    pairs = (("B02", "B03"), ("B04", "B08"), ("B11", "B12"), ("B07", "B8A"))
    rows = []
    for seed in range(4):
        scene = Scene(768, seed=seed, cloud_cover=0.0)
        bands = {band: scene.clear(band) for pair in pairs for band in pair}
        rows.append(
            [float(np.corrcoef(bands[a].ravel(), bands[b].ravel())[0, 1]) for a, b in pairs]
            + [spectral_slope(bands["B04"]), spectral_slope(bands["B08"])]
        )
    names = [f"correlation {a}-{b}" for a, b in pairs] + ["slope B04", "slope B08"]
    for name, values in zip(names, np.array(rows).T):
        print(f"{name:<22} {values.mean():6.2f} ({values.min():.2f} to {values.max():.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    out = parser.parse_args().out
    spring = Scene(SIZE, seed=3, cloud_cover=0, landscape=Landscape(day=110, greenness=0.6))
    summer = Scene(SIZE, seed=3, cloud_cover=0, landscape=Landscape(day=225))
    hills = Scene(SIZE, seed=8, cloud_cover=0, landscape=Landscape(relief=1500, day=225))
    clouds = [
        Scene(
            SIZE,
            seed=3,
            cloud_cover=0.5,
            max_thickness=1.0,
            landscape=Landscape(day=225),
            clouds=kind,
        )  # fmt: skip
        for kind in ("haze", "cumulus", "cirrus")
    ]
    panels = [
        ("land cover", summer.land.cover),
        ("spring (day 110), true colour", composite(spring, TRUE)),
        ("summer (day 225), true colour", composite(summer, TRUE)),
        ("summer, B12 B08 B04", composite(summer, FALSE)),
        ("relief 1500 m, sun from the south-east", composite(hills, TRUE)),
        *(
            (f"{kind} and its shadow, summer", composite(scene, TRUE, cloudy=True))
            for kind, scene in zip(("haze", "cumulus", "cirrus"), clouds)
        ),
    ]
    figure, axes = plt.subplots(2, 4, figsize=(16, 8.6), layout="constrained")
    for axis, (title, image) in zip(axes.flat, panels):
        if image.ndim == 2:
            axis.imshow(image, cmap=ListedColormap(COLOURS), vmin=0, vmax=len(CLASSES) - 1,
                        interpolation="nearest")  # fmt: skip
        else:
            axis.imshow(image)
        axis.set_title(title, fontsize=11)
        axis.set_axis_off()
    handles = [Patch(color=c, label=n) for c, n in zip(COLOURS, CLASSES)]
    figure.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=10, frameon=False)
    figure.savefig(out, dpi=50)
    print(f"wrote {out}")
    statistics()


if __name__ == "__main__":
    main()
