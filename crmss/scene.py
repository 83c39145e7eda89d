"""``crmss predict``: whole L1C products to seamless cloud-free Cloud-Optimized GeoTIFFs.

For each product, ``DIR/<product>_CR_10m.tif`` (B02, B03, B04, B08) and
``DIR/<product>_CR_20m.tif`` (B05, B06, B07, B8A, B11, B12): uint16 TOA reflectance x 10000
without any radiometric offset, 0 = no data, on the product's own grid. A Vis/NIR model (the
ablation without VRE/SWIR) writes the 10 m output alone.

How: the scene is cut in square tiles of ``tile`` px at 10 m (``tile / 2`` at 20 m, offsets
even, so both resolutions stay aligned) overlapping by ``overlap`` px. Instance normalisation
makes each tile's output depend on the tile's own statistics, so tiles are blended: each
output is weighted by a product of linear ramps that fall from 1 to almost 0 over the overlap
towards the tile's edges, divided by the sum of all tiles' weights at that pixel. Both are
separable (tiles form a grid), so each tile's weights are the outer product of a row and a
column vector that sum to 1 over the scene. Tiles that reach past the scene are
reflect-padded. The scene is processed in strips of one tile row: the strip is decoded (bands
in parallel, the next strip while the model runs on this one), its tiles run in batches, and
the finished rows are written, so memory does not grow with the scene. Where any input band
of a resolution is 0, that resolution's outputs are 0.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from . import __version__
from .bands import STACKS
from .errors import DiskFullError, Failures, InputError, disk_full_error, is_disk_full
from .files import exclusive_lock, write_text_atomically
from .model import generator_file, generator_stacks, load_generator, run_generator
from .options import PredictOptions, check_tiling
from .precision import at_precision, choose_precision, local_devices
from .raster import BandReader, StreamedCOG, limit_block_cache, require_jpeg2000_driver
from .safe import Product, granule_tiles, open_product, product_path
from .tiling import SCALE
from .validation import Interval, checked, convert

BLOCK = 512
#: GDAL's block cache while predicting: two rows of JPEG2000 code tiles of all ten bands
#: stay decoded, so the overlap between strips is not decoded twice
BLOCK_CACHE_MB = 768


def default_batch_size() -> int:
    """Tiles per model call: 4 on a GPU; 1 on a CPU, which is no faster with more and would
    hold several GB of activations (a 1024 px tile at width 64 needs about 2.5 GB)."""
    return 4 if tf.config.list_physical_devices("GPU") else 1


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Even start offsets (10 m px) of tiles of side ``tile`` overlapping by at least ``overlap``
    that cover 0..length; one tile (padded) where the scene is smaller than a tile."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append((length - tile) // 2 * 2)
    return starts


def ramp(size: int, overlap: int) -> np.ndarray:
    """(size,) blending weights: 1 inside, falling linearly to 1/(2 overlap) at both edges."""
    if overlap == 0:
        return np.ones(size, np.float32)
    i = np.arange(size, dtype=np.float32) + 0.5
    return np.minimum(1.0, np.minimum(i, size - i) / overlap).astype(np.float32)


def blend_weights(length: int, starts: list[int], size: int, overlap: int) -> np.ndarray:
    """(len(starts), size) float32: the ramp of each tile starting at ``starts`` divided by
    the sum of all tiles' ramps at each position, so they add up to 1 over 0..length (a tile's
    positions past ``length`` are cropped away later)."""
    weights = np.zeros((len(starts), size), np.float32)
    total = np.zeros(max(length, max(starts) + size), np.float32)
    for i, start in enumerate(starts):
        weights[i] = ramp(size, overlap)
        total[start : start + size] += weights[i]
    for i, start in enumerate(starts):
        weights[i] /= total[start : start + size]
    return weights


class TileRunner:
    """The generator, ready for batches of (tile, tile/2) px tiles of its stacks: one copy per
    device, each computing at the precision chosen (crmss/precision.py)."""

    def __init__(
        self, model: keras.Model, precision: str = PredictOptions.precision, devices: str = PredictOptions.devices, path: Path | None = None
    ):
        self.path = path
        self.stacks = generator_stacks(model)  # ("10m", "20m"), or ("10m",) for a Vis/NIR model
        self.devices = local_devices(devices)
        self.precision = choose_precision(precision, self.devices)
        placed = self.devices != local_devices()[:1]  # else TensorFlow's own placement is the device asked for
        self._replicas = []
        for device in self.devices:
            copy = at_precision(model, self.precision.precision, device if placed else None)
            self._replicas.append((device, tf.function(partial(self._weighted_outputs, copy), reduce_retracing=True)))

    @classmethod
    def load(cls, options: PredictOptions) -> TileRunner:
        """The generator of ``options.checkpoint`` of the run folder (or .keras file) ``options.model``."""
        path = generator_file(options.model, options.checkpoint)
        return cls(load_generator(path), options.precision, options.devices, path)

    def weighted(self, tiles: list[np.ndarray], weights: list[tuple], replica: int = 0) -> list[np.ndarray]:
        """Tiles of reflectance x 10000 per stack (uint16 (batch, t, t, 4) at 10 m and
        (batch, t/2, t/2, 6) at 20 m) to the model's outputs as reflectance x 10000, float32, of
        the same shapes, times the tiles' blending weights, on device number ``replica``.
        Saturated input is clipped to 1. ``weights`` per stack: the (t,) row weights of the
        strip and the (batch, t) column weights of the tiles, at that stack's resolution."""
        device, blend = self._replicas[replica]
        with tf.device(device):
            outputs = blend([tf.constant(t) for t in tiles], [tuple(map(tf.constant, w)) for w in weights])
        return [y.numpy() for y in outputs]

    def map_weighted(self, batches: Iterable[tuple[list, list]]) -> Iterator[list[np.ndarray]]:
        """:meth:`weighted` of each ``(tiles, weights)`` of ``batches``, in their order: the
        batches are dealt to the devices in turn, each device running its own one after the
        other, at most two per device ahead of the caller."""
        count = len(self._replicas)
        with contextlib.ExitStack() as stack:
            pools = [stack.enter_context(ThreadPoolExecutor(1)) for _ in range(count)]
            pending = collections.deque()
            for index, (tiles, weights) in enumerate(batches):
                pending.append(pools[index % count].submit(self.weighted, tiles, weights, index % count))
                if len(pending) > 2 * count:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    @staticmethod
    def _weighted_outputs(model, tiles, weights):
        # scaling and weighting run in the graph beside the model, in float32: on a CPU numpy
        # would add full passes over every tile; on a GPU they cost nothing
        inputs = [tf.minimum(tf.cast(dn, tf.float32) / 10000.0, 1.0) for dn in tiles]
        return [
            tf.cast(y, tf.float32) * (10000.0 * rows[None, :, None, None] * cols[:, None, :, None])
            for y, (rows, cols) in zip(run_generator(model, inputs), weights)
        ]


