"""One granule of an L1C product, opened: its band files, its radiometry, its grid.

What crmss reads pixels through, whatever the product's packaging (crmss/io/products.py opens
it): band windows as reflectance, decoded DNs turned into reflectance x 10000 in place, and the
10 m / 20 m grid the ten CR-MSS bands must share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.bands import BANDS_10M, RESOLUTION, STACKS
from ..core.errors import InputError
from .metadata import QUANTIFICATION, SATURATED, USED_BANDS
from .raster import Grid, raster_info, read_band, same_projection


@dataclass
class Granule:
    """One granule (tile) of an L1C product, opened: the product's name and radiometry, the granule's band files."""

    path: Path | str  # the product: its .SAFE folder, zip, bucket tile folder, STAC item file or URL
    name: str  # the product's name, as its content states it
    tile: str  # MGRS tile of the granule used, e.g. 50TMK
    naming: str  # the band files' naming: "compact", "long" (PDMC) or "bucket" (a tile folder)
    baseline: str  # processing baseline, e.g. "02.01"
    quantification: int
    offsets: dict[str, int]  # RADIO_ADD_OFFSET per band (0 before baseline 04.00)
    band_files: dict[str, str] = field(repr=False)  # ESA band name -> GDAL path
    saturated: int = SATURATED  # the metadata's SATURATED special value
    granules: int = 1  # granules (tiles) of the whole product, 0 where unknown; outputs of all but a one-granule product name the tile

    def to_reflectance_x10000(self, band: str, dn: np.ndarray) -> np.ndarray:
        """Turn decoded DNs (uint16, any shape, strided views too) into reflectance x 10000 in
        place; return ``dn``.

        Applies the band's offset and the quantification value; 0 (no data) stays 0, saturated
        pixels (the metadata's SATURATED value) become 65535 whatever the baseline, and other
        valid pixels stay at least 1. For baseline 02/03 bands (offset 0, quantification 10000,
        saturation 65535) the DNs are already that, and are left untouched.
        """
        offset = self.offsets.get(band, 0)
        if self.quantification == QUANTIFICATION and offset == 0 and self.saturated == SATURATED:
            return dn
        nodata, saturated = dn == 0, dn == self.saturated
        if self.quantification == QUANTIFICATION and offset < 0:
            # integer path without a wider temporary: max(DN, 1 - offset) + offset
            np.maximum(dn, 1 - offset, out=dn)
            dn -= np.uint16(-offset)
        else:
            scaled = np.rint((dn.astype(np.float32) + offset) * (QUANTIFICATION / self.quantification))
            dn[...] = np.clip(scaled, 1, 65535, out=scaled)
        dn[nodata] = 0
        dn[saturated] = SATURATED
        return dn

    def read(self, bands: tuple[str, ...] | list[str], window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``bands`` of one resolution (e.g. ``BANDS_10M``) as float32 TOA reflectance, (rows,
        cols, len(bands)): offsets applied, 0 where no data, saturated pixels 6.5535 (65535 /
        10000). ``window``: (x, y, width, height) in 10 m px of the product's grid (even values
        for 20 m bands), None for the whole granule. Raises InputError for bands of several
        resolutions, bands the product lacks, a window off the grid, or a corrupt file."""
        resolutions = {RESOLUTION.get(b, 0) for b in bands}
        missing = [b for b in bands if b not in self.band_files]
        if missing or len(resolutions) != 1:
            raise InputError(
                f"{self.path}: cannot read bands {list(bands)} together: give bands of one resolution that the product "
                f"holds ({', '.join(sorted(self.band_files))})"
            )
        scale = resolutions.pop() // 10
        header = raster_info(self.band_files[bands[0]])  # one header, not the grid check of all ten bands
        grid_width, grid_height = header.width * scale, header.height * scale
        x, y, width, height = window or (0, 0, grid_width, grid_height)
        if (
            min(x, y) < 0
            or width <= 0
            or height <= 0
            or x + width > grid_width
            or y + height > grid_height
            or any(v % scale for v in (x, y, width, height))
        ):
            raise InputError(
                f"window {window} is not inside the product's {grid_width} x {grid_height} px grid at 10 m "
                f"(with values divisible by {scale} for these bands)"
            )
        own = (x // scale, y // scale, width // scale, height // scale)
        dn = np.empty((own[3], own[2], len(bands)), np.uint16)
        for i, band in enumerate(bands):
            read_band(self.band_files[band], out=dn[..., i], window=own)
            self.to_reflectance_x10000(band, dn[..., i])
        return dn.astype(np.float32) / 10000

    def grid(self) -> Grid:
        """Read the headers of the ten CR-MSS bands and check they form one 10 m / 20 m grid."""
        infos = {band: raster_info(self.band_files[band]) for band in USED_BANDS}
        ref = infos[BANDS_10M[0]]
        grid = Grid(ref.projection, ref.geotransform, ref.width, ref.height)
        for res, scale in (("10m", 1), ("20m", 2)):
            for band in STACKS[res]:
                info = infos[band]
                expected = (grid.width / scale, grid.height / scale, grid.geotransform_at(scale))
                if (
                    (info.width, info.height) != expected[:2]
                    or not np.allclose(info.geotransform, expected[2], rtol=0, atol=1e-3)
                    or not same_projection(info.projection, grid.projection)
                ):
                    raise InputError(
                        f"{info.path}: {band} is {info.width} x {info.height} px with geotransform {info.geotransform}, "
                        f"but must lie on the product's {res} grid ({grid.describe()}, coarsened {scale}x); the product is damaged: download it again"
                    )
                if info.dtype != "UInt16":
                    raise InputError(f"{info.path}: {band} is {info.dtype}, but L1C bands are UInt16; this is not an L1C band file")
        return grid
