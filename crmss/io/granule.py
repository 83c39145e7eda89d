"""One granule of an L1C product, opened: its band files, its radiometry, its grid.

What crmss reads pixels through, whatever the product's packaging (crmss/io/products.py opens
it): band windows as reflectance, decoded DNs turned into reflectance x 10000 in place, and the
10 m / 20 m grid the ten CR-MSS bands must share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.bands import RESOLUTION
from ..core.errors import InputError
from .metadata import QUANTIFICATION, SATURATED, USED_BANDS
from .raster import Grid, RasterInfo, projection_name, raster_info, read_band


def _checked_band(band: str, info: RasterInfo) -> RasterInfo:
    """``info`` of the file of ``band`` once it is seen to be an L1C band file: one UInt16 band,
    georeferenced; InputError naming the file otherwise."""
    if info.bands != 1 or info.dtype != "UInt16":
        raise InputError(
            f"{info.path}: {band} holds {info.bands} band(s) of {info.dtype}, but an L1C band "
            "file holds one UInt16 band; "
            "this is not an L1C band file"
        )
    if not info.projection or info.geotransform == (0.0, 1.0, 0.0, 0.0, 0.0, 1.0):
        raise InputError(
            f"{info.path}: {band} has no georeferencing (no GeoJP2 or GMLJP2 box); "
            "the band file is damaged: download the product again"
        )
    return info


def _off_grid(band: str, info: RasterInfo, grid: Grid) -> InputError:
    """The refusal of a band file that does not lie on the product's 10 m ``grid``."""
    return InputError(
        f"{info.path}: {band} is {info.width} x {info.height} px with geotransform "
        f"{info.geotransform} in {projection_name(info.projection)}, but must lie on the "
        f"{RESOLUTION[band]} m grid the product's other bands share ({grid.describe()}, "
        f"coarsened {RESOLUTION[band] // 10}x); the product is damaged: download it again"
    )


def _implied_grid(info: RasterInfo, scale: int) -> Grid:
    """The 10 m grid a band of ``scale`` x 10 m pixels lies on."""
    x0, dx, rx, y0, ry, dy = info.geotransform
    return Grid(
        info.projection,
        (x0, dx / scale, rx / scale, y0, ry / scale, dy / scale),
        info.width * scale,
        info.height * scale,
    )


