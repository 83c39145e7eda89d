"""``crmss predict``: whole L1C products to seamless cloud-free Cloud-Optimized GeoTIFFs.

For each product, ``DIR/<product>_CR_10m.tif`` (B02, B03, B04, B08) and ``DIR/<product>_CR_20m.tif``
(B05, B06, B07, B8A, B11, B12): uint16 TOA reflectance x 10000 without any radiometric offset, 0 =
no data, on the product's own grid; the network's output where ``--mask`` finds cloud, the input
elsewhere, with the weights in ``DIR/<product>_CR_mask.tif`` (crmss/inference/masks.py). A Vis/NIR
model (the ablation without VRE/SWIR) writes no 20 m output. Products (one granule at a time)
are decoded strip by strip, bands in parallel, run through the scene engine
(crmss/inference/strips.py) and streamed into COGs (crmss/io/cog.py) that are checked and
published together, or not at all. With the GPU decoder (``--decoder``, crmss/io/gpu_decode.py)
a product's bands are decoded whole in one batch on the GPU instead, each checked against its
header, and the strips are cut from them (crmss/inference/sources.py).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..core.bands import STACKS
from ..core.cluster import on_cluster, run_tasks, stop_if_abandoned
from ..core.console import peak_memory_gb
from ..core.errors import DiskFullError, Failures, InputError, write_error
from ..core.files import exclusive_lock, file_sha256, output_folder
from ..core.memo import per_run, run_scope
from ..core.options import NAMED_MASKS, PredictOptions
from ..core.validation import argument
from ..dataset.cloud_masks import MASK_FACTOR
from ..dataset.windows import SCALE
from ..io.cog import BLOCK, SmallCOG, StreamedCOG, overview_factors, publish_together
from ..io.gpu_decode import resolve_decoder
from ..io.granule import Granule
from ..io.open import is_url, product_at, product_paths
from ..io.products import BUCKET_PATH
from ..io.raster import block_cache, gdal_metadata, require_jpeg2000_driver
from ..nn.backends import gpu_count, share_gpu_memory
from ..nn.model import generator_file, load_generator
from .masks import mask_record, scene_weights
from .runner import TileRunner, default_batch_size
from .sources import strip_source
from .strips import Settings, run_strips, yield_to_the_model

logger = logging.getLogger(__name__)

#: GDAL's block cache while predicting: two rows of JPEG2000 code tiles of all ten bands
#: stay decoded, so the overlap between strips is not decoded twice
BLOCK_CACHE_MB = 768


def predict_products(options: PredictOptions, client: Any = None) -> list[Path]:
    """Clean whole L1C products into Cloud-Optimized GeoTIFFs (``crmss predict``).

    For each product ``out/<product>_CR_10m.tif`` (B02, B03, B04, B08) and
    ``out/<product>_CR_20m.tif`` (B05, B06, B07, B8A, B11, B12), uint16 reflectance x 10000,
    0 = no data, on the product's own grid. Outputs of the same model and options are
    skipped; of another, refused unless ``overwrite``. Here, one product after another; with
    ``options.scheduler`` or a ``distributed.Client`` as ``client``, on a Dask cluster, one
    task per product (crmss/core/cluster.py).

    Args:
        options: the products, the model, the output folder, tiling, precision and devices
            (the fields of ``crmss predict``).
        client: a ``distributed.Client`` to run the products on (instead of ``options.scheduler``).

    Returns:
        The paths of the outputs written or found finished.

    Raises:
        InputError: bad input; a product that fails (not L1C, a corrupt band) is reported and
            the others still run, the failures raised together at the end.
    """
    require_jpeg2000_driver()
    _decoder(options.decoder)
    out = Path(options.out)
    # no lock on the folder: runs into one folder share it, each product locked on its own
    with output_folder(out, "predict", "the outputs", lock=None), run_scope() as run:
        # a run without that checkpoint is refused before any product
        generator_file(options.model, options.checkpoint)
        failures = Failures(
            len(options.products),
            "products",
            "fix these and run again (finished outputs are skipped)",
        )
        paths = _product_paths(options, failures)
        if client is None and options.scheduler is None:
            # loaded before the first product
            _runner(options.model, options.checkpoint, options.precision, options.devices)
            written = [
                path for product in paths for path in _each_product(product, options, failures)
            ]
        else:
            written = _on_cluster(paths, options, client, failures, run)
        failures.raise_any()
        return written


def _product_paths(options: PredictOptions, failures: Failures) -> list[str]:
    """The products ``options.products`` name (paths or URLs), an ItemCollection's items as
    ``<file or URL>#<item id>``; not opened here (each product is, where it runs)."""
    paths = []
    for location in options.products:
        try:
            paths += product_paths(location)
        except InputError as exc:
            failures.add(_shown(location), exc)
    return paths


