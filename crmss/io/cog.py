"""Cloud-Optimized GeoTIFFs written as a scene is cleaned: :class:`StreamedCOG` takes rows as they
are finished and makes a checked COG of them (overviews, blocks of :data:`BLOCK` px at levels
:func:`overview_factors` gives); :func:`publish_together` renames one product's COGs into place
together or not at all.

Imports GDAL and crmss/io/raster.py (its exception mode); crmss/inference/predict.py writes its
outputs through it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from osgeo import gdal

from ..core.errors import InternalError
from ..core.files import write_text_atomically
from .raster import gdal_exceptions

BLOCK = 512


@contextlib.contextmanager
def raised_on_close() -> Iterator[None]:
    """Raise, as the ``with`` block's error, what GDAL raises while closing a dataset the block
    made. GDAL 3.6's bindings raise a failed close (a full disk as the COG's directory is
    rewritten) from the dataset's destructor, where Python can only print it as an ignored
    exception beside crmss's own message; this catches it, for the block's duration only."""
    caught: list[BaseException] = []
    hook, sys.unraisablehook = (
        sys.unraisablehook,
        lambda unraisable: caught.extend(filter(None, [unraisable.exc_value])),
    )
    try:
        yield
    finally:
        sys.unraisablehook = hook
    if caught:
        raise caught[0]


class StreamedCOG:
    """A (rows, cols, bands) uint16 raster written in blocks of rows, published as a Cloud-Optimized
    GeoTIFF.

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
        self.final, self.width, self.height, self.band_names = (
            Path(final),
            width,
            height,
            band_names,
        )
        self.geotransform, self.projection, self.metadata = geotransform, projection, metadata
        stem = self.final.parent / f".{self.final.name}.partial-{uuid.uuid4().hex[:8]}"
        self.raw, self.vrt, self.cog = (
            Path(f"{stem}{suffix}") for suffix in (".raw", ".vrt", ".cog.tif")
        )
        self.row_bytes = width * len(band_names) * 2
        self._fd: int | None = os.open(self.raw, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            # reserve the space: a full disk fails here, not hours later
            if hasattr(os, "posix_fallocate"):
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
        if (
            rows.shape[1:] != (self.width, len(self.band_names))
            or top + rows.shape[0] > self.height
            or rows.dtype != np.uint16
        ):
            raise InternalError(
                f"{self.final.name}: rows of shape {rows.shape} ({rows.dtype}) at row {top} do "
                "not fit the "
                f"{self.width} x {self.height} x {len(self.band_names)} output"
            )
        zero = rows == 0
        partly = zero.any(axis=-1) & ~zero.all(axis=-1)
        if partly.any():
            row, col = (int(v[0]) for v in np.nonzero(partly))
            raise InternalError(
                f"{self.final.name}: {int(partly.sum())} pixels (the first at row {top + row}, "
                f"column {col}) "
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
        """The COG's full-resolution pixels equal the rows written, read back one block row at a
        time."""
        cog = gdal.Open(str(self.cog))
        if (cog.RasterXSize, cog.RasterYSize, cog.RasterCount) != (
            self.width,
            self.height,
            len(self.band_names),
        ):
            raise InternalError(
                f"{self.cog}: the copy is {cog.RasterXSize} x {cog.RasterYSize} x "
                f"{cog.RasterCount}, not "
                f"{self.width} x {self.height} x {len(self.band_names)}"
            )
        for top in range(0, self.height, block):
            rows = min(block, self.height - top)
            copied = cog.ReadAsArray(0, top, self.width, rows, interleave="pixel")
            written = np.fromfile(
                self.raw, "<u2", rows * self.row_bytes // 2, offset=top * self.row_bytes
            )
            if not np.array_equal(copied.ravel(), written):
                raise InternalError(
                    f"{self.cog}: the COG copy differs from the rows written in "
                    f"rows {top}..{top + rows}; nothing was published"
                )

    def discard(self) -> None:
        """Close and remove every temporary file (the final file, once published, stays)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for path in self.temporary_files():
            path.unlink(missing_ok=True)


def publish_together(writers: list[StreamedCOG | SmallCOG], journal: Path) -> None:
    """Rename the finished COGs of one product to their final names, together or not at all.

    Two renames cannot be one atomic step, so the ``journal`` (a hidden file beside them)
    lists the final names while they are renamed: a failure or an interruption in between
    removes the ones already published; a kill that leaves the journal behind is undone by
    the next run, which treats the product as not done."""
    write_text_atomically(journal, "".join(f"{w.final.name}\n" for w in writers))
    published = []
    try:
        for writer in writers:
            # first: an interruption just after the rename still takes it back
            published.append(writer.final)
            writer.publish()
    except BaseException:
        for final in published:
            final.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        raise
    journal.unlink()


def overview_factors(width: int, height: int) -> list[int]:
    """Overview levels 2, 4, ... down to one COG block, as GDAL's COG driver chooses them."""
    factors: list[int] = []
    size = max(width, height)
    while size > BLOCK:
        size = math.ceil(size / 2)
        factors.append(2 * factors[-1] if factors else 2)
    return factors


class SmallCOG:
    """A small one-band uint8 raster (a cleaned scene's cloud weights) written whole as a
    Cloud-Optimized GeoTIFF beside its final name, read back and compared with the array, and
    published with the scene's outputs (:func:`publish_together`)."""

    def __init__(
        self,
        final: Path,
        array: np.ndarray,
        description: str,
        geotransform: tuple[float, ...],
        projection: str,
        metadata: dict[str, str],
    ):
        self.final, self.array, self.description = Path(final), array, description
        self.geotransform, self.projection, self.metadata = geotransform, projection, metadata
        self.cog = self.final.parent / f".{self.final.name}.partial-{uuid.uuid4().hex[:8]}.cog.tif"

    @gdal_exceptions()
    def finish(self) -> None:
        """Write the COG (deflate) and check that it holds the array."""
        rows, cols = self.array.shape
        ds = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_Byte)
        ds.SetGeoTransform(self.geotransform)
        ds.SetProjection(self.projection)
        ds.SetMetadata(self.metadata)
        band = ds.GetRasterBand(1)
        band.SetDescription(self.description)
        band.WriteArray(self.array)
        with raised_on_close():
            gdal.Translate(str(self.cog), ds, format="COG", creationOptions=["COMPRESS=DEFLATE"])
        copied = gdal.Open(str(self.cog)).ReadAsArray()
        if not np.array_equal(copied, self.array):
            raise InternalError(f"{self.cog}: the COG differs from the array written")

    def publish(self) -> None:
        os.replace(self.cog, self.final)

    def discard(self) -> None:
        self.cog.unlink(missing_ok=True)
