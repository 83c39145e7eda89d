"""Where a scene's strips come from while a product is cleaned: :func:`strip_source` gives
crmss/inference/strips.py its ``read_strip(top)``, strips of uint16 reflectance x 10000 with
their no-data masks, either read with GDAL strip by strip (the bands in parallel) or cut from
the bands decoded whole on the GPU (crmss/io/gpu_decode.py), which falls back to GDAL with a
warning.

Imports crmss/io (the granule, GDAL's band readers, the GPU decoder) and the strip engine's
types; crmss/inference/predict.py uses it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.bands import STACKS
from ..dataset.windows import SCALE
from ..io.gpu_decode import decode_jp2
from ..io.granule import Granule
from ..io.raster import BandReader, Grid, read_file
from .strips import StripReader

logger = logging.getLogger(__name__)


def strip_source(
    product: Granule,
    grid: Grid,
    stacks: tuple[str, ...],
    tile: int,
    pool: ThreadPoolExecutor,
    decoder: str,
) -> StripReader:
    """``read_strip(top)`` for crmss/inference/strips.py over the ``stacks`` of ``product``: strips
    cut from the bands decoded whole on the GPU where ``decoder`` is gpu and the GPU decodes them,
    else read with GDAL strip by strip, the bands in parallel in ``pool``."""
    bands = [band for res in stacks for band in STACKS[res]]
    whole = _decoded_on_gpu(product, grid, bands) if decoder == "gpu" else None
    if whole is not None:
        return lambda top: _cut_strip(product, whole, stacks, top, tile)
    readers = {band: BandReader(product.band_files[band]) for band in bands}
    return lambda top: _read_strip(product, readers, stacks, top, tile, pool)


def _decoded_on_gpu(product: Granule, grid: Grid, bands: list[str]) -> dict[str, np.ndarray] | None:
    """``bands`` of ``product`` decoded whole on the GPU in one batch, (rows, cols) uint16 DNs
    each, checked against the product's grid; None, with a warning, where the GPU cannot decode
    them (GDAL then does, and names a corrupt file)."""
    try:
        arrays = decode_jp2([read_file(product.band_files[band]) for band in bands])
    except (OSError, RuntimeError) as exc:
        logger.warning(
            f"{product.name}: its bands cannot be decoded on the GPU ({exc}); decoding "
            "them with GDAL"
        )
        return None
    for band, array in zip(bands, arrays):
        scale = SCALE["10m" if band in STACKS["10m"] else "20m"]
        expected = (grid.height // scale, grid.width // scale)
        if array.shape != expected or array.dtype != np.uint16:
            logger.warning(
                f"{product.name}: {band} decoded on the GPU as {array.dtype} {array.shape}, but "
                f"its header says uint16 {expected}; "
                "decoding the bands with GDAL"
            )
            return None
    return dict(zip(bands, arrays))


def _cut_strip(
    product: Granule, whole: dict[str, np.ndarray], stacks: tuple[str, ...], top: int, tile: int
) -> dict:
    """Rows top..top+tile of the ``stacks`` cut from ``whole`` decoded bands, as
    :func:`_read_strip` gives them."""
    strips = {}
    for res in stacks:
        s = SCALE[res]
        strips[res] = np.stack(
            [whole[band][top // s : top // s + tile // s] for band in STACKS[res]], axis=-1
        )
        for i, band in enumerate(STACKS[res]):
            product.to_reflectance_x10000(band, strips[res][..., i])
    return _with_nodata(strips)


def _read_strip(
    product: Granule,
    readers: dict,
    stacks: tuple[str, ...],
    top: int,
    tile: int,
    pool: ThreadPoolExecutor,
) -> dict:
    """Rows top..top+tile of the ``stacks`` as uint16 reflectance x 10000 (rows, cols, bands),
    with the no-data mask (rows, cols) of each resolution; bands decoded in parallel (each
    band's reader by one thread at a time), straight into their channel of the stack."""
    strips = {}
    for res in stacks:
        s, bands = SCALE[res], STACKS[res]
        first = readers[bands[0]]
        strips[res] = np.empty(
            (min(tile // s, first.height - top // s), first.width, len(bands)), np.uint16
        )

    def read(task):
        res, i, band = task
        buffer = strips[res][..., i]  # strided: GDAL writes every len(bands)-th value
        readers[band].read_rows(top // SCALE[res], buffer)
        product.to_reflectance_x10000(band, buffer)

    list(pool.map(read, [(res, i, band) for res in stacks for i, band in enumerate(STACKS[res])]))
    return _with_nodata(strips)


def _with_nodata(strips: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each stack with its no-data mask (rows, cols): True where any of its bands is 0."""
    return {res: (stack, (stack == 0).any(axis=-1)) for res, stack in strips.items()}
