"""``crmss prepare``: cut WHUS2-CR pairs of L1C products into the training and testing tree.

Output under ``DATA``::

    {train,test}/{cloudy,clear}/{10m,20m}/<pair key>/<k>.tif   uint16, reflectance x 10000
    manifest.json                                             pairs done, windows kept, drops

10 m patches are 256 x 256 px with bands B02, B03, B04, B08; 20 m patches are 128 x 128 px
with B05, B06, B07, B8A, B11, B12; patch k of all four stacks of a pair covers the same ground.
Each band is decoded once; a pair is written under ``DATA/.partial`` and moved into place when
complete, and ``manifest.json`` (rewritten atomically) lists only complete pairs, so a run that
is killed and started again redoes only the unfinished pair.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..core.bands import STACKS
from ..core.cluster import on_cluster, run_tasks, stop_if_abandoned
from ..core.console import progress_bar
from ..core.errors import DiskFullError, Failures, InputError, disk_full_error, write_error
from ..core.files import LOCK, file_sha256, output_folder, utc_timestamp, write_text_atomically
from ..core.memo import run_scope
from ..core.options import PrepareOptions
from ..core.schemas import PREPARED_MANIFEST, read_json
from ..core.validation import argument, damaged, refuse_other_options
from ..io.discovery import find_products, locate
from ..io.granule import Granule
from ..io.open import open_product
from ..io.raster import (
    Grid,
    block_cache,
    projection_name,
    read_band,
    require_jpeg2000_driver,
    write_geotiff,
)
from .splits import Pair, default_split_path, read_split
from .tree import LAYOUT, ROLES, patch_file, stack_folder
from .windows import SCALE, WINDOW, WindowGrid

logger = logging.getLogger(__name__)

#: a patch file's bytes beyond its pixels: TIFF header, georeferencing, band names, metadata
#: (measured: about 1.3 kB)
PATCH_HEADER_BYTES = 4096
MANIFEST = "manifest.json"
PARTIAL = ".partial"


@dataclass
class PairJob:
    """A pair whose two products are found, opened and checked to share one grid."""

    pair: Pair
    products: dict[str, Granule]  # role -> the granule of the pair's tile
    grid: Grid
    requested: set[int] | None  # window numbers asked for by the windows file, None for all


def prepare(options: PrepareOptions, client: Any = None) -> dict:
    """Prepare every pair of the split list found in ``options.products`` (``crmss prepare``).

    Writes ``out/{train,test}/{cloudy,clear}/{10m,20m}/<pair>/<k>.tif`` (uint16, reflectance x
    10000; 10 m: B02, B03, B04, B08 in 256 px windows; 20 m: B05, B06, B07, B8A, B11, B12 in
    128 px windows) and ``out/manifest.json``. Pairs whose products are absent are reported in
    the manifest's ``missing`` and skipped. Here, one pair after another; with
    ``options.scheduler`` or a ``distributed.Client`` as ``client``, on a Dask cluster, one task
    per pair (crmss/core/cluster.py), the manifest written here as they finish.

    Args:
        options: the products, the output folder, the split list (default: the published
            WHUS2-CR list), the windows, the threads (the fields of ``crmss prepare``).
        client: a ``distributed.Client`` to run the pairs on (instead of ``options.scheduler``).

    Returns:
        The manifest: per pair key its subset, products, grid and kept window numbers.

    Raises:
        InputError: bad input (named with its file and the fix); a pair whose product fails is
            reported and the others are prepared first.
    """
    require_jpeg2000_driver()
    windows = options.windows
    workers = options.workers or len(os.sched_getaffinity(0))
    split_path = Path(options.split) if options.split else default_split_path()
    pairs = read_split(split_path)
    requested = read_windows(Path(windows), pairs) if windows else None
    out = Path(options.out)
    # one run at a time prepares (and cleans up after) a tree; a second waits, then skips the pairs
    # the first did
    rerun = "run the same command again: finished pairs are kept"
    with (
        output_folder(
            out, "prepare", "the manifest", rerun, unused=lambda folder: not _holds_pairs(folder)
        ),
        run_scope(),
    ):
        return _prepare_all(options, out, pairs, split_path, requested, workers, client)


def _prepare_all(
    options: PrepareOptions,
    out: Path,
    pairs: list[Pair],
    split_path: Path,
    requested,
    workers: int,
    client: Any,
) -> dict:
    """Prepare the ``pairs`` found in ``options.products`` into ``out`` (locked), ``requested``
    the windows per pair (None: all); return the manifest."""
    products, windows = Path(options.products), options.windows
    recorded = {
        "split": _file_record(split_path),
        "windows": _file_record(Path(windows)) if windows else None,
    }
    manifest = _load_manifest(out, recorded)
    shutil.rmtree(out / PARTIAL, ignore_errors=True)
    for pair in pairs:
        if pair.key not in manifest["pairs"]:
            _remove_pair_folders(out, pair)

    jobs, manifest["missing"], skipped, refused = _plan(products, pairs, manifest, requested)
    for key, why in skipped.items():
        logger.info(f"{key}: skipped ({why})")
    for key, record in manifest["missing"].items():
        logger.info(
            f"{key}: skipped, products not found in {products}: {', '.join(record['absent'])}"
        )
    failures = Failures(
        len(jobs) + len(refused), "pairs", "run the same command again after fixing these"
    )
    for key, error in refused.items():
        failures.add(key, error)
    _save_manifest(out, manifest, pairs)

    for job, record, error in _prepared(jobs, out, workers, options, client):
        if error is not None:  # a band that fails to decode: this pair leaves nothing behind
            failures.add(job.pair.key, error)
            continue
        seconds = record.pop("seconds")
        manifest["pairs"][job.pair.key] = record
        _save_manifest(out, manifest, pairs)
        dropped = record["dropped"]
        logger.info(
            f"{job.pair.key} ({job.pair.subset}): {len(record['windows'])} windows kept, "
            f"{dropped['nodata']} dropped for "
            f"no data, {dropped['not_requested']} not requested ({seconds:.0f} s)"
        )
    failures.raise_any()
    if not manifest["pairs"]:
        found = len(find_products(products))
        raise InputError(
            f"{products}: nothing was prepared: the products of none of the {len(pairs)} pairs of "
            f"{split_path.name} "
            f"{'named in the windows file ' if requested is not None else ''}are there ({found} "
            "Sentinel-2 products found); "
            f"give {argument('products')} the folder holding the L1C products of the split list's "
            "pairs"
        )
    return manifest


def _prepared(
    jobs: list[PairJob], out: Path, workers: int, options: PrepareOptions, client: Any
) -> Iterator[tuple[PairJob, dict, InputError | None]]:
    """Each job with its pair's manifest record (its ``seconds`` too), or the InputError that
    stopped it, as they finish: here, one after another, or one task each on a Dask cluster."""
    if client is None and options.scheduler is None:
        with block_cache():
            for job in jobs:
                try:
                    yield job, prepare_pair(job, out, workers, options.progress), None
                except DiskFullError:
                    raise  # the next pairs would fail the same way
                except InputError as exc:
                    yield job, {}, exc
        return

    by_key = {job.pair.key: job for job in jobs}
    with on_cluster(options.scheduler, client, out) as cluster:
        work = [(job.pair.key, (job, out, options.workers, False)) for job in jobs]
        for key, record, error in run_tasks(cluster, work, prepare_pair, options.progress, "pair"):
            yield by_key[key], record, error


def _holds_pairs(out: Path) -> bool:
    """Whether ``out`` holds a manifest that lists a prepared pair (else it is only what this run
    began)."""
    try:
        return bool(json.loads((out / MANIFEST).read_text())["pairs"])
    except (OSError, ValueError, KeyError, TypeError):
        return any(p.name not in (MANIFEST, PARTIAL, LOCK) for p in out.iterdir())


def read_windows(path: Path, pairs: list[Pair]) -> dict[str, set[int]]:
    """Parse a ``--windows`` CSV: header ``pair,window``, then e.g. ``R075_T50TMK,17`` per row."""
    keys = {p.key for p in pairs}
    hint = (
        "expected a CSV with the header 'pair,window' and one row per window, e.g. 'R075_T50TMK,17'"
    )
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the windows file ({exc}); {hint}") from exc
    if not rows or [c.strip().lower() for c in rows[0]] != ["pair", "window"]:
        raise InputError(f"{path}, line 1: {hint}")
    chosen: dict[str, set[int]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if (
            len(row) != 2
            or row[0].strip() not in keys
            or not re.fullmatch(r"[0-9]+", row[1].strip())
            or int(row[1]) < 1
        ):
            raise InputError(
                f"{path}, line {line}: {','.join(row)!r} is not a pair key of the "
                f"split list and a window number from 1; {hint}"
            )
        chosen.setdefault(row[0].strip(), set()).add(int(row[1]))
    return chosen


def _plan(products, pairs, manifest, requested):
    """Find, open and check the products of every pair still to do, before any work: the jobs,
    the pairs whose products are absent, those skipped, and per failed pair its InputError (a bad
    product fails its own pair only)."""
    found = find_products(products)
    names_found = {item.path: item.name.name for item in found if item.name}
    jobs, missing, skipped, errors = [], {}, {}, {}
    for item in found:  # what cannot be told apart from any pair fails on its own
        if item.problem and item.name is None:
            errors[str(item.path.relative_to(products))] = item.problem
    for pair in pairs:
        if pair.key in manifest["pairs"]:
            skipped[pair.key] = "already prepared"
            continue
        if requested is not None and pair.key not in requested:
            skipped[pair.key] = "not in the windows file"
            continue
        names = {"cloudy": pair.cloudy, "clear": pair.clear}
        try:
            paths = {role: locate(name, found) for role, name in names.items()}
            for path in filter(None, paths.values()):
                twins = [
                    str(f.path.relative_to(products))
                    for f in found
                    if f.path != path and f.name and f.name.name == names_found[path]
                ]
                if twins:
                    logger.info(
                        f"{pair.key}: using {path.relative_to(products)} (the same "
                        f"product is also there as {', '.join(twins)})"
                    )
            absent = [names[role] for role, path in paths.items() if path is None]
            if absent:
                missing[pair.key] = {"subset": pair.subset, "number": pair.number, "absent": absent}
                continue
            # both, as checked
            opened = {
                role: open_product(path, pair.tile)
                for role, path in paths.items()
                if path is not None
            }
            if opened["cloudy"].name == opened["clear"].name:
                raise InputError(
                    f"{opened['cloudy'].path} and {opened['clear'].path}: both hold the product "
                    f"{opened['clear'].name}; pair "
                    f"{pair.key} needs its cloud-free product {pair.clear} and its cloudy product "
                    f"{pair.cloudy}"
                )
            grids = {role: product.grid() for role, product in opened.items()}
            if not grids["cloudy"].matches(grids["clear"]):
                raise InputError(
                    f"{opened['cloudy'].path} and {opened['clear'].path}: the pair's products are "
                    "not on one grid "
                    f"(cloudy: {grids['cloudy'].describe()}; clear: {grids['clear'].describe()}); "
                    f"pair {pair.key} needs two products of the same tile: check the split list "
                    "and the products"
                )
            wanted = requested.get(pair.key) if requested is not None else None
            count = WindowGrid.for_size(grids["clear"].width, grids["clear"].height).count
            outside = sorted(k for k in wanted or () if k > count)
            if outside:
                raise InputError(
                    f"the windows file names windows {outside[:5]} of pair {pair.key}, which has "
                    f"windows 1..{count}; correct the windows file"
                )
            jobs.append(PairJob(pair, opened, grids["clear"], wanted))
        except InputError as exc:
            errors[pair.key] = exc
    return jobs, missing, skipped, errors


def prepare_pair(job: PairJob, out: Path, workers: int | None, progress: bool) -> dict:
    """Decode the pair's 20 bands once, cut the valid windows, write them, move them into place;
    return the pair's manifest record, with the ``seconds`` it took (the task a cluster worker
    runs; ``workers``: decoding and writing threads, None for all cores). A pair that fails
    leaves nothing behind."""
    start, workers = time.perf_counter(), workers or len(os.sched_getaffinity(0))
    try:
        with block_cache():
            return {
                **_prepare_pair(job, out, workers, progress),
                "seconds": time.perf_counter() - start,
            }
    except InputError:
        shutil.rmtree(out / PARTIAL / job.pair.key, ignore_errors=True)
        raise


def _prepare_pair(job: PairJob, out: Path, workers: int, progress: bool) -> dict:
    """Decode, cut, write and move one pair's windows into place (see :func:`prepare_pair`); its
    manifest record."""
    windows = WindowGrid.for_size(job.grid.width, job.grid.height)
    bands = len(ROLES) * sum(len(stack) for stack in STACKS.values())
    with progress_bar(progress, total=bands, desc=f"{job.pair.key} decode", unit="band") as bar:
        stacks, nodata_in = _decode(job, windows, workers, bar)
        candidates = np.arange(1, windows.count + 1)
        if job.requested is not None:
            candidates = candidates[np.isin(candidates, sorted(job.requested))]
        nodata = np.logical_or.reduce(list(nodata_in.values())).ravel()
        keep = [int(k) for k in candidates if not nodata[k - 1]]
        bar.reset(total=len(keep))
        bar.unit = "window"
        bar.set_description(f"{job.pair.key} write")
        _write_windows(job, out, windows, stacks, keep, workers, bar)
    return {
        "subset": job.pair.subset,
        "number": job.pair.number,
        **{role: _product_record(job.products[role], getattr(job.pair, role)) for role in ROLES},
        "grid": {
            "crs": projection_name(job.grid.projection),
            "geotransform_10m": list(job.grid.geotransform),
            "size_10m": [job.grid.width, job.grid.height],
            "window_rows": windows.rows,
            "window_cols": windows.cols,
        },
        "windows": keep,
        "dropped": {
            "nodata": int(nodata[candidates - 1].sum()),
            "not_requested": windows.count - len(candidates),
        },
        "nodata_windows_by_stack": {name: int(mask.sum()) for name, mask in nodata_in.items()},
    }


def _decode(
    job: PairJob, windows: WindowGrid, workers: int, bar: tqdm
) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]:
    """The pair's stacks as reflectance x 10000, {(role, res): (bands, rows, cols) uint16}, bands
    decoded in parallel, and per stack (``<role>_<res>``) the windows with any no-data pixel."""
    stacks = {
        (role, res): np.empty(
            (len(bands), job.grid.height // SCALE[res], job.grid.width // SCALE[res]), np.uint16
        )
        for role in ROLES
        for res, bands in STACKS.items()
    }
    tasks = [
        (role, res, i, band)
        for res, bands in STACKS.items()
        for role in ROLES
        for i, band in enumerate(bands)
    ]

    def decode(task: tuple[str, str, int, str]) -> np.ndarray:
        role, res, i, band = task
        product, target = job.products[role], stacks[role, res][i]
        read_band(product.band_files[band], out=target)
        product.to_reflectance_x10000(band, target)
        return windows.nodata_windows(target, res)

    nodata_in: dict[str, np.ndarray] = {}
    with ThreadPoolExecutor(workers) as pool:
        for (role, res, _, _), nodata in zip(tasks, pool.map(decode, tasks)):
            nodata_in[f"{role}_{res}"] = nodata_in.get(f"{role}_{res}", False) | nodata
            bar.update()
    return stacks, nodata_in


def _write_windows(
    job: PairJob,
    out: Path,
    windows: WindowGrid,
    stacks: dict,
    keep: list[int],
    workers: int,
    bar: tqdm,
) -> None:
    """Write the ``keep`` windows of every stack as georeferenced patches into ``out/.partial``,
    then move the pair's folders into place: all of them, or (a write failed) none."""
    pair, grid = job.pair, job.grid
    needed = len(keep) * sum(
        stack.nbytes // windows.count + PATCH_HEADER_BYTES for stack in stacks.values()
    )
    if shutil.disk_usage(out).free < needed:
        raise disk_full_error(
            out, needed, f"pair {pair.key}", "run the same command again: finished pairs are kept"
        )
    partial = out / PARTIAL / pair.key
    for role, res in stacks:
        (partial / role / res).mkdir(parents=True)

    def write(k: int) -> None:
        for (role, res), stack in stacks.items():
            col, row = windows.offset(k, res)
            write_geotiff(
                patch_file(partial / role / res, k),
                windows.cut(stack, k, res),
                grid.geotransform_at(SCALE[res], col, row),
                grid.projection,
                STACKS[res],
                metadata={
                    "CRMSS_PAIR": pair.key,
                    "CRMSS_WINDOW": str(k),
                    "CRMSS_PRODUCT": job.products[role].name,
                },
            )
        bar.update()

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(write, keep))
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        rerun = "run the same command again: finished pairs are kept, this one is redone"
        raise write_error(exc, out, f"pair {pair.key}", rerun, needed) from exc
    stop_if_abandoned(
        f"pair {pair.key}"
    )  # on a worker whose scheduler is gone nobody records the pair
    for role, res in stacks:
        final = stack_folder(out, pair.subset, role, res, pair.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial / role / res, final)
    shutil.rmtree(partial)
    with contextlib.suppress(OSError):  # other pairs may be under way (a cluster): then it stays
        (out / PARTIAL).rmdir()