@dataclass(frozen=True)
class Settings:
    """How a scene is run: tiles of ``tile`` px at 10 m overlapping by ``overlap``, ``batch_size``
    tiles per model call, ``workers`` decoding threads, COG ``compress``ion, a progress bar,
    the ``stacks`` written (``all`` the generator's, or ``10m``)."""

    tile: int
    overlap: int
    batch_size: int
    workers: int = 1
    compress: str = "zstd"
    progress: bool = False
    stacks: str = "all"

    def fitted(self, height: int, width: int) -> Settings:
        """The same with the tile no larger than a scene of ``height`` x ``width`` px needs (in steps of 32 px)."""
        return dataclasses.replace(self, tile=min(self.tile, math.ceil(max(height, width) / 32) * 32))


def clean(
    generator: keras.Model,
    x10: np.ndarray,
    x20: np.ndarray | None = None,
    *,
    tile: int = PredictOptions.tile,
    overlap: int = PredictOptions.overlap,
    batch_size: int | None = None,
    precision: str = PredictOptions.precision,
    devices: str = PredictOptions.devices,
    scale: float | None = None,
    offset: float = 0.0,
    progress: bool = False,
) -> tuple[np.ndarray, ...]:
    """Clean arrays of any size with the tiling, blending, reflect padding and no-data rule of
    ``crmss predict`` (the same code): returns the generator's stacks as float32 reflectance,
    ``(y10, y20)``, or ``(y10,)`` for a Vis/NIR model.

    ``x10``: (H, W, 4) with B02, B03, B04, B08; ``x20``: (H/2, W/2, 6) with B05, B06, B07, B8A,
    B11, B12 (not needed by a Vis/NIR model, which ignores it); H and W even. Without ``scale``
    the arrays must be floating-point reflectance; with it they are DNs (integers or floats),
    reflectance = (DN + ``offset``) / ``scale`` (L1C: scale 10000, offset -1000 from baseline
    04.00, else 0). A pixel with 0 or NaN in any band of a stack is no data: its output is 0 in
    that stack. Reflectance is clipped to [1e-4, 1] for the model, as in predict; above 6.5535
    (L1C's saturation) it is refused, as are infinite values. ``tile``, ``overlap``,
    ``batch_size``, ``precision`` and ``devices`` as ``crmss predict`` takes them, checked by
    the same rules (crmss/options.py). Raises InputError saying what was given and what is needed.
    """
    tile, overlap = (checked(PredictOptions, name, value) for name, value in (("tile", tile), ("overlap", overlap)))
    check_tiling(tile, overlap)
    batch_size = checked(PredictOptions, "batch_size", batch_size)
    precision, devices = checked(PredictOptions, "precision", precision), checked(PredictOptions, "devices", devices)
    scale = convert(Annotated[float, Interval(0, low_open=True)] | None, scale, "scale")
    offset = convert(float, offset, "offset")
    runner = TileRunner(generator, precision, devices)
    prepared = {res: _reflectance_x10000(array, res, scale, offset) for res, array in _checked_stacks(x10, x20, runner.stacks).items()}
    height, width = prepared["10m"].shape[:2]
    outputs = {res: np.zeros(dn.shape, np.uint16) for res, dn in prepared.items()}

    def read_strip(top: int) -> dict:
        strips = {res: dn[top // SCALE[res] : (top + tile) // SCALE[res]] for res, dn in prepared.items()}
        return {res: (strip, (strip == 0).any(axis=-1)) for res, strip in strips.items()}

    def write(res: str, rows: np.ndarray, top: int) -> None:
        outputs[res][top : top + len(rows)] = rows

    settings = Settings(tile, overlap, batch_size or default_batch_size(), progress=progress).fitted(height, width)
    _run_strips(read_strip, write, height, width, runner, settings, "clean")
    return tuple(outputs[res].astype(np.float32) / 10000 for res in runner.stacks)


def _checked_stacks(x10, x20, stacks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``clean`` was given for the generator's ``stacks``, checked for shape and dtype."""
    given = {"10m": x10, "20m": x20}
    arrays = {}
    for res in stacks:
        name, bands = f"x{res[:2]}", STACKS[res]
        if given[res] is None:
            raise InputError(f"clean: the generator needs {name}, the {res} stack ({', '.join(bands)}); it was not given")
        array = np.asarray(given[res])
        if array.dtype.kind not in "iuf":
            raise InputError(f"clean: {name} is an array of {array.dtype}; give floating-point reflectance, or DNs with scale= (10000 for L1C)")
        if res == "10m" and (array.ndim != 3 or array.shape[2] != len(bands) or min(array.shape[:2]) < 2 or array.shape[0] % 2 or array.shape[1] % 2):
            raise InputError(f"clean: x10 has shape {array.shape}; give (H, W, 4) with H and W even, the bands {', '.join(bands)}")
        if res == "20m":
            expected = (arrays["10m"].shape[0] // 2, arrays["10m"].shape[1] // 2, len(bands))
            if array.shape != expected:
                raise InputError(
                    f"clean: x20 has shape {array.shape}; give {expected}: half of x10's {arrays['10m'].shape[:2]}, the bands {', '.join(bands)}"
                )
        arrays[res] = array
    return arrays


#: the largest reflectance an L1C product holds (65535 / 10000, saturation)
LARGEST_REFLECTANCE = 6.5535


def _reflectance_x10000(array: np.ndarray, res: str, scale: float | None, offset: float) -> np.ndarray:
    """uint16 reflectance x 10000 of a ``clean`` input (see :func:`clean`): at least 1, 0 where
    any band is no data; InputError for integers without a scale, infinite values or values
    beyond L1C's range."""
    name = f"x{res[:2]}"
    if scale is None and array.dtype.kind != "f":
        raise InputError(
            f"clean: {name} holds {array.dtype} values, DNs: give scale= (10000 for Sentinel-2 L1C) and offset= "
            "(-1000 from processing baseline 04.00), or floating-point reflectance"
        )
    values = array.astype(np.float32)
    if np.isinf(values).any():
        raise InputError(f"clean: {name} holds infinite values; give finite reflectance (0 or NaN mark no data)")
    nodata = np.isnan(values) | (values == 0)
    reflectance = values if scale is None else (values + offset) / scale
    largest = float(np.nanmax(reflectance, initial=0))
    if largest > LARGEST_REFLECTANCE:
        given = "reflectance" if scale is None else f"(DN + {offset:g}) / {scale:g}"
        raise InputError(
            f"clean: {name} holds values up to {largest:g} as {given}, above L1C's largest reflectance ({LARGEST_REFLECTANCE}); "
            "give reflectance, or DNs with their scale= and offset="
        )
    dn = np.clip(np.rint(np.nan_to_num(reflectance) * 10000), 1, 65535).astype(np.uint16)
    dn[np.any(nodata, axis=-1)] = 0
    return dn


def predict_products(options: PredictOptions, log=print) -> list[Path]:
    """Clean every product of ``options.products`` into ``options.out``; return the outputs
    written. Finished outputs are skipped.

    A product that fails (not L1C, a corrupt band) is reported and the others still run; the
    failures are raised together as one InputError at the end.
    """
    require_jpeg2000_driver()
    out = Path(options.out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror}); choose another --out") from exc
    try:
        if not os.access(out, os.W_OK):
            raise InputError(f"{out}: the output folder cannot be written; choose another --out")
        runner = TileRunner.load(options)
        log(f"{runner.path}: running at {runner.precision} on {', '.join(runner.devices)}")
        settings = Settings(
            options.tile,
            options.overlap,
            options.batch_size or default_batch_size(),
            options.workers or len(os.sched_getaffinity(0)),
            options.compress,
            options.progress,
            options.stacks,
        )
        limit_block_cache(BLOCK_CACHE_MB)
        written = []
        failures = Failures(len(options.products), "products", "fix these and run again (finished outputs are skipped)", log)
        for path in map(Path, options.products):
            try:
                granules = _granules(path)
                for granule in granules:
                    written += _predict_granule(granule, runner, out, settings, log)
            except DiskFullError:
                raise  # the next products would fail the same way
            except InputError as exc:
                failures.add(path.name, exc)
        failures.raise_any()
        return written
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # bad input: no empty folder left behind


def _granules(path: Path) -> list[Product]:
    """The granules of the product at ``path``, each opened (a tile folder is one granule)."""
    if not path.exists():
        raise InputError(f"{path}: no such product; give <name>.SAFE folders, <name>.zip files or tile folders of the public bucket")
    path = product_path(path)
    tiles = sorted(granule_tiles(path)) if path.suffix == ".zip" or path.is_dir() else []
    if len(tiles) <= 1:
        return [open_product(path)]
    return [open_product(path, t) for t in tiles]  # pre-2016 products with several granules


def output_names(product: Product, stacks: tuple[str, ...] = tuple(STACKS)) -> dict[str, str]:
    """The outputs' file names per resolution written: the product's name, and the tile where
    the product has several."""
    stem = product.name if product.granules == 1 else f"{product.name}_T{product.tile}"
    return {res: f"{stem}_CR_{res}.tif" for res in stacks}


def _predict_granule(product: Product, runner: TileRunner, out: Path, settings: Settings, log) -> list[Path]:
    """Clean one granule of a product into ``out`` (locked per product; skipped when its outputs
    exist); return the outputs written."""
    stacks = tuple(s for s in runner.stacks if settings.stacks == "all" or s == settings.stacks)  # the stacks written
    names = output_names(product, stacks)
    finals = {res: out / name for res, name in names.items()}
    # one run at a time writes (or cleans up after) a product's outputs in a folder; a second waits, then skips them
    stem = names["10m"].removesuffix("_CR_10m.tif")
    with exclusive_lock(out / f".{stem}.lock", f"{stem}: another crmss predict is writing this product into {out}; waiting for it", log):
        journal = out / f".{stem}.publishing"
        if journal.exists():  # a run was killed while publishing: what it published is incomplete
            for final in finals.values():
                final.unlink(missing_ok=True)
            journal.unlink()
        if all(f.exists() for f in finals.values()):
            log(f"{product.name}: skipped, {' and '.join(names.values())} exist")
            return []
        for name in names.values():  # what a killed run left: no other run writes this product now
            for stale in out.glob(f".{name}.partial-*"):
                stale.unlink()
        grid = product.grid()
        settings = settings.fitted(grid.height, grid.width)
        shapes = {res: (grid.width // SCALE[res], grid.height // SCALE[res], len(STACKS[res])) for res in stacks}
        needed = sum(StreamedCOG.needed_bytes(*shape) for shape in shapes.values())
        writers = {}
        try:
            for res in stacks:
                s = SCALE[res]
                writers[res] = StreamedCOG(
                    finals[res],
                    *shapes[res][:2],
                    STACKS[res],
                    grid.geotransform_at(s),
                    grid.projection,
                    _output_metadata(product, runner, settings),
                )
            readers = {band: BandReader(product.band_files[band]) for res in runner.stacks for band in STACKS[res]}
            with ThreadPoolExecutor(settings.workers, initializer=_yield_to_the_model) as pool:
                _run_strips(
                    lambda top: _read_strip(product, readers, runner.stacks, top, settings.tile, pool),
                    lambda res, rows, top: writers[res].write(rows, top) if res in writers else None,
                    grid.height,
                    grid.width,
                    runner,
                    settings,
                    product.name[:40],
                )
            for res, writer in writers.items():
                writer.finish(settings.compress, overview_factors(*shapes[res][:2]), BLOCK)
            publish_together(list(writers.values()), journal)
        except (OSError, RuntimeError) as exc:
            if is_disk_full(exc, out, while_writing=True):
                raise disk_full_error(out, needed, f"cleaning {product.name}", "run the same command again") from exc
            # bands that fail to decode are reported by _read_strip; what GDAL raises here is writing
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise InputError(
                f"{getattr(exc, 'filename', None) or out}: cannot write the outputs of {product.name} ({reason}); "
                "check the output folder and run again"
            ) from exc
        finally:
            for writer in writers.values():
                writer.discard()
    ablation = "" if "20m" in stacks else " (a Vis/NIR model: no 20 m output)" if "20m" not in runner.stacks else " (--stacks 10m)"
    log(f"{product.name}: wrote {' and '.join(names.values())}{ablation}")
    return list(finals.values())


def publish_together(writers: list[StreamedCOG], journal: Path) -> None:
    """Rename the finished COGs of one product to their final names, together or not at all.

    Two renames cannot be one atomic step, so the ``journal`` (a hidden file beside them)
    lists the final names while they are renamed: a failure or an interruption in between
    removes the ones already published; a kill that leaves the journal behind is undone by
    the next run, which treats the product as not done."""
    write_text_atomically(journal, "".join(f"{w.final.name}\n" for w in writers))
    published = []
    try:
        for writer in writers:
            published.append(writer.final)  # first: an interruption just after the rename still takes it back
            writer.publish()
    except BaseException:
        for final in published:
            final.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        raise
    journal.unlink()


def overview_factors(width: int, height: int) -> list[int]:
    """Overview levels 2, 4, ... down to one COG block, as GDAL's COG driver chooses them."""
    factors, size = [], max(width, height)
    while size > BLOCK:
        size = math.ceil(size / 2)
        factors.append(2 * factors[-1] if factors else 2)
    return factors


def _output_metadata(product: Product, runner: TileRunner, settings: Settings) -> dict[str, str]:
    return {
        "CRMSS_VERSION": __version__,
        "CRMSS_MODEL": str(runner.path),
        "CRMSS_PRECISION": str(runner.precision),
        "CRMSS_SOURCE_PRODUCT": product.name,
        "CRMSS_SCALE": "top-of-atmosphere reflectance x 10000, no radiometric offset; 0 = no data",
        "CRMSS_TILING": f"{settings.tile} px tiles at 10 m overlapping by {settings.overlap} px, linear-ramp blending",
    }


class _Strip:
    """Blended outputs (reflectance x 10000) over the rows of one strip of tiles, one
    resolution: (rows, cols, bands) float32, reused from strip to strip."""

    def __init__(self, rows: int, cols: int, bands: int):
        self.sum = np.zeros((rows, cols, bands), np.float32)
        self.nodata = np.zeros((rows, cols), bool)

    def add(self, weighted: np.ndarray, left: int) -> None:
        """Add one tile's weighted (tile, tile, bands) output at column ``left``, cropped to the scene."""
        rows = min(weighted.shape[0], self.sum.shape[0])
        cols = min(weighted.shape[1], self.sum.shape[1] - left)
        self.sum[:rows, left : left + cols] += weighted[:rows, :cols]

    def finished(self, rows: int) -> np.ndarray:
        """(rows, cols, bands) uint16 output of the first ``rows`` rows: reflectance x 10000,
        at least 1, 0 where no data. Overwrites those rows of the sums (``advance`` drops them)."""
        values = self.sum[:rows]
        valid = (~self.nodata[:rows]).astype(np.float32)[..., None]
        # round half up by truncation after + 0.5, within [1, 65535] (no data: [0, 0]); whole-
        # array passes with float bounds, faster than np.clip or boolean indexing with masks
        np.add(values, 0.5, out=values)
        np.multiply(values, valid, out=values)
        np.maximum(values, valid, out=values)
        np.minimum(values, 65535.0, out=values)
        return values.astype(np.uint16)

    def advance(self, rows: int) -> None:
        """Drop the first ``rows`` rows (written): the rest moves to the top, zeros below."""
        for array in (self.sum, self.nodata):
            keep = array.shape[0] - rows
            if keep > 0:
                array[:keep] = array[rows:]  # numpy copies through a buffer where these overlap
            array[max(keep, 0) :] = 0


def _yield_to_the_model() -> None:
    """Lower this (decoding) thread's priority, where the system allows it: on a CPU the model
    then keeps both its threads busy and decoding fills the gaps, instead of slowing every
    parallel op to its slowest thread; on a GPU machine the cores are free anyway."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: per thread
    except (AttributeError, OSError):  # no setpriority (Windows), or no per-thread nice (macOS)
        pass


def _run_strips(read_strip, write, height: int, width: int, runner: TileRunner, settings: Settings, label: str) -> None:
    """Run and blend a scene of ``height`` x ``width`` px at 10 m strip by strip (one row of
    tiles each), for each of the generator's stacks.

    ``read_strip(top)`` gives rows ``top .. top + tile`` (10 m px) of every stack as
    ``{res: (uint16 reflectance x 10000 (rows, cols, bands), no-data mask (rows, cols))}``; it
    runs in a thread of its own, one strip ahead, so decoding overlaps the model.
    ``write(res, rows, top)`` receives the finished uint16 rows of a stack from row ``top`` of
    its own grid. Tile batches run on the runner's devices in turn; the sums add their outputs
    in one order whatever the devices, so the output does not depend on them."""
    stacks = {res: SCALE[res] for res in runner.stacks}
    tile, overlap, batch_size = settings.tile, settings.overlap, settings.batch_size
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    weights = {
        res: (
            blend_weights(height // s, [r // s for r in rows], tile // s, overlap // s),
            blend_weights(width // s, [c // s for c in cols], tile // s, overlap // s),
        )
        for res, s in stacks.items()
    }
    strips = {res: _Strip(tile // s, width // s, len(STACKS[res])) for res, s in stacks.items()}
    with (
        tqdm(total=len(rows) * len(cols), desc=label, unit="tile", disable=not settings.progress) as bar,
        ThreadPoolExecutor(1, initializer=_yield_to_the_model) as prefetch,
    ):
        upcoming = prefetch.submit(read_strip, rows[0])
        for index, top in enumerate(rows):
            inputs = upcoming.result()
            if index + 1 < len(rows):
                upcoming = prefetch.submit(read_strip, rows[index + 1])
            for res in stacks:
                strips[res].nodata[: inputs[res][1].shape[0]] |= inputs[res][1]
            batches = [range(first, min(first + batch_size, len(cols))) for first in range(0, len(cols), batch_size)]

            def tiles_of(batch: range, index=index, inputs=inputs) -> tuple[list, list]:
                x = [np.stack([_cut(inputs[res][0], cols[j] // s, tile // s) for j in batch]) for res, s in stacks.items()]
                w = [(row_weights[index], col_weights[batch.start : batch.stop]) for row_weights, col_weights in weights.values()]
                return x, w

            for batch, outputs in zip(batches, runner.map_weighted(map(tiles_of, batches))):
                for res, y in zip(stacks, outputs):
                    for j, out in zip(batch, y):
                        strips[res].add(out, cols[j] // stacks[res])
                bar.update(len(batch))
            bottom = rows[index + 1] if index + 1 < len(rows) else height
            for res, s in stacks.items():
                done = bottom // s - top // s
                write(res, strips[res].finished(done), top // s)
                strips[res].advance(done)


def _cut(strip: np.ndarray, left: int, size: int) -> np.ndarray:
    """A (size, size, bands) tile of a (rows, cols, bands) strip, reflect-padded past the scene."""
    window = strip[:, left : left + size]
    pad_rows, pad_cols = size - window.shape[0], size - window.shape[1]
    if pad_rows or pad_cols:
        window = np.pad(window, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="symmetric")
    return window


def _read_strip(product: Product, readers: dict, stacks: tuple[str, ...], top: int, tile: int, pool: ThreadPoolExecutor) -> dict:
    """Rows top..top+tile of the ``stacks`` as uint16 reflectance x 10000 (rows, cols, bands),
    with the no-data mask (rows, cols) of each resolution; bands decoded in parallel (each
    band's reader by one thread at a time), straight into their channel of the stack."""
    strips = {}
    for res in stacks:
        s, bands = SCALE[res], STACKS[res]
        first = readers[bands[0]]
        strips[res] = np.empty((min(tile // s, first.height - top // s), first.width, len(bands)), np.uint16)

    def read(task):
        res, i, band = task
        buffer = strips[res][..., i]  # strided: GDAL writes every len(bands)-th value
        readers[band].read_rows(top // SCALE[res], buffer)
        product.to_reflectance_x10000(band, buffer)

    list(pool.map(read, [(res, i, band) for res in stacks for i, band in enumerate(STACKS[res])]))
    return {res: (stack, (stack == 0).any(axis=-1)) for res, stack in strips.items()}
