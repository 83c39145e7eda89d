"""``crmss simulate``: a simulated testing set made from the clear patches of a prepared subset.

Every clear patch pair (10 m and 20 m) of the subset gets thin cloud from the single-layer
model of crmss/dataset/clouds.py, the one the synthetic products use::

    cloudy = clear * t(band) + cloud_reflectance(band) * (1 - t(band)),
    t(band) = exp(-tau * (0.55 um / wavelength))

with one optical-thickness field tau per patch on the 10 m grid; the 20 m bands see it
averaged over 2 x 2 pixels, so both resolutions agree. Per patch, drawn from a generator
seeded by (seed, pair, window), so the set is the same on every machine:

* the peak optical thickness, uniform in ``thickness`` (default 0.1 to 1.0);
* the fraction of the patch under the cloud, uniform in ``cover`` (default 0.3 to 1.0);
* the field itself: smooth noise with features of 256, 64 and 16 px (2.56 km to 160 m),
  thresholded to the cover and rising to the peak thickness inside.

The cloud spectrum is crmss/dataset/clouds.py's (an optically thick water cloud, 0.56 in B02),
scaled so that B02 has ``cloud_reflectance``. These parameters are our choices: the paper's
simulation recipe could not be obtained. The clear patches are the exact truth, so scores on this
set measure cloud removal without the land changes between two dates.

The output is a prepared tree (``SIM/<subset>/{cloudy,clear}/{10m,20m}/<pair>/<k>.tif``, the
clear patches copied unchanged) whose ``manifest.json`` records the parameters and the seed;
``crmss test --data SIM`` evaluates it like the real one. It is written under a temporary name
and renamed when complete; an existing SIM is never touched.
"""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.bands import STACKS
from ..core.console import progress_bar
from ..core.errors import InputError
from ..core.files import new_folder, utc_timestamp
from ..core.options import CloudParameters, SimulateOptions
from ..io.metadata import SATURATED
from ..io.raster import RasterInfo, read_image, write_geotiff
from .clouds import add_thin_cloud, block_mean, thickness_field
from .tree import load_patches, read_manifest, stack_folder, stack_key
from .windows import SCALE

logger = logging.getLogger(__name__)

#: features of the optical-thickness field, in 10 m px
CLOUD_SCALES = (256, 64, 16)