def _shown(location: str) -> str:
    """How a product is named in messages: the last part of its path or URL (with ``#<item id>``);
    a tile folder of the bucket by its place there (``tiles/50/T/MK/2016/4/3/0``, not ``0``)."""
    if is_url(location):
        return location.rstrip("/").rsplit("/", 1)[-1]
    path = Path(location)
    place = BUCKET_PATH.search(path.as_posix().rstrip("/"))
    return place[0] if place else path.name or location


def _each_product(path: str, options: PredictOptions, failures: Failures) -> list[Path]:
    """The outputs of one product run here; its InputError added to ``failures``."""
    try:
        return list(map(Path, predict_product(path, options)))
    except DiskFullError:
        raise  # the next products would fail the same way
    except InputError as exc:
        failures.add(_shown(path), exc)
        return []


def _on_cluster(
    paths: list[str], options: PredictOptions, client: Any, failures: Failures, run: str
) -> list[Path]:
    """The outputs of the products run on a Dask cluster, one task each (crmss/core/cluster.py);
    a worker keeps the generator of ``run`` between its tasks."""

    written: list[Path] = []
    # a local cluster: one worker per GPU, one on a CPU
    with on_cluster(
        options.scheduler, client, Path(options.out), local_workers=gpu_count()
    ) as cluster:
        tasks = [(path, (path, options, run)) for path in paths]
        for path, outputs, error in run_tasks(
            cluster, tasks, predict_product, options.progress, "product"
        ):
            if error is not None:
                failures.add(_shown(path), error)
                continue
            done = (
                "wrote " + " and ".join(Path(p).name for p in outputs)
                if outputs
                else "finished earlier, skipped"
            )
            logger.info(f"{_shown(path)}: {done}")
            written += map(Path, outputs)
    return written


def predict_product(path: str, options: PredictOptions, run: str | None = None) -> list[str]:
    """Clean every granule of the product at ``path`` into ``options.out`` (the task a cluster
    worker runs, and each step of a run here); return the outputs written. The generator is
    loaded once per run (:func:`_runner`): a worker keeps that of ``run`` between its tasks."""
    decoder = _decoder(options.decoder)
    settings = Settings(
        options.tile, options.overlap, options.batch_size or default_batch_size(), options.progress
    )
    with run_scope(run, keep=run is not None), block_cache(BLOCK_CACHE_MB):
        runner = _runner(options.model, options.checkpoint, options.precision, options.devices)
        granules = product_at(path).granules()  # pre-2016 products may have several
        return [
            str(p)
            for granule in granules
            for p in _predict_granule(
                granule, runner, Path(options.out), settings, options, decoder
            )
        ]


def _decoder(requested: str) -> str:
    """What ``--decoder requested`` means here (crmss/io/gpu_decode.py); with the GPU decoder,
    TensorFlow is set to share the GPU's memory before it starts."""
    decoder = resolve_decoder(requested)
    if decoder == "gpu":
        share_gpu_memory()
    return decoder


def _runner(model: Path, checkpoint: str, precision: str, devices: str) -> TileRunner:
    """The generator of ``model``, ready for tiles; loaded once per run (crmss/core/memo.py)
    while its file is unchanged."""
    path = generator_file(model, checkpoint)
    return _loaded(path, path.stat().st_mtime_ns, precision, devices)


@per_run
def _loaded(path: Path, modified: int, precision: str, devices: str) -> TileRunner:
    runner = TileRunner(load_generator(path), precision, devices, path)
    logger.info(f"{runner.path}: running at {runner.precision} on {', '.join(runner.devices)}")
    return runner


