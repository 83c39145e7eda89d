"""Raster I/O through GDAL: band headers, whole-band decoding, atomic GeoTIFF writing.

Arrays are ``(bands, rows, cols)`` for stacks and ``(rows, cols)`` for single bands. A
geotransform is GDAL's 6-tuple ``(x0, dx, rx, y0, ry, dy)``; a projection is WKT.
"""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from .errors import InputError

gdal.UseExceptions()

TIFF_OPTIONS = ("TILED=NO", "INTERLEAVE=BAND")
#: lossless codecs offered for Cloud-Optimized GeoTIFFs: ZSTD level 1 compresses about 4x
#: faster than DEFLATE level 1 (libdeflate) for 5% more bytes; DEFLATE is for tools built
#: without ZSTD
COG_COMPRESSIONS = ("zstd", "deflate")


@dataclass(frozen=True)
class RasterInfo:
    """The header of one raster file."""

    path: str
    width: int
    height: int
    geotransform: tuple[float, ...]
    projection: str
    dtype: str  # GDAL data type name of band 1, e.g. "UInt16"
    bands: int


@dataclass(frozen=True)
class Grid:
    """The pixel grid of a product's 10 m bands; 20 m bands share origin and projection."""

    projection: str
    geotransform: tuple[float, ...]  # of the 10 m grid
    width: int  # 10 m pixels
    height: int

    def geotransform_at(self, scale: int, col: int = 0, row: int = 0) -> tuple[float, ...]:
        """Geotransform of the grid coarsened ``scale`` times, moved to pixel (col, row) of it."""
        x0, dx, rx, y0, ry, dy = self.geotransform
        dx, rx, ry, dy = dx * scale, rx * scale, ry * scale, dy * scale
        return (x0 + col * dx + row * rx, dx, rx, y0 + col * ry + row * dy, ry, dy)

    def matches(self, other: "Grid") -> bool:
        """Same size, origin, pixel size (to a millimetre) and coordinate system."""
        return (
            (self.width, self.height) == (other.width, other.height)
            and np.allclose(self.geotransform, other.geotransform, rtol=0, atol=1e-3)
            and same_projection(self.projection, other.projection)
        )

    def describe(self) -> str:
        return f"{self.width} x {self.height} px at {self.geotransform[1]:g} m, origin ({self.geotransform[0]:.2f}, {self.geotransform[3]:.2f}), {projection_name(self.projection)}"


def same_projection(wkt_a: str, wkt_b: str) -> bool:
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


def projection_name(wkt: str) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    code = srs.GetAuthorityCode(None)
    return f"EPSG:{code}" if code else srs.GetName() or "unknown CRS"


def _open(path: str) -> gdal.Dataset:
    try:
        return gdal.Open(path)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot open the raster ({exc}); the file is missing or corrupt: download the product again") from exc


def raster_info(path: str) -> RasterInfo:
    """Read a raster's header (no pixel decoding)."""
    ds = _open(path)
    return RasterInfo(
        path=path,
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        geotransform=tuple(ds.GetGeoTransform()),
        projection=ds.GetProjection(),
        dtype=gdal.GetDataTypeName(ds.GetRasterBand(1).DataType),
        bands=ds.RasterCount,
    )


def limit_block_cache(megabytes: int = 64) -> None:
    """Shrink GDAL's block cache (default 5% of RAM) for whole-band reads.

    Decoding a band whole into an array gains nothing from caching its blocks, and the
    default cache would hold over a gigabyte of them while a pair is being prepared.
    """
    gdal.SetCacheMax(megabytes * 2**20)


def read_band(path: str, out: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """Decode band 1 of ``path`` whole, into ``out`` if given ((rows, cols), the file's type).

    ``threads`` is GDAL's decoding threads for this call (JP2OpenJPEG decodes code tiles in
    parallel). A truncated or corrupt file raises InputError naming it.
    """
    ds = _open(path)
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", str(threads))
    try:
        return ds.GetRasterBand(1).ReadAsArray(buf_obj=out)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot decode the image ({exc}); the file is truncated or corrupt: download the product again") from exc
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", None)


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    geotransform: tuple[float, ...],
    projection: str,
    band_names: tuple[str, ...],
    nodata: int | None = 0,
    metadata: dict[str, str] | None = None,
    options: tuple[str, ...] = TIFF_OPTIONS,
) -> None:
    """Write ``array`` (bands, rows, cols) as a georeferenced GeoTIFF, atomically.

    The file is written under a temporary name in the same folder and renamed into place, so
    ``path`` is either absent or complete. Band descriptions are ``band_names``. A full disk
    raises OSError(ENOSPC) and leaves nothing behind.
    """
    path = Path(path)
    if array.ndim != 3 or array.shape[0] != len(band_names):
        raise ValueError(f"array of shape {array.shape} does not hold the bands {band_names}")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    dtype = gdal_array_type(array.dtype)
    try:
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp), array.shape[2], array.shape[1], array.shape[0], dtype, list(options))
        ds.SetGeoTransform(geotransform)
        ds.SetProjection(projection)
        if metadata:
            ds.SetMetadata(metadata)
        for i, name in enumerate(band_names):
            band = ds.GetRasterBand(i + 1)
            band.SetDescription(name)
            if nodata is not None:
                band.SetNoDataValue(nodata)
            band.WriteArray(array[i])
        ds.FlushCache()
        ds = None  # closes the file; errors in the final write surface here
        os.replace(tmp, path)
    except RuntimeError as exc:
        _remove_quietly(tmp)
        if "No space left" in str(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


def gdal_array_type(dtype: np.dtype) -> int:
    from osgeo import gdal_array

    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