def _product_record(product: Granule, listed: str) -> dict:
    return {
        "listed": listed,
        "product": product.name,
        "path": str(product.path),
        "naming": product.naming,
        "baseline": product.baseline,
        "offsets": {b: product.offsets.get(b, 0) for bands in STACKS.values() for b in bands},
    }


def _file_record(path: Path) -> dict:
    return {"file": str(path), "sha256": file_sha256(path)}


def _load_manifest(out: Path, options: dict) -> dict:
    path = out / MANIFEST
    if not path.exists():
        return {
            "crmss_version": __version__,
            "created": utc_timestamp(),
            "layout": LAYOUT,
            "values": "uint16 top-of-atmosphere reflectance x 10000 (radiometric offset applied "
            "for baseline 04.00 and later); "
            "0 = no data; 65535 = saturated",
            "window_px": WINDOW,
            "bands": {res: list(bands) for res, bands in STACKS.items()},
            "window_rule": "k = row * cols + col + 1 over the whole grid; dropped where any pixel "
            "of any band of the pair's four stacks is 0",
            "options": options,
            "pairs": {},
            "missing": {},
        }
    manifest = read_json(path, PREPARED_MANIFEST, damaged("prepare"))
    # a run that prepared no pair (it failed, or found no products) binds nothing
    if not manifest["pairs"]:
        return {**manifest, "options": options, "missing": {}}
    previous = manifest["options"]
    changed = {
        name: ((options[name] or {}).get("file"), (previous.get(name) or {}).get("file"))
        for name in ("split", "windows")
        if (previous.get(name) or {}).get("sha256") != (options[name] or {}).get("sha256")
    }
    refuse_other_options(
        path, changed, "Give the same files (the same contents) to continue it", "prepare"
    )
    return manifest


def _save_manifest(out: Path, manifest: dict, pairs: list[Pair]) -> None:
    """Write manifest.json atomically, pairs in split-list order (however the runs went, the
    same tree gives the same manifest, and training holds out the same validation pairs)."""
    order = {pair.key: i for i, pair in enumerate(pairs)}
    for name in ("pairs", "missing"):
        manifest[name] = dict(
            sorted(manifest[name].items(), key=lambda item: order.get(item[0], len(order)))
        )
    manifest["updated"] = utc_timestamp()
    write_text_atomically(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _remove_pair_folders(out: Path, pair: Pair) -> None:
    """Remove what an interrupted run left of a pair not listed as complete in the manifest."""
    for role in ROLES:
        for res in STACKS:
            shutil.rmtree(stack_folder(out, pair.subset, role, res, pair.key), ignore_errors=True)