def cloud_over(
    clear10: np.ndarray, clear20: np.ndarray, rng: np.random.Generator, parameters: CloudParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin cloud over one clear patch pair, reflectance (S, S, 4) and (S/2, S/2, 6): returns
    the cloudy pair (same shapes, float32) and the optical thickness (S, S) at 10 m."""
    size = clear10.shape[0]
    peak = rng.uniform(*parameters.thickness)
    cover = rng.uniform(*parameters.cover)
    tau10 = thickness_field(size, rng, cover, peak, CLOUD_SCALES)
    tau20 = block_mean(tau10, 2)
    spectrum = parameters.spectrum()
    stacks = []
    for clear, tau, bands in ((clear10, tau10, STACKS["10m"]), (clear20, tau20, STACKS["20m"])):
        stacks.append(
            np.stack(
                [
                    add_thin_cloud(clear[..., i], tau, band, spectrum[band])
                    for i, band in enumerate(bands)
                ],
                -1,
            ).astype(np.float32)
        )
    return stacks[0], stacks[1], tau10


def simulate(options: SimulateOptions) -> dict:
    """Write a simulated testing set (``crmss simulate``): the clear patches of a prepared
    subset under thin cloud of the single-layer model (crmss/dataset/clouds.py).

    Args:
        options: the prepared data, the new output folder, the subset, the cloud parameters
            (the fields of ``crmss simulate``).

    Returns:
        The new tree's manifest (itself a prepared tree, its ``simulation`` recording the
        parameters and seed).

    Raises:
        InputError: bad input, or an ``out`` that exists and is not empty.
    """
    data, out, subset = Path(options.data), Path(options.out), options.subset
    sets = load_patches(data, subset)  # checks the tree and its first patches
    source_manifest = read_manifest(data / "manifest.json")
    if source_manifest.get("simulation"):
        raise InputError(
            f"{data}: is itself a simulated set; simulate from the prepared real pairs"
        )
    with new_folder(out, "simulate", "the simulated set") as tmp:
        manifest = _write(
            tmp, data, source_manifest, sets, subset, options.clouds, options.progress
        )
    logger.info(
        f"simulated testing set in {out}: {sum(len(s) for s in sets.values())} patch "
        f"pairs of {len(sets)} pairs"
    )
    return manifest


def _write(
    root: Path,
    data: Path,
    source_manifest: dict,
    sets: dict,
    subset: str,
    parameters: CloudParameters,
    progress: bool,
) -> dict:
    total = sum(len(s) for s in sets.values())
    with progress_bar(progress, total=total, desc="simulate", unit="patch") as bar:
        for pair, patches in sets.items():
            for index in range(len(patches)):
                files = {key: Path(paths[index]) for key, paths in patches.files.items()}
                window = int(files[stack_key("clear", "10m")].stem)
                clear = {
                    res: _read(files[stack_key("clear", res)], res, patches.size10 // SCALE[res])
                    for res in STACKS
                }
                rng = np.random.default_rng([parameters.seed, zlib.crc32(pair.encode()), window])
                cloudy10, cloudy20, _ = cloud_over(
                    clear["10m"][0], clear["20m"][0], rng, parameters
                )
                for res, cloudy in (("10m", cloudy10), ("20m", cloudy20)):
                    target = (
                        stack_folder(root, subset, "cloudy", res, pair)
                        / files[stack_key("clear", res)].name
                    )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    dn = np.clip(np.rint(cloudy * 10000), 1, 65535).astype(np.uint16)
                    dn[clear[res][1]] = SATURATED  # saturated stays saturated
                    info = clear[res][2]
                    write_geotiff(
                        target,
                        np.moveaxis(dn, -1, 0),
                        info.geotransform,
                        info.projection,
                        STACKS[res],
                        metadata={
                            "CRMSS_SIMULATED": "thin cloud by crmss simulate over the clear patch"
                        },
                    )
                    copy = (
                        stack_folder(root, subset, "clear", res, pair)
                        / files[stack_key("clear", res)].name
                    )
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(files[stack_key("clear", res)], copy)
                bar.update(1)
    manifest = {
        "crmss_version": __version__,
        "written": utc_timestamp(),
        "source": str(data.resolve()),
        "simulation": {
            **asdict(parameters),
            "subset": subset,
            "model": "single-layer thin cloud, crmss/dataset/clouds.py",
            "cloud_scales_px": list(CLOUD_SCALES),
            "spectrum": parameters.spectrum(),
        },
        "pairs": {key: {**source_manifest["pairs"][key], "subset": subset} for key in sets},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _read(path: Path, res: str, size: int) -> tuple[np.ndarray, np.ndarray, RasterInfo]:
    """A ``res`` patch of ``size`` px as reflectance (rows, cols, bands) float32, not clipped,
    its saturated pixels (bool, same shape) and its header."""
    try:
        info, dn = read_image(str(path))
    except InputError as exc:
        raise InputError(
            f"{path}: cannot read this patch ({exc.__cause__}); prepare the data again"
        ) from exc
    if dn.dtype != np.uint16 or dn.shape != (len(STACKS[res]), size, size):
        raise InputError(
            f"{path}: a {dn.dtype} array of shape {dn.shape}, but {res} patches of this tree are "
            "uint16 "
            f"({len(STACKS[res])}, {size}, {size}); prepare the data again"
        )
    dn = np.moveaxis(dn, 0, -1)
    return dn.astype(np.float32) / 10000, dn == SATURATED, info
