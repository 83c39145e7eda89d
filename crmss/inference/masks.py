"""Where a product's cleaned scene takes the network's output: the cloud weights of
``--mask`` (crmss/dataset/cloud_masks.py) for one granule, from crmss's haze measure on the
granule's own bands, from s2cloudless on ten of them, or from a mask raster the user gives
(resampled to the granule's grid)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.bands import BANDS_10M, RESOLUTION
from ..core.errors import InputError
from ..dataset.cloud_masks import (
    HAZE_BANDS,
    MASK_FACTOR,
    RAMP_M,
    S2CLOUDLESS,
    S2CLOUDLESS_BANDS,
    CloudWeights,
    coarse,
    s2cloudless_mask,
    sampled,
)
from ..io.granule import Granule
from ..io.raster import BandReader, Grid, mask_on_grid

logger = logging.getLogger(__name__)

#: a mask raster marking more of a granule than this is named in a warning (its values may not
#: mean what crmss reads them as)
MOSTLY_CLOUDY = 0.9

#: how each named --mask is described in the outputs' metadata (CRMSS_MASK)
RECORDS = {
    "none": "none (the network's output everywhere)",
    "haze": f"haze (Fmask's HOT test on B02 and B04 at {10 * MASK_FACTOR} m, {RAMP_M:g} m ramp)",
    "s2cloudless": (
        f"s2cloudless (threshold {S2CLOUDLESS['threshold']}, averaging and dilation disks of "
        f"{S2CLOUDLESS['average_over']} and {S2CLOUDLESS['dilation_size']} px at "
        f"{10 * MASK_FACTOR} m, {RAMP_M:g} m ramp)"
    ),
}


def scene_weights(mask: str, granule: Granule, grid: Grid) -> CloudWeights | None:
    """The cloud weights of ``mask`` (``none``, ``haze``, ``s2cloudless`` or a raster's path)
    over ``granule``, whose 10 m grid is ``grid``; None for ``none``."""
    if mask == "none":
        return None
    if mask == "haze":
        blue_red = [BANDS_10M[i] for i in HAZE_BANDS]
        return CloudWeights.haze(_coarse_bands(granule, grid, blue_red) / np.float32(10000))
    if mask == "s2cloudless":
        reflectance = _coarse_bands(granule, grid, S2CLOUDLESS_BANDS) / np.float32(10000)
        return CloudWeights.from_mask(s2cloudless_mask(reflectance), "s2cloudless")
    cloudy = mask_on_grid(mask, grid, MASK_FACTOR)
    if cloudy.mean() > MOSTLY_CLOUDY:
        logger.warning(
            f"{granule.name}: the mask {mask} marks {cloudy.mean():.0%} of the granule "
            "cloud-affected; crmss reads a raster's non-zero pixels as cloud (a floating-point "
            "one's values from 0.5, an L2A SCL named *SCL* its classes 3, 8, 9, 10): check that "
            "its values mean that"
        )
    return CloudWeights.from_mask(cloudy, mask)


#: rows of the 10 m grid read at a time (a multiple of MASK_FACTOR)
ROWS = 1024


def _coarse_bands(granule: Granule, grid: Grid, bands: Sequence[str]) -> np.ndarray:
    """``bands`` of ``granule`` as reflectance x 10000 on the weights' grid, each decoded in a
    thread of its own: (ceil(H / MASK_FACTOR), ceil(W / MASK_FACTOR), len(bands)) float32.

    10 m and 20 m bands are averaged over the grid's blocks as
    :func:`crmss.dataset.cloud_masks.coarse` averages ``crmss.clean``'s arrays (so a product and
    its arrays get the same weights, whatever the product's packaging and radiometric offset),
    read ROWS rows of the 10 m grid at a time; a 60 m band is sampled at the blocks' centres
    (nearest neighbour: a 60 m pixel spans one and a half blocks)."""
    missing = [band for band in bands if band not in granule.band_files]
    if missing:
        raise InputError(
            f"{granule.path}: the product has no {', '.join(missing)}, which the cloud mask "
            f"reads ({', '.join(bands)}); give --mask haze or a mask raster"
        )
    with ThreadPoolExecutor(len(bands)) as pool:
        return np.stack(list(pool.map(lambda band: _coarse_band(granule, grid, band), bands)), -1)


def _coarse_band(granule: Granule, grid: Grid, band: str) -> np.ndarray:
    """One band of :func:`_coarse_bands`: (rows, cols) float32."""
    scale, reader = RESOLUTION[band] // 10, BandReader(granule.band_files[band])
    if MASK_FACTOR % scale:  # 60 m: bands predict does not otherwise read, checked here
        granule.check_on_grid(band, grid)
        dn = granule.to_reflectance_x10000(
            band, reader.read_rows(0, np.empty((reader.height, reader.width), np.uint16))
        )
        return sampled(dn, scale, (-(-grid.height // MASK_FACTOR), -(-grid.width // MASK_FACTOR)))
    parts, height, step = [], grid.height // scale, ROWS // scale
    for top in range(0, height, step):
        dn = np.empty((min(step, height - top), grid.width // scale, 1), np.uint16)
        granule.to_reflectance_x10000(band, reader.read_rows(top, dn[..., 0]))
        parts.append(coarse(dn, MASK_FACTOR // scale)[..., 0])
    return np.concatenate(parts)


def mask_record(mask: str, sha256: str | None = None) -> str:
    """How ``mask`` is recorded in the outputs (CRMSS_MASK, part of what makes an output what
    it is): a raster by its SHA-256 (its path, which may differ between machines, in
    CRMSS_MASK_FILE)."""
    if mask in RECORDS:
        return RECORDS[mask]
    return f"raster with SHA-256 {sha256}"
