"""Where a product's cleaned scene takes the network's output: the cloud weights of
``--mask`` (crmss/dataset/cloud_masks.py) for one granule, from crmss's haze measure on the
granule's own bands or from a mask raster the user gives (resampled to the granule's grid)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.bands import BANDS_10M
from ..dataset.cloud_masks import HAZE_BANDS, MASK_FACTOR, RAMP_M, CloudWeights, coarse
from ..io.granule import Granule
from ..io.raster import BandReader, Grid, mask_on_grid

logger = logging.getLogger(__name__)

#: a mask raster marking more of a granule than this is named in a warning (its values may not
#: mean what crmss reads them as)
MOSTLY_CLOUDY = 0.9

#: how each --mask is described in the outputs' metadata (CRMSS_MASK)
HAZE_RECORD = f"haze (Fmask's HOT test on B02 and B04 at {10 * MASK_FACTOR} m, {RAMP_M:g} m ramp)"


def scene_weights(mask: str, granule: Granule, grid: Grid) -> CloudWeights | None:
    """The cloud weights of ``mask`` (``none``, ``haze`` or a raster's path) over ``granule``,
    whose 10 m grid is ``grid``; None for ``none``."""
    if mask == "none":
        return None
    if mask == "haze":
        return CloudWeights.haze(_coarse_blue_red(granule, grid) / np.float32(10000))
    cloudy = mask_on_grid(mask, grid, MASK_FACTOR)
    if cloudy.mean() > MOSTLY_CLOUDY:
        logger.warning(
            f"{granule.name}: the mask {mask} marks {cloudy.mean():.0%} of the granule "
            "cloud-affected; crmss reads a raster's non-zero pixels as cloud (a floating-point "
            "one's values from 0.5, an L2A SCL named *SCL* its classes 3, 8, 9, 10): check that "
            "its values mean that"
        )
    return CloudWeights.from_mask(cloudy, mask)


#: rows of the 10 m grid read at a time for the haze measure (a multiple of MASK_FACTOR)
ROWS = 1024


def _coarse_blue_red(granule: Granule, grid: Grid) -> np.ndarray:
    """B02 and B04 of ``granule`` as reflectance x 10000, averaged on the weights' grid as
    :func:`crmss.dataset.cloud_masks.coarse` averages ``crmss.clean``'s arrays (so a product and
    its arrays get the same weights, whatever the product's packaging and radiometric offset):
    decoded ROWS rows at a time, (ceil(H / MASK_FACTOR), ceil(W / MASK_FACTOR), 2) float32."""
    bands = [BANDS_10M[i] for i in HAZE_BANDS]
    readers = [BandReader(granule.band_files[band]) for band in bands]
    parts = []
    with ThreadPoolExecutor(len(bands)) as pool:  # the two bands decoded side by side
        for top in range(0, grid.height, ROWS):
            dn = np.empty((min(ROWS, grid.height - top), grid.width, len(bands)), np.uint16)

            def read(i: int, top: int = top, dn: np.ndarray = dn) -> None:
                readers[i].read_rows(top, dn[..., i])
                granule.to_reflectance_x10000(bands[i], dn[..., i])

            list(pool.map(read, range(len(bands))))
            parts.append(coarse(dn))
    return np.concatenate(parts)


def mask_record(mask: str, sha256: str | None = None) -> str:
    """How ``mask`` is recorded in the outputs (CRMSS_MASK, part of what makes an output what
    it is): a raster by its SHA-256 (its path, which may differ between machines, in
    CRMSS_MASK_FILE)."""
    if mask in ("none", "haze"):
        return HAZE_RECORD if mask == "haze" else "none (the network's output everywhere)"
    return f"raster with SHA-256 {sha256}"
