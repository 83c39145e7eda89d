"""Raster I/O through GDAL: band headers, whole-band decoding, atomic GeoTIFF writing, the
bytes of a file and the path GDAL reads an href by (Cloud-Optimized GeoTIFFs streamed row by row
are crmss/io/cog.py's).

Arrays are ``(bands, rows, cols)`` for stacks and ``(rows, cols)`` for single bands. A
geotransform is GDAL's 6-tuple ``(x0, dx, rx, y0, ry, dy)``; a projection is WKT.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from ..core.errors import InputError
from ..core.files import replaced_atomically


class _ExceptionMode:
    """GDAL and OSR raise RuntimeError on errors while crmss works, and are as the caller had them
    otherwise. GDAL 3.6's mode is one for the process (``gdal.ExceptionMgr``, per thread, came in
    3.7), so blocks are counted: the first to begin turns exceptions on, the last to end, in any
    thread, restores the caller's mode."""

    def __init__(self) -> None:
        self._lock, self._blocks, self._before = threading.Lock(), 0, (False, False)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._blocks == 0:
                self._before = (bool(gdal.GetUseExceptions()), bool(osr.GetUseExceptions()))
                gdal.UseExceptions()
                osr.UseExceptions()
            self._blocks += 1
        try:
            yield
        finally:
            with self._lock:
                self._blocks -= 1
                # the reverse order: GDAL keeps the modules' error handlers as a stack
                if self._blocks == 0:
                    for module, used in reversed(list(zip((gdal, osr), self._before))):
                        if not used:
                            module.DontUseExceptions()


#: ``with gdal_exceptions():`` (or ``@gdal_exceptions()``): GDAL's errors raise in the block
gdal_exceptions = _ExceptionMode()

TIFF_OPTIONS = ("TILED=NO", "INTERLEAVE=BAND")
#: lossless codecs offered for Cloud-Optimized GeoTIFFs: ZSTD level 1 compresses about 4x
#: faster than DEFLATE level 1 (libdeflate) for 5% more bytes; DEFLATE is for tools built
#: without ZSTD


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

    def matches(self, other: Grid) -> bool:
        """Same size, origin, pixel size (to a millimetre) and coordinate system."""
        return (
            (self.width, self.height) == (other.width, other.height)
            and np.allclose(self.geotransform, other.geotransform, rtol=0, atol=1e-3)
            and same_projection(self.projection, other.projection)
        )

    def describe(self) -> str:
        origin = f"({self.geotransform[0]:.2f}, {self.geotransform[3]:.2f})"
        return (
            f"{self.width} x {self.height} px at {self.geotransform[1]:g} m, origin {origin}, "
            f"{projection_name(self.projection)}"
        )


@gdal_exceptions()
def same_projection(wkt_a: str, wkt_b: str) -> bool:
    """Whether two WKT strings state one coordinate system (two empty ones: both have none)."""
    if not wkt_a or not wkt_b:
        return wkt_a == wkt_b
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


@gdal_exceptions()
def projection_name(wkt: str) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    code = srs.GetAuthorityCode(None)
    return f"EPSG:{code}" if code else srs.GetName() or "unknown CRS"


def require_jpeg2000_driver() -> None:
    """Raise InputError, naming what to install, when this GDAL cannot read JPEG2000 bands."""
    if gdal.GetDriverByName("JP2OpenJPEG") is None:
        raise InputError(
            f"GDAL {gdal.__version__} has no JP2OpenJPEG driver, so no Sentinel-2 band can be "
            "read. conda: "
            "'conda install -c conda-forge libgdal-jp2openjpeg' (conda-forge's GDAL 3.9 and later "
            "ships it apart); "
            "Debian/Ubuntu: 'apt-get install libgdal-dev gdal-bin' (Debian's GDAL is built with "
            "OpenJPEG), then rebuild "
            "the bindings (make test does); other pip installs: a GDAL built with OpenJPEG (2.3 "
            "or later)"
        )


def _open(path: str) -> gdal.Dataset:
    try:
        return gdal.Open(path)
    except RuntimeError as exc:
        raise InputError(
            f"{path}: cannot open the raster ({exc}); the file is missing or "
            "corrupt: download the product again"
        ) from exc


@gdal_exceptions()
def raster_info(path: str) -> RasterInfo:
    """Read a raster's header (no pixel decoding)."""
    return _info(path, _open(path))


@gdal_exceptions()
def read_image(path: str) -> tuple[RasterInfo, np.ndarray]:
    """A raster's header and all its bands, (bands, rows, cols) in the file's type. InputError
    when it cannot be read; its cause is GDAL's own message."""
    ds = _open(path)
    try:
        pixels = ds.ReadAsArray()
    except RuntimeError as exc:
        raise _decode_error(path, exc) from exc
    return _info(path, ds), pixels[None] if pixels.ndim == 2 else pixels