@dataclass
class Granule:
    """One granule (tile) of an L1C product, opened (``crmss.open_product`` returns it): the
    product's name and radiometry, the granule's band files.

    Attributes:
        path: the product: its .SAFE folder, zip, bucket tile folder, STAC item file or URL.
        name: the product's name, as its content states it
            (``S2A_MSIL1C_20160413T030542_N0201_R075_T50TMK_20160413T031107``).
        tile: the MGRS tile of the granule, e.g. ``50TMK``.
        naming: the band files' naming: ``compact``, ``long`` (PDMC) or ``bucket`` (a tile folder).
        baseline: the processing baseline, e.g. ``02.01``.
        quantification: the metadata's QUANTIFICATION_VALUE (10000): DN per unit reflectance.
        offsets: RADIO_ADD_OFFSET per band, in DN (0 before baseline 04.00, -1000 after).
        band_files: ESA band name (``B02``) -> the path GDAL opens (``/vsizip/...`` inside a zip).
        saturated: the metadata's SATURATED special value, in DN.
        granules: granules (tiles) of the whole product, 0 where unknown; the outputs of all but
            a one-granule product name the tile.
    """

    path: Path | str
    name: str
    tile: str
    naming: str
    baseline: str
    quantification: int
    offsets: dict[str, int]
    band_files: dict[str, str] = field(repr=False)
    saturated: int = SATURATED
    granules: int = 1

    def to_reflectance_x10000(self, band: str, dn: np.ndarray) -> np.ndarray:
        """Turn decoded DNs into reflectance x 10000, in place.

        Applies the band's offset and the quantification value; 0 (no data) stays 0, saturated
        pixels (the metadata's SATURATED value) become 65535 whatever the baseline, and other
        valid pixels stay at least 1. For baseline 02/03 bands (offset 0, quantification 10000,
        saturation 65535) the DNs are already that, and are left untouched.

        Args:
            band: the ESA band name (``B02``) whose offset applies.
            dn: uint16 DNs as decoded, any shape (strided views too); changed in place.

        Returns:
            ``dn``, now reflectance x 10000 (uint16).
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
            scaled = np.rint(
                (dn.astype(np.float32) + offset) * (QUANTIFICATION / self.quantification)
            )
            dn[...] = np.clip(scaled, 1, 65535, out=scaled)
        dn[nodata] = 0
        dn[saturated] = SATURATED
        return dn

    def read(
        self, bands: tuple[str, ...] | list[str], window: tuple[int, int, int, int] | None = None
    ) -> np.ndarray:
        """Read bands of one resolution as top-of-atmosphere reflectance.

        Args:
            bands: ESA band names of one resolution, in the order wanted (e.g. ``BANDS_10M``:
                B02, B03, B04, B08; ``BANDS_20M``: B05, B06, B07, B8A, B11, B12).
            window: (x, y, width, height) in 10 m px of the product's grid (values divisible by
                2 for 20 m bands), None for the whole granule.

        Returns:
            float32 reflectance, (rows, cols, len(bands)) at the bands' own resolution: offsets
            applied, 0 where no data, saturated pixels 6.5535 (65535 / 10000).

        Raises:
            InputError: bands of several resolutions, bands the product lacks, a window off the
                grid, or a corrupt file.
        """
        resolutions = {RESOLUTION.get(b, 0) for b in bands}
        missing = [b for b in bands if b not in self.band_files]
        if missing or len(resolutions) != 1:
            raise InputError(
                f"{self.path}: cannot read bands {list(bands)} together: give bands of one "
                "resolution that the product "
                f"holds ({', '.join(sorted(self.band_files))})"
            )
        scale = resolutions.pop() // 10
        # one header, not the grid check of all ten bands
        header = raster_info(self.band_files[bands[0]])
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
                f"window {window} is not inside the product's {grid_width} x {grid_height} px "
                "grid at 10 m "
                f"(with values divisible by {scale} for these bands)"
            )
        own = (x // scale, y // scale, width // scale, height // scale)
        dn = np.empty((own[3], own[2], len(bands)), np.uint16)
        for i, band in enumerate(bands):
            read_band(self.band_files[band], out=dn[..., i], window=own)
            self.to_reflectance_x10000(band, dn[..., i])
        return dn.astype(np.float32) / 10000

    def grid(self) -> Grid:
        """The 10 m grid of the ten CR-MSS bands, read from their headers.

        Returns:
            The grid that most bands imply (a 20 m band implies the 10 m grid of twice its
            size), so that a damaged file is the one named, whichever band it is.

        Raises:
            InputError: naming the band file that has no georeferencing, more than one band, a
                type other than UInt16, or lies off the grid the others share.
        """
        infos = {
            band: _checked_band(band, raster_info(self.band_files[band])) for band in USED_BANDS
        }
        implied = {
            band: _implied_grid(info, RESOLUTION[band] // 10) for band, info in infos.items()
        }
        grid = max(
            implied.values(),
            key=lambda candidate: sum(candidate.matches(other) for other in implied.values()),
        )
        for band, info in infos.items():
            if not implied[band].matches(grid):
                raise _off_grid(band, info, grid)
        return grid

    def check_on_grid(self, band: str, grid: Grid) -> None:
        """Refuse the file of ``band`` (one CR-MSS does not read: a 60 m band) unless it is an
        L1C band file on ``grid``, the product's 10 m grid, coarsened to its resolution.

        Raises:
            InputError: naming the band file, as :meth:`grid` names a damaged one.
        """
        info = _checked_band(band, raster_info(self.band_files[band]))
        if not _implied_grid(info, RESOLUTION[band] // 10).matches(grid):
            raise _off_grid(band, info, grid)
