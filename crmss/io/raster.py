"""Raster I/O through GDAL: band headers, whole-band decoding, atomic GeoTIFF writing, the
bytes of a file and the path GDAL reads an href by.

Arrays are ``(bands, rows, cols)`` for stacks and ``(rows, cols)`` for single bands. A
geotransform is GDAL's 6-tuple ``(x0, dx, rx, y0, ry, dy)``; a projection is WKT.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from ..core.errors import InputError, InternalError
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
                if self._blocks == 0:  # the reverse order: GDAL keeps the modules' error handlers as a stack
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
        return f"{self.width} x {self.height} px at {self.geotransform[1]:g} m, origin {origin}, {projection_name(self.projection)}"


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
            f"GDAL {gdal.__version__} has no JP2OpenJPEG driver, so no Sentinel-2 band can be read. conda: "
            "'conda install -c conda-forge libgdal-jp2openjpeg' (conda-forge's GDAL 3.9 and later ships it apart); "
            "Debian/Ubuntu: 'apt-get install libgdal-dev gdal-bin' (Debian's GDAL is built with OpenJPEG), then rebuild "
            "the bindings (make test does); other pip installs: a GDAL built with OpenJPEG (2.3 or later)"
        )


def _open(path: str) -> gdal.Dataset:
    try:
        return gdal.Open(path)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot open the raster ({exc}); the file is missing or corrupt: download the product again") from exc


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
    return InputError(f"{path}: cannot decode the image ({reason}); the file is truncated or corrupt: download the product again")


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
    """GDAL's block cache (default 5% of RAM) at ``megabytes`` for the ``with`` block, then as it was.

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
def read_band(path: str, out: np.ndarray | None = None, threads: int = 1, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
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
        """Rows ``top .. top + len(out)`` into ``out`` ((rows, width), the file's type; strided views too)."""
        try:
            return self._dataset.GetRasterBand(1).ReadAsArray(0, top, out.shape[1], out.shape[0], buf_obj=out)
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
        ds = gdal.GetDriverByName("GTiff").Create(memory, array.shape[2], array.shape[1], array.shape[0], gdal_array_type(array.dtype), list(options))
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
        return gdal.VSIFReadL(1, stat.size, handle) if stat.size else b""  # GDAL reads 0 bytes as None
    finally:
        gdal.VSIFCloseL(handle)


@contextlib.contextmanager
def raised_on_close() -> Iterator[None]:
    """Raise, as the ``with`` block's error, what GDAL raises while closing a dataset the block
    made. GDAL 3.6's bindings raise a failed close (a full disk as the COG's directory is
    rewritten) from the dataset's destructor, where Python can only print it as an ignored
    exception beside crmss's own message; this catches it, for the block's duration only."""
    caught: list[BaseException] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: caught.extend(filter(None, [unraisable.exc_value]))
    try:
        yield
    finally:
        sys.unraisablehook = hook
    if caught:
        raise caught[0]


class StreamedCOG:
    """A (rows, cols, bands) uint16 raster written in blocks of rows, published as a Cloud-Optimized GeoTIFF.

    Rows go straight into a headerless pixel-interleaved file beside the final name (with
    ``os.pwrite``, not through GDAL); ``finish`` describes that file with a VRT, builds
    nodata-aware averaged overviews, copies it to a COG and checks the COG against the rows
    written; ``publish`` renames the COG into place; ``discard`` removes every temporary file.
    The rows' space is reserved when the file is opened, so a full disk shows before any work.

    Why not a tiled GeoTIFF written through GDAL strip by strip, as before: with GDAL 3.6, while
    other threads of the process decoded JPEG2000 through GDAL, some strip writes were lost in
    one band: zeros over one band, one 512 px block column and exactly one write's rows, the
    other bands of the block intact (about 1 round in 10 of two concurrent runs, more under
    load; never seen without concurrent decoding). The values handed to GDAL cannot hold such
    zeros (``blending.Strip.finished`` makes a pixel 0 in all bands or in none), so they were lost
    inside GDAL's write path. GDAL's block cache is one for the process, and a
    pixel-interleaved GeoTIFF keeps each band's part of a block as its own cache entry while
    writing them to disk together; GDAL describes this very damage in OSGeo/gdal#2011 (a thread
    other than the writer flushes a dirty block and drops it from the cache; the writer, taking
    the block again for its next partial-block write, gets a stale copy of another band's
    part), narrowed it in #2015, says it may remain when the cache is small for the number of
    threads, and from 3.7 writes whole blocks around the cache (#7756). A reader thread that
    churned a small cache did not reproduce it here, so the exact path in 3.6 is not pinned
    down; the design does not depend on it: no output pixel passes through GDAL while anything
    else runs. GDAL reads the finished raw file, alone, to make the COG, and the COG is compared
    with the raw file, so an output is right or never published.
    """

    def __init__(
        self,
        final: Path,
        width: int,
        height: int,
        band_names: tuple[str, ...],
        geotransform: tuple[float, ...],
        projection: str,
        metadata: dict[str, str],
    ):
        self.final, self.width, self.height, self.band_names = Path(final), width, height, band_names
        self.geotransform, self.projection, self.metadata = geotransform, projection, metadata
        stem = self.final.parent / f".{self.final.name}.partial-{uuid.uuid4().hex[:8]}"
        self.raw, self.vrt, self.cog = (Path(f"{stem}{suffix}") for suffix in (".raw", ".vrt", ".cog.tif"))
        self.row_bytes = width * len(band_names) * 2
        self._fd: int | None = os.open(self.raw, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if hasattr(os, "posix_fallocate"):  # reserve the space: a full disk fails here, not hours later
                os.posix_fallocate(self._fd, 0, self.row_bytes * height)
            else:
                os.ftruncate(self._fd, self.row_bytes * height)
        except BaseException:
            self.discard()
            raise

    @staticmethod
    def needed_bytes(width: int, height: int, bands: int) -> int:
        """Disk space that writing one such output takes at most: the rows, their overviews
        (a third more) and the COG (no larger than both, uncompressed)."""
        return width * height * bands * 2 * 8 // 3

    def temporary_files(self) -> tuple[Path, ...]:
        return self.raw, self.vrt, Path(f"{self.vrt}.ovr"), self.cog

    def write(self, rows: np.ndarray, top: int) -> None:
        """Write ``rows`` (n, cols, bands) uint16 as rows top..top+n. Each pixel must be 0 in all
        bands (no data) or in none: a violation is an InternalError, checked before the write."""
        if rows.shape[1:] != (self.width, len(self.band_names)) or top + rows.shape[0] > self.height or rows.dtype != np.uint16:
            raise InternalError(
                f"{self.final.name}: rows of shape {rows.shape} ({rows.dtype}) at row {top} do not fit the "
                f"{self.width} x {self.height} x {len(self.band_names)} output"
            )
        zero = rows == 0
        partly = zero.any(axis=-1) & ~zero.all(axis=-1)
        if partly.any():
            row, col = (int(v[0]) for v in np.nonzero(partly))
            raise InternalError(
                f"{self.final.name}: {int(partly.sum())} pixels (the first at row {top + row}, column {col}) "
                "are 0 in some bands but not in all: the output is inconsistent and was not written"
            )
        if self._fd is None:
            raise InternalError(f"{self.final.name}: rows written after the output was finished")
        data = np.ascontiguousarray(rows, "<u2").data.cast("B")
        offset = top * self.row_bytes
        while data:
            written = os.pwrite(self._fd, data, offset)
            data, offset = data[written:], offset + written

    @gdal_exceptions()
    def finish(self, compress: str, overview_factors: list[int], block: int) -> None:
        """Overviews, the COG copy (``compress``: zstd or deflate, ``block`` px blocks) and the
        check that the COG holds exactly the rows written."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        ds = gdal.GetDriverByName("VRT").Create(str(self.vrt), self.width, self.height, 0)
        ds.SetGeoTransform(self.geotransform)
        ds.SetProjection(self.projection)
        ds.SetMetadata(self.metadata)
        for i, name in enumerate(self.band_names):
            ds.AddBand(
                gdal.GDT_UInt16,
                [
                    "subClass=VRTRawRasterBand",
                    f"SourceFilename={self.raw.name}",
                    "relativeToVRT=1",
                    f"ImageOffset={2 * i}",
                    f"PixelOffset={2 * len(self.band_names)}",
                    f"LineOffset={self.row_bytes}",
                    "ByteOrder=LSB",
                ],
            )
            band = ds.GetRasterBand(i + 1)
            band.SetDescription(name)
            band.SetNoDataValue(0)
        ds.FlushCache()
        # built here rather than by the COG driver, which writes them to a compressed temporary
        # file and reads them back: 30% more CPU time for the same averages
        ds.BuildOverviews("AVERAGE", overview_factors, options=["NUM_THREADS=ALL_CPUS"])
        options = [
            f"COMPRESS={compress.upper()}",
            "LEVEL=1",
            "PREDICTOR=2",
            f"BLOCKSIZE={block}",
            "OVERVIEWS=FORCE_USE_EXISTING",
            "NUM_THREADS=ALL_CPUS",
            "BIGTIFF=IF_SAFER",
        ]
        with raised_on_close():
            gdal.Translate(str(self.cog), ds, format="COG", creationOptions=options)
        ds = None
        self._check_copy(block)

    def publish(self) -> None:
        """Rename the finished COG to the final name; remove the temporary files."""
        os.replace(self.cog, self.final)
        self.discard()

    @gdal_exceptions()
    def _check_copy(self, block: int) -> None:
        """The COG's full-resolution pixels equal the rows written, read back one block row at a time."""
        cog = gdal.Open(str(self.cog))
        if (cog.RasterXSize, cog.RasterYSize, cog.RasterCount) != (self.width, self.height, len(self.band_names)):
            raise InternalError(
                f"{self.cog}: the copy is {cog.RasterXSize} x {cog.RasterYSize} x {cog.RasterCount}, not "
                f"{self.width} x {self.height} x {len(self.band_names)}"
            )
        for top in range(0, self.height, block):
            rows = min(block, self.height - top)
            copied = cog.ReadAsArray(0, top, self.width, rows, interleave="pixel")
            written = np.fromfile(self.raw, "<u2", rows * self.row_bytes // 2, offset=top * self.row_bytes)
            if not np.array_equal(copied.ravel(), written):
                raise InternalError(f"{self.cog}: the COG copy differs from the rows written in rows {top}..{top + rows}; nothing was published")

    def discard(self) -> None:
        """Close and remove every temporary file (the final file, once published, stays)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for path in self.temporary_files():
            path.unlink(missing_ok=True)


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
    options = ["REVERSIBLE=YES", "QUALITY=100", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}", "CODEBLOCK_WIDTH=64", "CODEBLOCK_HEIGHT=64"]
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(str(path), mem, options=options)


def gdal_array_type(dtype: np.dtype) -> int:
    from osgeo import gdal_array

    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


def gdal_path(href: str) -> str:
    """The path GDAL reads ``href`` by: ``/vsicurl/`` for http(s), ``/vsis3/`` for s3, the path of a ``file://`` or local href."""
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
