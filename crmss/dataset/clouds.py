"""Thin cloud as a single scattering layer: one model for the synthetic products
(crmss/dataset/synthetic.py) and the simulated testing set (crmss/dataset/simulate.py).

A surface of reflectance ``clear`` under a cloud layer of optical thickness tau is seen as::

    cloudy = clear * t(band) + cloud_reflectance(band) * (1 - t(band)),
    t(band) = exp(-tau * (0.55 um / wavelength) ** ANGSTROM)

so transmittance rises with wavelength and SWIR is the least affected. tau is a smooth random
field (:func:`thickness_field`) on the 10 m grid; 20 m bands see it averaged over 2 x 2 pixels.
The cloud spectrum and the Angstrom exponent are our choices, typical values rather than
measurements: the reflectance of an optically thick water cloud, flat through the visible and
NIR and lower in B09 (water vapour) and SWIR (ice and water absorb).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.bands import CLOUD_REFLECTANCE, WAVELENGTH_UM

ANGSTROM = 1.0


def fractal_noise(size: int, scales: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32 noise, zero mean, unit variance, with features of ``scales`` px."""
    field = np.zeros((size, size), np.float32)
    for weight, scale in enumerate(scales[::-1], start=1):
        coarse = rng.standard_normal((size // scale + 3,) * 2).astype(np.float32)
        field += weight * ndimage.zoom(coarse, scale, order=1, prefilter=False)[:size, :size]
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of the last two axes: a 10 m field to the 20 m or
    60 m grid."""
    if factor == 1:
        return array
    *lead, rows, cols = array.shape
    rows, cols = rows // factor, cols // factor
    blocks = array[..., : rows * factor, : cols * factor].reshape(*lead, rows, factor, cols, factor)
    return blocks.mean(axis=(-3, -1))


def thickness_field(
    size: int,
    rng: np.random.Generator,
    cover: float,
    max_thickness: float,
    scales: tuple[int, ...] = (1024, 256, 64),
) -> np.ndarray:
    """(size, size) float32 optical thickness: 0 outside the cloud (a fraction ``cover`` of the
    pixels is under it), rising smoothly to ``max_thickness`` inside; features of ``scales`` px."""
    cloud = fractal_noise(size, scales, rng)
    threshold = np.quantile(cloud[::7, ::7], 1 - cover)
    return (
        max_thickness * np.clip((cloud - threshold) / (cloud.max() - threshold), 0, 1) ** 0.8
    ).astype(np.float32)


def transmittance(tau: np.ndarray, band: str) -> np.ndarray:
    """Two-way transmittance of the cloud layer in ``band``: higher at longer wavelengths."""
    return np.exp(-tau * (0.55 / WAVELENGTH_UM[band]) ** ANGSTROM)


def add_thin_cloud(
    clear: np.ndarray, tau: np.ndarray, band: str, cloud_reflectance: float | None = None
) -> np.ndarray:
    """``clear`` reflectance of ``band`` seen through the cloud layer of thickness ``tau`` (same
    shape)."""
    t = transmittance(tau, band)
    reflectance = CLOUD_REFLECTANCE[band] if cloud_reflectance is None else cloud_reflectance
    return clear * t + reflectance * (1 - t)