@gdal_exceptions()
def gdal_metadata(path: str) -> dict[str, str]:
    """The dataset-level metadata items of a raster (e.g. the ``CRMSS_*`` items crmss writes)."""
    return dict(_open(path).GetMetadata() or {})


def _decode_error(path: str, exc: RuntimeError) -> InputError:
    reason = str(exc).strip() or "GDAL gave no reason"
    return InputError(
        f"{path}: cannot decode the image ({reason}); the file is truncated or "
        "corrupt: download the product again"
    )


def _info(path: str, ds: gdal.Dataset) -> RasterInfo:
    return RasterInfo(
        path=path,
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        geotransform=tuple(ds.GetGeoTransform()),
        projection=ds.GetProjection(),
        dtype=gdal.GetDataTypeName(ds.GetRasterBand(1).DataType),
        bands=ds.RasterCount,
    )


@contextlib.contextmanager
def block_cache(megabytes: int = 64) -> Iterator[None]:
    """GDAL's block cache (default 5% of RAM) at ``megabytes`` for the ``with`` block, then as it
    was.

    Decoding a band whole into an array gains nothing from caching its blocks (the default
    cache would hold over a gigabyte of them while a pair is being prepared); reading a scene
    strip by strip (:class:`BandReader`) wants two strips' code tiles kept.
    """
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(megabytes * 2**20)
    try:
        yield
    finally:
        gdal.SetCacheMax(before)


