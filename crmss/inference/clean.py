"""``crmss.clean``: numpy arrays of any size cleaned as ``crmss predict`` cleans products.

The thin public face over the scene engine (crmss/inference/strips.py): the arrays are checked
(shapes, dtypes, the reflectance range), turned into uint16 reflectance x 10000 with 0 = no data,
run strip by strip with the same tiling and blending, and returned as float32 reflectance.
"""

from __future__ import annotations

from typing import Annotated, Any

import keras
import numpy as np

from ..core.bands import STACKS
from ..core.errors import InputError
from ..core.options import MASK_DEFAULT, PredictOptions, check_tiling
from ..core.validation import Interval, checked, convert
from ..dataset.cloud_masks import CloudWeights
from ..dataset.windows import SCALE
from .runner import TileRunner, default_batch_size
from .strips import Settings, run_strips


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
    mask: str | np.ndarray = MASK_DEFAULT,
    progress: bool = False,
) -> tuple[np.ndarray, ...]:
    """Clean arrays of any size with the tiling, blending, reflect padding and no-data rule of
    ``crmss predict`` (the same code). A pixel with 0 or NaN in any band of a stack is no data
    (0 in that stack's output); reflectance is clipped to [1e-4, 1] for the model, as in
    predict; above 6.5535 (L1C's saturation) it is refused, as are infinite values.

    Args:
        generator: a generator from ``crmss.load_generator``.
        x10: (H, W, 4) with B02, B03, B04, B08; H and W even.
        x20: (H/2, W/2, 6) with B05, B06, B07, B8A, B11, B12; not needed by a Vis/NIR model.
        tile: the 10 m side of the tiles the generator runs on, as ``crmss predict --tile``.
        overlap: the 10 m overlap of neighbouring tiles, as ``--overlap``.
        batch_size: tiles per model call (default: 4 on a GPU, 1 on a CPU).
        precision: ``auto``, ``float32``, ``bfloat16`` or ``float16``, as ``--precision``.
        devices: the devices to run on, as ``--devices``.
        scale: None for reflectance; else DNs, reflectance = (DN + ``offset``) / ``scale`` (L1C:
            10000).
        offset: added to the DNs before scaling (L1C: -1000 from baseline 04.00, else 0).
        mask: where the network's output is taken, as ``crmss predict --mask``: ``haze``
            (default; crmss's thin-cloud measure on ``x10``), ``none`` (the raw output
            everywhere), or an (H, W) array at 10 m, cloud-affected where non-zero (e.g.
            OmniCloudMask's ``predict_from_array`` output); clear pixels keep their input.
            (``s2cloudless`` reads 60 m bands these arrays lack: ``predict_products`` runs it.)
        progress: draw a progress bar (on a terminal).

    Returns:
        The generator's stacks as float32 reflectance: ``(y10, y20)`` of the shapes of ``x10``
        and ``x20``, or ``(y10,)`` for a Vis/NIR model.

    Raises:
        InputError: saying what was given and what is needed (the tiling, precision and devices
            by ``crmss predict``'s rules).
    """
    tile, overlap, batch_size, precision, devices = _checked_options(
        tile=tile, overlap=overlap, batch_size=batch_size, precision=precision, devices=devices
    )
    scale = convert(Annotated[float, Interval(0, low_open=True)] | None, scale, "scale")
    offset = convert(float, offset, "offset")
    runner = TileRunner(generator, precision, devices)
    prepared = {
        res: _reflectance_x10000(array, res, scale, offset)
        for res, array in _checked_stacks(x10, x20, runner.stacks).items()
    }
    height, width = prepared["10m"].shape[:2]
    clouds = CloudWeights.of_arrays(_checked_mask(mask, (height, width)), prepared["10m"], 10000)
    outputs = {res: np.zeros(dn.shape, np.uint16) for res, dn in prepared.items()}

    def read_strip(top: int) -> dict:
        strips = {
            res: dn[top // SCALE[res] : (top + tile) // SCALE[res]] for res, dn in prepared.items()
        }
        return {res: (strip, (strip == 0).any(axis=-1)) for res, strip in strips.items()}

    def write(res: str, rows: np.ndarray, top: int) -> None:
        outputs[res][top : top + len(rows)] = rows

    settings = Settings(tile, overlap, batch_size or default_batch_size(), progress).fitted(
        height, width
    )
    run_strips(read_strip, write, height, width, runner, settings, "clean", clouds)
    return tuple(outputs[res].astype(np.float32) / 10000 for res in runner.stacks)


def _checked_stacks(x10, x20, stacks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``clean`` was given for the generator's ``stacks``, checked for shape and
    dtype."""
    given = {"10m": x10, "20m": x20}
    arrays: dict[str, np.ndarray] = {}
    for res in stacks:
        name, bands = f"x{res[:2]}", STACKS[res]
        if given[res] is None:
            raise InputError(
                f"clean: the generator needs {name}, the {res} stack "
                f"({', '.join(bands)}); it was not given"
            )
        array = np.asarray(given[res])
        if array.dtype.kind not in "iuf":
            raise InputError(
                f"clean: {name} is an array of {array.dtype}; give floating-point "
                "reflectance, or DNs with scale= (10000 for L1C)"
            )
        if res == "10m" and (
            array.ndim != 3
            or array.shape[2] != len(bands)
            or min(array.shape[:2]) < 2
            or array.shape[0] % 2
            or array.shape[1] % 2
        ):
            raise InputError(
                f"clean: x10 has shape {array.shape}; give (H, W, 4) with H and W "
                f"even, the bands {', '.join(bands)}"
            )
        if res == "20m":
            expected = (arrays["10m"].shape[0] // 2, arrays["10m"].shape[1] // 2, len(bands))
            if array.shape != expected:
                raise InputError(
                    f"clean: x20 has shape {array.shape}; give {expected}: half of x10's "
                    f"{arrays['10m'].shape[:2]}, the bands {', '.join(bands)}"
                )
        arrays[res] = array
    return arrays


def _checked_mask(mask: Any, shape: tuple[int, int]) -> str | np.ndarray:
    """``clean``'s ``mask``: none, haze or an array of the shape of x10's first two axes."""
    if isinstance(mask, str):
        if mask == "s2cloudless":
            raise InputError(
                "clean: mask='s2cloudless' reads B01, B09 and B10 too, which x10 and x20 do not "
                "hold: give a product to crmss.predict_products, or s2cloudless's mask of your "
                "bands as an (H, W) array"
            )
        if mask not in ("none", "haze"):
            raise InputError(
                f"clean: mask={mask!r}; give 'haze', 'none' or an (H, W) array (a mask raster's "
                "path is for crmss predict)"
            )
        return mask
    array = np.asarray(mask)
    if array.shape != shape or array.dtype.kind not in "biuf":
        raise InputError(
            f"clean: mask is an array of {array.dtype} {array.shape}; give {shape} (x10's "
            "rows and columns), non-zero where cloud-affected"
        )
    return array


#: the largest reflectance an L1C product holds (65535 / 10000, saturation)
LARGEST_REFLECTANCE = 6.5535


def _checked_options(**given: Any) -> tuple:
    """``clean``'s tiling, precision and device arguments, checked by ``crmss predict``'s rules,
    in the order given."""
    values = {name: checked(PredictOptions, name, value) for name, value in given.items()}
    check_tiling(values["tile"], values["overlap"])
    return tuple(values.values())


def _reflectance_x10000(
    array: np.ndarray, res: str, scale: float | None, offset: float
) -> np.ndarray:
    """uint16 reflectance x 10000 of a ``clean`` input (see :func:`clean`): at least 1, 0 where
    any band is no data; InputError for integers without a scale, infinite values or values
    beyond L1C's range."""
    name = f"x{res[:2]}"
    if scale is None and array.dtype.kind != "f":
        raise InputError(
            f"clean: {name} holds {array.dtype} values, DNs: give scale= (10000 for Sentinel-2 "
            "L1C) and offset= "
            "(-1000 from processing baseline 04.00), or floating-point reflectance"
        )
    values = array.astype(np.float32)
    if np.isinf(values).any():
        raise InputError(
            f"clean: {name} holds infinite values; give finite reflectance (0 or NaN mark no data)"
        )
    nodata = np.isnan(values) | (values == 0)
    reflectance = values if scale is None else (values + offset) / scale
    largest = float(np.nanmax(reflectance, initial=0))
    if largest > LARGEST_REFLECTANCE:
        given = "reflectance" if scale is None else f"(DN + {offset:g}) / {scale:g}"
        raise InputError(
            f"clean: {name} holds values up to {largest:g} as {given}, above L1C's largest "
            f"reflectance ({LARGEST_REFLECTANCE}); "
            "give reflectance, or DNs with their scale= and offset="
        )
    dn = np.clip(np.rint(np.nan_to_num(reflectance) * 10000), 1, 65535).astype(np.uint16)
    dn[np.any(nodata, axis=-1)] = 0
    return dn