def output_names(product: Granule, stacks: tuple[str, ...] = tuple(STACKS)) -> dict[str, str]:
    """The outputs' file names per resolution written: the product's name, and the tile where
    the product has several."""
    stem = product.name if product.granules == 1 else f"{product.name}_T{product.tile}"
    return {res: f"{stem}_CR_{res}.tif" for res in stacks}


def _predict_granule(
    product: Granule,
    runner: TileRunner,
    out: Path,
    settings: Settings,
    options: PredictOptions,
    decoder: str,
) -> list[Path]:
    """Clean one granule of a product into ``out`` (locked per product; skipped when its outputs
    exist); return the outputs written."""
    # the stacks written
    stacks = tuple(s for s in runner.stacks if options.stacks == "all" or s == options.stacks)
    names = output_names(product, stacks)
    mask_name = names["10m"].replace("_CR_10m.tif", "_CR_mask.tif")
    if options.mask != "none":
        names["mask"] = mask_name
    finals = {key: out / name for key, name in names.items()}
    written = {key: final for key, final in finals.items() if key != "mask"}
    # one run at a time writes (or cleans up after) a product's outputs in a folder; a second waits,
    # then skips them
    stem = names["10m"].removesuffix("_CR_10m.tif")
    with exclusive_lock(
        out / f".{stem}.lock",
        f"{stem}: another crmss predict is writing this product into {out}; waiting for it",
    ):
        journal = out / f".{stem}.publishing"
        if journal.exists():  # a run was killed while publishing: what it published is incomplete
            listed = journal.read_text().split()
            for final in {*finals.values(), *(out / name for name in listed)}:
                final.unlink(missing_ok=True)
            journal.unlink()
        # outputs of another model or other options (another --mask too) are refused or replaced
        # whether or not their weights file is there; alike and complete, they are skipped
        if (
            all(f.exists() for f in written.values())
            and _made_alike(written, _recipe(runner, options), options.overwrite)
            and all(f.exists() for f in finals.values())
        ):
            logger.info(
                f"{product.name}: skipped, {' and '.join(names.values())} exist (made by "
                "this model with these options)"
            )
            return []
        # what a killed run left (no other run writes this product now), and the weights of an
        # earlier run with a mask, which the raw output about to be written replaces
        for name in {*names.values(), mask_name}:
            for stale in out.glob(f".{name}.partial-*"):
                stale.unlink()
        if "mask" not in finals:
            (out / mask_name).unlink(missing_ok=True)
        start = time.perf_counter()
        _write_outputs(product, runner, finals, journal, settings, options, decoder)
    ablation = (
        ""
        if "20m" in stacks
        else " (a Vis/NIR model: no 20 m output)"
        if "20m" not in runner.stacks
        else f" ({argument('stacks', '10m')})"
    )
    spent = (
        f"in {time.perf_counter() - start:.0f} s, peak memory of the process "
        f"{peak_memory_gb():.1f} GB"
    )
    logger.info(f"{product.name}: wrote {' and '.join(names.values())} {spent}{ablation}")
    return list(finals.values())