@gdal_exceptions()
def read_band(
    path: str,
    out: np.ndarray | None = None,
    threads: int = 1,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Decode band 1 of ``path``, whole or its ``window`` (x, y, width, height in px), into
    ``out`` if given ((rows, cols), the file's type; strided views too).

    ``threads`` is GDAL's decoding threads for this call (JP2OpenJPEG decodes code tiles in
    parallel). A truncated or corrupt file raises InputError naming it.
    """
    ds = _open(path)
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", str(threads))
    try:
        return ds.GetRasterBand(1).ReadAsArray(*(window or ()), buf_obj=out)
    except RuntimeError as exc:
        raise _decode_error(path, exc) from exc
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", None)


class BandReader:
    """One band file kept open to be read row range by row range: GDAL's block cache belongs
    to the open dataset, so the code tiles that successive ranges share are decoded once. One
    thread at a time may read it."""

    @gdal_exceptions()
    def __init__(self, path: str):
        self.path = path
        self._dataset = _open(path)
        self.width, self.height = self._dataset.RasterXSize, self._dataset.RasterYSize

    @gdal_exceptions()
    def read_rows(self, top: int, out: np.ndarray) -> np.ndarray:
        """Rows ``top .. top + len(out)`` into ``out`` ((rows, width), the file's type; strided
        views too)."""
        try:
            return self._dataset.GetRasterBand(1).ReadAsArray(
                0, top, out.shape[1], out.shape[0], buf_obj=out
            )
        except RuntimeError as exc:
            raise _decode_error(self.path, exc) from exc


@gdal_exceptions()
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
    # encoded in memory, written to disk by Python: a full disk is a plain OSError(ENOSPC) from
    # one write call, where GDAL's GeoTIFF writer, failing half-way, can spin closing the file
    memory = f"/vsimem/crmss-{uuid.uuid4().hex}.tif"
    try:
        ds = gdal.GetDriverByName("GTiff").Create(
            memory,
            array.shape[2],
            array.shape[1],
            array.shape[0],
            gdal_array_type(array.dtype),
            list(options),
        )
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
        ds = None  # closes the in-memory file
        encoded = read_file(memory)
    finally:
        gdal.Unlink(memory)
    with replaced_atomically(path) as tmp:
        tmp.write_bytes(encoded)


@gdal_exceptions()
def read_file(name: str) -> bytes:
    """The bytes of a file as GDAL reaches it (``/vsimem/``, ``/vsicurl/``, ``/vsis3/``, a plain
    path); OSError where it cannot be read."""
    try:
        stat = gdal.VSIStatL(name)
        handle = gdal.VSIFOpenL(name, "rb")
    except RuntimeError as exc:
        raise OSError(f"cannot open {name} ({exc})") from exc
    if stat is None or handle is None:
        raise OSError(f"{name}: no such file")
    try:
        # GDAL reads 0 bytes as None
        return gdal.VSIFReadL(1, stat.size, handle) if stat.size else b""
    finally:
        gdal.VSIFCloseL(handle)


@gdal_exceptions()
def write_jp2(path: Path, pixels: np.ndarray, geotransform: tuple[float, ...], epsg: int) -> None:
    """Write ``pixels`` (rows, cols) uint16 as a lossless JPEG2000 file in code blocks of 64 px
    and tiles of up to 1024 px, as Sentinel-2 L1C band files are made."""
    rows, cols = pixels.shape
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    mem = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_UInt16)
    mem.SetGeoTransform(geotransform)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).WriteArray(pixels)
    block = min(1024, rows)
    options = [
        "REVERSIBLE=YES",
        "QUALITY=100",
        f"BLOCKXSIZE={block}",
        f"BLOCKYSIZE={block}",
        "CODEBLOCK_WIDTH=64",
        "CODEBLOCK_HEIGHT=64",
    ]
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(str(path), mem, options=options)


def gdal_array_type(dtype: np.dtype) -> int:
    from osgeo import gdal_array

    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


def gdal_path(href: str) -> str:
    """The path GDAL reads ``href`` by: ``/vsicurl/`` for http(s), ``/vsis3/`` for s3, the path
    of a ``file://`` or local href."""
    scheme, _, rest = href.partition("://")
    if not rest:
        return href
    if scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    if scheme == "s3":
        return f"/vsis3/{rest}"
    if scheme == "file":
        return urllib.parse.unquote(urllib.parse.urlparse(href).path)
    return href


#: the classes of an L2A scene classification (SCL) that a cleaned scene treats as cloud-affected:
#: cloud shadows (3), cloud of medium (8) and high probability (9), thin cirrus (10); ESA's
#: Sentinel-2 Level-2A product definition
SCL_CLOUD_CLASSES = (3, 8, 9, 10)
#: a mask raster named as an L2A scene classification band (T37UCQ_..._SCL_20m.jp2, SCL.tif)
SCL_NAME = re.compile(r"(^|[_.])SCL([_.]|$)", re.IGNORECASE)


@gdal_exceptions()
def mask_on_grid(path: str, grid: Grid, factor: int) -> np.ndarray:
    """Where the mask raster at ``path`` marks cloud, on ``grid`` coarsened ``factor`` times.

    Band 1 is read whole and made cloud-affected / clear at its own resolution: an L2A scene
    classification (SCL, known by its file name) marks SCL_CLOUD_CLASSES; a floating-point
    raster (a cloud probability in [0, 1]) values of 0.5 or more; any other raster
    (OmniCloudMask's classes, a 0/1 mask) its non-zero pixels; its no-data value is clear. That
    is resampled to the grid with GDAL, in any coordinate system, a pixel of the grid
    cloud-affected where any part of it is (GDAL's ``max``); what the raster does not cover is
    clear.

    Args:
        path: the mask raster (any format GDAL reads).
        grid: the product's 10 m grid.
        factor: how many 10 m pixels one mask pixel spans on each axis.

    Returns:
        (ceil(height / factor), ceil(width / factor)) bool, True where cloud-affected.

    Raises:
        InputError: the raster cannot be read, has no coordinate system, or covers none of the
            grid.
    """
    source = _open(path)
    if not source.GetProjection():
        raise InputError(
            f"{path}: the mask raster has no coordinate system; give a georeferenced raster"
        )
    band = source.GetRasterBand(1)
    values = band.ReadAsArray()
    if SCL_NAME.search(Path(path).stem):
        cloudy = np.isin(values, SCL_CLOUD_CLASSES)
    elif band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64):
        cloudy = values >= 0.5
    else:
        cloudy = values != 0
    if band.GetNoDataValue() is not None:
        cloudy &= values != band.GetNoDataValue()
    marked = gdal.GetDriverByName("MEM").Create(
        "", source.RasterXSize, source.RasterYSize, 1, gdal.GDT_Byte
    )
    marked.SetGeoTransform(source.GetGeoTransform())
    marked.SetProjection(source.GetProjection())
    marked.GetRasterBand(1).WriteArray(cloudy.astype(np.uint8))
    rows, cols = -(-grid.height // factor), -(-grid.width // factor)
    x0, dx, _, y0, _, dy = grid.geotransform_at(factor)
    warped = gdal.Warp(
        "",
        marked,
        format="MEM",
        outputBounds=(x0, y0 + rows * dy, x0 + cols * dx, y0),
        width=cols,
        height=rows,
        dstSRS=grid.projection,
        resampleAlg="max",
        dstNodata=NOT_COVERED,
    )
    on_grid = warped.GetRasterBand(1).ReadAsArray()
    if (on_grid == NOT_COVERED).all():
        raise InputError(
            f"{path}: the mask raster covers none of the product ({grid.describe()}); give "
            "the mask of this product"
        )
    return on_grid == 1


#: the value GDAL gives the grid's pixels that a mask raster does not cover
NOT_COVERED = 255
