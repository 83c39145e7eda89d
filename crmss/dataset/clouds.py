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

The synthetic products draw one of three textures (:func:`cloud_layer`): ``haze``, the smooth
field above; ``cumulus``, puffs 100 m to 1 km across whose thickness rises steeply inside their
edges; ``cirrus``, thin streaks stretched along the wind. A cloud casts its shadow
(:func:`sunlit`) away from the sun by its height times the tangent of the sun's zenith.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..core.bands import CLOUD_REFLECTANCE, WAVELENGTH_UM
from .spectra import SUN_AZIMUTH, SUN_ZENITH

ANGSTROM = 1.0
#: the cloud textures of :func:`cloud_layer`, and the range of each one's height (m, our
#: choice: low cumulus, mid-level haze, cirrus near the tropopause)
KINDS = {"haze": (1000, 3000), "cumulus": (800, 2000), "cirrus": (7000, 10000)}


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
    power: float = 0.8,
) -> np.ndarray:
    """(size, size) float32 optical thickness: 0 outside the cloud (a fraction ``cover`` of the
    pixels is under it), rising to ``max_thickness`` inside as the normalised noise above its
    threshold to ``power`` (below 1: steeper at the edges); features of ``scales`` px."""
    cloud = fractal_noise(size, scales, rng)
    return (max_thickness * _cloud_depth(cloud, cover) ** power).astype(np.float32)


def _cloud_depth(field: np.ndarray, cover: float) -> np.ndarray:
    """How far into the cloud each pixel of a noise ``field`` is: 0 where the field is below the
    threshold that leaves a fraction ``cover`` of it above (everywhere when ``cover`` is 0),
    rising to 1 at its maximum."""
    if cover <= 0:
        return np.zeros(field.shape, np.float32)
    threshold = np.quantile(field[::7, ::7], 1 - cover)
    span = max(float(field.max() - threshold), 1e-12)
    return np.clip((field - threshold) / span, 0, 1)


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


def cloud_layer(
    size: int, rng: np.random.Generator, kind: str, cover: float, max_thickness: float
) -> np.ndarray:
    """(size, size) float32 optical thickness of a cloud layer of ``kind`` (:data:`KINDS`)
    covering a fraction ``cover`` of the scene, up to ``max_thickness``: ``haze`` as
    :func:`thickness_field`; ``cumulus`` puffs (features 8 to 128 px) whose thickness rises as
    the square root of their noise above its threshold, so their edges are thick; ``cirrus``
    streaks (16 to 256 px across) six times longer than wide along a random axis, at most half as
    thick."""
    if kind == "haze":
        return thickness_field(size, rng, cover, max_thickness)
    if kind == "cumulus":
        return thickness_field(size, rng, cover, max_thickness, (128, 32, 8), power=0.5)
    if kind != "cirrus":
        raise ValueError(f"cloud kind {kind!r}: one of {', '.join(KINDS)}")
    field = np.zeros((size, size), np.float32)
    for weight, scale in ((3, 256), (2, 64), (1, 16)):
        coarse = rng.standard_normal((size // scale + 3, size // (6 * scale) + 3))
        field += (
            weight
            * ndimage.zoom(coarse.astype(np.float32), (scale, 6 * scale), order=1)[:size, :size]
        )
    if rng.random() < 0.5:
        field = field.T.copy()
    return (0.5 * max_thickness * _cloud_depth(field, cover)).astype(np.float32)


def sunlit(tau: np.ndarray, height: float) -> np.ndarray:
    """(size, size) float32 share of the direct sunlight that reaches each pixel through a cloud
    layer of optical thickness ``tau`` (10 m grid) at ``height`` metres: the layer seen along the
    sun's path, ``exp(-tau / cos(zenith))``; its shadow lies ``height * tan(zenith)`` away from
    the sun (1 where the path leaves the scene). The direct light of a band is this to the power
    ``(0.55 um / wavelength) ** ANGSTROM`` (:func:`sunlit_band`)."""
    reach = height * math.tan(math.radians(SUN_ZENITH)) / 10  # px
    azimuth = math.radians(SUN_AZIMUTH)
    # towards the sun: east is +column, north is -row
    rows, cols = round(-reach * math.cos(azimuth)), round(reach * math.sin(azimuth))
    above = np.zeros_like(tau)
    size = tau.shape[0]
    if abs(rows) >= size or abs(cols) >= size:  # the shadow falls outside the scene
        return np.ones_like(tau)
    target = (slice(max(0, -rows), size - max(0, rows)), slice(max(0, -cols), size - max(0, cols)))
    source = (slice(max(0, rows), size - max(0, -rows)), slice(max(0, cols), size - max(0, -cols)))
    above[target] = tau[source]
    return np.exp(-above / math.cos(math.radians(SUN_ZENITH))).astype(np.float32)


def sunlit_band(sunlit: np.ndarray, band: str) -> np.ndarray:
    """The share of ``band``'s direct sunlight that :func:`sunlit` (at 0.55 um) lets through: the
    layer's optical thickness falls with wavelength as in :func:`transmittance`, so shadows are
    least dark in SWIR."""
    return sunlit ** np.float32((0.55 / WAVELENGTH_UM[band]) ** ANGSTROM)
