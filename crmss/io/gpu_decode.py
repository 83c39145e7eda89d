"""JPEG2000 band files decoded on an NVIDIA GPU with nvImageCodec (the optional extra
``crmss[gpu]``).

nvImageCodec's nvJPEG2000 backend runs the wavelet and entropy decoding on the GPU (only the
parsing of the code stream stays on the CPU). Sentinel-2 L1C band files are lossless JPEG2000,
so it gives GDAL's (OpenJPEG's) pixels exactly; tests/test_gpu.py checks that where a GPU is
present. Where ``nvidia.nvimgcodec`` is not installed or finds no GPU, :func:`gpu_decoder` is None
and GDAL decodes everything.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.validation import argument

logger = logging.getLogger(__name__)


@functools.cache
def gpu_decoder() -> Any:
    """nvImageCodec's decoder on the GPU alone, or None where nvImageCodec is not installed or
    finds no usable GPU. Made once per process."""
    try:
        from nvidia import nvimgcodec
    except ImportError:
        return None
    try:
        return nvimgcodec.Decoder(backends=[nvimgcodec.Backend(nvimgcodec.BackendKind.GPU_ONLY)])
    except RuntimeError as exc:  # no GPU, or a driver older than nvImageCodec's CUDA
        logger.debug("nvImageCodec finds no usable GPU (%s): JPEG2000 is decoded with GDAL", exc)
        return None


def decode_jp2(encoded: list[bytes]) -> list[np.ndarray]:
    """Decode JPEG2000 files (their bytes) on the GPU in one batch: one (rows, cols) array each,
    in the files' own sample type (uint16 for Sentinel-2). RuntimeError where there is no GPU
    decoder or a file cannot be decoded there."""
    from nvidia import nvimgcodec

    decoder = gpu_decoder()
    if decoder is None:
        raise RuntimeError("no GPU JPEG2000 decoder: nvImageCodec is not installed or finds no GPU")
    params = nvimgcodec.DecodeParams(
        apply_exif_orientation=False,
        color_spec=nvimgcodec.ColorSpec.UNCHANGED,
        allow_any_depth=True,
    )
    images = decoder.decode([nvimgcodec.CodeStream(data) for data in encoded], params=params)
    arrays = []
    for number, image in enumerate(images):
        if image is None:
            raise RuntimeError(
                f"nvImageCodec could not decode file {number + 1} of {len(encoded)} on the GPU"
            )
        array = np.asarray(image.cpu())
        arrays.append(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array)
    return arrays


def resolve_decoder(requested: str) -> str:
    """``gpu`` or ``gdal``: what ``--decoder requested`` (auto, gdal, gpu) means on this machine.
    InputError for gpu where nvImageCodec is not installed or finds no GPU."""
    if requested == "gdal":
        return "gdal"
    if gpu_decoder() is not None:
        return "gpu"
    if requested == "gpu":
        raise InputError(
            f"{argument('decoder', 'gpu')}: nvImageCodec is not installed (pip install "
            "'crmss[gpu]') or finds no GPU here; "
            f"use {argument('decoder', 'gdal')}"
        )
    return "gdal"