def _write_outputs(
    product: Granule,
    runner: TileRunner,
    finals: dict[str, Path],
    journal: Path,
    settings: Settings,
    options: PredictOptions,
    decoder: str,
) -> None:
    """Run the scene and publish its COGs at ``finals`` (per resolution written) together."""
    out, grid = journal.parent, product.grid()
    settings = settings.fitted(grid.height, grid.width)
    stacks = {res: final for res, final in finals.items() if res in STACKS}
    shapes = {
        res: (grid.width // SCALE[res], grid.height // SCALE[res], len(STACKS[res]))
        for res in stacks
    }
    needed = sum(StreamedCOG.needed_bytes(*shape) for shape in shapes.values())
    metadata = _output_metadata(product, runner, settings, _recipe(runner, options))
    clouds = scene_weights(options.mask, product, grid)
    writers: dict[str, StreamedCOG] = {}
    mask_cog = None
    try:
        if clouds is not None:
            metadata["CRMSS_CLOUD_FRACTION"] = f"{clouds.cloudy_fraction():.4f}"
            if options.mask not in NAMED_MASKS:
                metadata["CRMSS_MASK_FILE"] = str(Path(options.mask).resolve())
            mask_cog = SmallCOG(
                finals["mask"],
                clouds.percent(),
                "share of the network's output, percent",
                grid.geotransform_at(MASK_FACTOR),
                grid.projection,
                metadata,
            )
        for res, final in stacks.items():
            writers[res] = StreamedCOG(
                final,
                *shapes[res][:2],
                STACKS[res],
                grid.geotransform_at(SCALE[res]),
                grid.projection,
                metadata,
            )
        with ThreadPoolExecutor(
            options.workers or len(os.sched_getaffinity(0)), initializer=yield_to_the_model
        ) as pool:
            run_strips(
                strip_source(product, grid, runner.stacks, settings.tile, pool, decoder),
                functools.partial(_write_rows, writers, product.name),
                grid.height,
                grid.width,
                runner,
                settings,
                product.name[:40],
                clouds,
            )
        for res, writer in writers.items():
            writer.finish(options.compress, overview_factors(*shapes[res][:2]), BLOCK)
        published: list[StreamedCOG | SmallCOG] = list(writers.values())
        if mask_cog is not None:
            mask_cog.finish()
            published.append(mask_cog)
        publish_together(published, journal)
    # bands that fail to decode are reported by sources._read_strip: this is writing
    except (OSError, RuntimeError) as exc:
        raise write_error(exc, out, f"cleaning {product.name}", needed=needed) from exc
    finally:
        for writer in writers.values():
            writer.discard()
        if mask_cog is not None:
            mask_cog.discard()


def _write_rows(
    writers: dict[str, StreamedCOG], product: str, res: str, rows: np.ndarray, top: int
) -> None:
    """Write finished ``rows`` of stack ``res`` from row ``top`` (where that stack is written),
    unless the Dask worker running this product has lost its scheduler."""
    stop_if_abandoned(product)
    if res in writers:
        writers[res].write(rows, top)


def _recipe(runner: TileRunner, options: PredictOptions) -> dict[str, str]:
    """What makes an output what it is, as each output records it: the generator file's SHA-256,
    the precision it ran at, the tile and overlap asked for."""
    model = generator_file(options.model, options.checkpoint)
    return {
        "CRMSS_MODEL_SHA256": _file_sha256(model),
        "CRMSS_PRECISION": str(runner.precision),
        "CRMSS_TILE": str(options.tile),
        "CRMSS_OVERLAP": str(options.overlap),
        "CRMSS_MASK": mask_record(
            options.mask, None if options.mask in NAMED_MASKS else _file_sha256(options.mask)
        ),
    }


def _file_sha256(path: str | Path) -> str:
    """The SHA-256 of the file at ``path`` (the generator, a mask raster), once per run while it
    is unchanged."""
    return _sha256_of(Path(path), Path(path).stat().st_mtime_ns)


@per_run
def _sha256_of(path: Path, modified: int) -> str:
    return file_sha256(path)


def _made_alike(finals: dict[str, Path], recipe: dict[str, str], overwrite: bool) -> bool:
    """Whether the existing outputs ``finals`` were made with ``recipe`` (then they are skipped);
    with ``overwrite``, False for those that were not (they are made again); else InputError."""
    for final in finals.values():
        try:
            stated = gdal_metadata(str(final))
        except InputError:
            stated = {}  # unreadable: made again
        differing = [
            f"{key.removeprefix('CRMSS_').lower()} {stated.get(key, 'unrecorded')} (now {value})"
            for key, value in recipe.items()
            if stated.get(key) != value
        ]
        if not differing:
            continue
        if overwrite:
            logger.info(
                f"{final.name}: made with another {', '.join(differing)}: replaced "
                f"({argument('overwrite', True)})"
            )
            return False
        raise InputError(
            f"{final}: made with another {', '.join(differing)}; give "
            f"{argument('overwrite', True)} to replace it, or write into "
            f"another {argument('out')}"
        )
    return True


def _output_metadata(
    product: Granule, runner: TileRunner, settings: Settings, recipe: dict[str, str]
) -> dict[str, str]:
    return {
        "CRMSS_VERSION": __version__,
        "CRMSS_MODEL": str(runner.path),
        **recipe,
        "CRMSS_SOURCE_PRODUCT": product.name,
        "CRMSS_SCALE": "top-of-atmosphere reflectance x 10000, no radiometric offset; 0 = no data",
        "CRMSS_TILING": f"{settings.tile} px tiles at 10 m overlapping by {settings.overlap} px, "
        "linear-ramp blending",
    }
