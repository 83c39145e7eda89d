"""Where a product's cleaned scene takes the network's output: the cloud weights of
``--mask`` (crmss/dataset/cloud_masks.py) for one granule, from crmss's haze measure on the
granule's own bands or from a mask raster the user gives (resampled to the granule's grid)."""

from __future__ import annotations

from pathlib import Path

from ..core.bands import BANDS_10M
from ..dataset.cloud_masks import MASK_FACTOR, RAMP_M, CloudWeights, haze_mask
from ..io.granule import Granule
from ..io.raster import Grid, mask_on_grid

#: how each --mask is described in the outputs' metadata (CRMSS_MASK)
HAZE_RECORD = f"haze (Fmask's HOT test on B02 and B04 at {10 * MASK_FACTOR} m, {RAMP_M:g} m ramp)"


def scene_weights(mask: str, granule: Granule, grid: Grid) -> CloudWeights | None:
    """The cloud weights of ``mask`` (``none``, ``haze`` or a raster's path) over ``granule``,
    whose 10 m grid is ``grid``; None for ``none``."""
    if mask == "none":
        return None
    if mask == "haze":
        return CloudWeights.from_mask(haze_mask(granule.read_coarse(BANDS_10M, MASK_FACTOR)), mask)
    return CloudWeights.from_mask(mask_on_grid(mask, grid, MASK_FACTOR), mask)


def mask_record(mask: str, sha256: str | None = None) -> str:
    """How ``mask`` is recorded in the outputs (CRMSS_MASK), a raster by its path and SHA-256."""
    if mask in ("none", "haze"):
        return HAZE_RECORD if mask == "haze" else "none (the network's output everywhere)"
    return f"raster {Path(mask).resolve()} (SHA-256 {sha256})"
