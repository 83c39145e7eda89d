"""Classical thin-cloud removal baselines, adapted to the S2 stacks: the dark channel prior
and the haze-optimised transform. Both map cloudy ``(x10, x20)`` batches, (B, S, S, 4) and
(B, S/2, S/2, 6) reflectance in [0, 1], to corrected stacks of the same shapes.

The dark channel prior.

He, Sun and Tang, "Single image haze removal using dark channel prior", IEEE TPAMI 33(12),
2341-2353, 2011 (CVPR 2009), with the transmission refined by the guided filter of He, Sun
and Tang, "Guided image filtering", IEEE TPAMI 35(6), 1397-1409, 2013. Thin cloud follows the
same single-scattering model as haze, I = J t + A (1 - t), A the cloud's reflectance.

Adapted to the two CR-MSS stacks (reflectance in [0, 1]):
* the dark channel is taken over the visible 10 m bands B02, B03, B04 (the near-infrared and
  SWIR bands of vegetation and soil are bright, so they carry no dark-pixel prior);
* the light A of each band is the mean of that band over the 0.1% of pixels with the
  brightest dark channel of the patch;
* the transmission t estimated in the visible (at 0.57 um, their mean wavelength) is carried to
  band b as t_b = t ** (0.57 / wavelength_b), the wavelength dependence of thin-cloud optical
  thickness with an Angstrom exponent of 1, so that red-edge, NIR and SWIR bands are corrected
  less; for the 20 m stack t is averaged over 2 x 2 pixels.
Constants as in the papers: 15 px minimum filter, omega 0.95, t0 0.1, guided filter radius
30 px (at 10 m) with eps 1e-3.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from ..core.bands import BANDS_10M, BANDS_20M, WAVELENGTH_UM
from ..core.options import CLASSICAL_NAMES
from ..nn.backends import has_float64, jit

PATCH, OMEGA, T_MIN, TOP_FRACTION = 15, 0.95, 0.1, 0.001
GUIDE_RADIUS, GUIDE_EPS = 30, 1e-3
VISIBLE = 3  # B02, B03, B04 are the first three 10 m bands
VISIBLE_UM = 0.57


@jit
def dark_channel_prior(x10: Any, x20: Any) -> tuple[Any, Any]:
    """Cloud-corrected ``(y10, y20)`` from cloudy ``x10`` (B, S, S, 4) and ``x20`` (B, S/2, S/2,
    6), as backend tensors (``keras.ops``, compiled)."""
    x10, x20 = ops.cast(x10, "float32"), ops.cast(x20, "float32")
    dark = _min_filter(ops.min(x10[..., :VISIBLE], axis=-1, keepdims=True))
    a10 = _airlight(x10, dark)
    a20 = _airlight(x20, ops.average_pool(dark, 2, 2, "valid"))
    normalised = x10[..., :VISIBLE] / ops.maximum(a10[:, None, None, :VISIBLE], 1e-3)
    t = 1.0 - OMEGA * _min_filter(ops.min(normalised, axis=-1, keepdims=True))
    t = _guided_filter(ops.mean(x10[..., :VISIBLE], axis=-1, keepdims=True), t)
    t20 = ops.average_pool(t, 2, 2, "valid")
    return _recover(x10, a10, t, BANDS_10M), _recover(x20, a20, t20, BANDS_20M)


def _min_filter(image):
    """Minimum over PATCH x PATCH windows, as two 1-D passes (the minimum is separable)."""
    image = -ops.max_pool(-image, (1, PATCH), 1, "same")
    return -ops.max_pool(-image, (PATCH, 1), 1, "same")


def _airlight(stack, dark):
    """Per patch and band: mean over the pixels of the brightest dark channel: (B, bands)."""
    flat_dark = ops.reshape(dark, (ops.shape(dark)[0], -1))
    _, brightest = ops.top_k(flat_dark, _brightest_count(ops.shape(flat_dark)[1]))
    pixels = ops.reshape(stack, (ops.shape(stack)[0], -1, stack.shape[-1]))
    return ops.mean(ops.take_along_axis(pixels, brightest[..., None], axis=1), axis=1)


def _brightest_count(pixels):
    """TOP_FRACTION of ``pixels`` (at least one), in float32 arithmetic: a number where the
    size is known when the function is compiled (JAX needs it so), else a tensor."""
    if isinstance(pixels, int):
        return max(1, int(np.float32(pixels) * np.float32(TOP_FRACTION)))
    return ops.maximum(1, ops.cast(ops.cast(pixels, "float32") * TOP_FRACTION, "int32"))


def _box(image, radius):
    """Mean over a (2 radius + 1)^2 window; at the borders the mean is over the pixels inside
    the image (as SAME average pooling). By running sums along each axis in float64, so no
    precision is lost: a constant cost per pixel, where pooling a 61 px window costs 61
    additions per pixel and pass. Where the backend computes no float64 (JAX by default), by
    two 1-D SAME average poolings in float32 instead: the window and its count of pixels
    inside the image are separable, so the mean is the same."""
    if not has_float64():
        side = 2 * radius + 1
        rows = ops.average_pool(image, (side, 1), 1, "same")
        return ops.average_pool(rows, (1, side), 1, "same")
    wide = ops.cast(image, "float64")
    return ops.cast(_running_box(_running_box(wide, radius, 1), radius, 2), image.dtype)


def _running_box(image, radius, axis):
    """Mean over [i - radius, i + radius] along ``axis`` (1: rows, 2: columns) of (B, H, W, C)."""
    n = ops.shape(image)[axis]
    sums = ops.cumsum(image, axis=axis)
    index = ops.arange(n)
    high, low = ops.minimum(index + radius, n - 1), index - radius - 1  # the window is (low, high]
    shape = (1, -1, 1, 1) if axis == 1 else (1, 1, -1, 1)
    below = ops.where(
        ops.reshape(low >= 0, shape),
        ops.take(sums, ops.maximum(low, 0), axis=axis),
        ops.zeros((), image.dtype),
    )
    count = ops.cast(ops.reshape(high - ops.maximum(low, -1), shape), image.dtype)
    return (ops.take(sums, high, axis=axis) - below) / count


def _guided_filter(guide, source):
    mean_i, mean_p = _box(guide, GUIDE_RADIUS), _box(source, GUIDE_RADIUS)
    var_i = _box(guide * guide, GUIDE_RADIUS) - mean_i**2
    cov_ip = _box(guide * source, GUIDE_RADIUS) - mean_i * mean_p
    a = cov_ip / (var_i + GUIDE_EPS)
    b = mean_p - a * mean_i
    return _box(a, GUIDE_RADIUS) * guide + _box(b, GUIDE_RADIUS)


def _recover(stack, light, t, bands):
    exponents = ops.convert_to_tensor([VISIBLE_UM / WAVELENGTH_UM[b] for b in bands], "float32")
    t_bands = ops.power(ops.clip(t, T_MIN, 1.0), exponents)
    light = light[:, None, None, :]
    return ops.clip((stack - light) / t_bands + light, 0.0, 1.0)


# The haze-optimised transform (HOT): Zhang, Guindon and Cihlar, "An image transform to
# characterize and compensate for spatially variable thin cloud/haze cover of optical
# imagery", Remote Sensing of Environment 82(2-3), 173-187, 2002. Per patch:
# 1. the clear line is the principal axis of the clearest pixels in blue-red space, theta its
#    angle to the blue axis: fitted to the half of the pixels with the lowest blue, then
#    HOT_FIT_ROUNDS times to the half with the lowest HOT (haze raises blue more than red
#    across land covers, moving pixels above the line), so the clearer half of a patch
#    defines it;
# 2. HOT = blue sin(theta) - red cos(theta), less its median over that clearer half: the
#    distance above the clear line in reflectance, about 0 for clear pixels, growing with haze;
# 3. HOT levels of HOT_STEP reflectance: level 0 (HOT below HOT_STEP) is clear; in every level
#    holding HOT_MIN_PIXELS pixels or more, the dark object of each visible band (B02, B03, B04)
#    is its HOT_DARK_PERCENTILE-th percentile; a level's haze offset is its dark object less
#    level 0's, clipped to 0, made non-decreasing with HOT (as the paper requires) and
#    interpolated over the levels with fewer pixels;
# 4. each pixel loses its level's offsets in the visible bands; the other bands (B08 and the
#    20 m stack), where dark objects are rare, lose the offset carried by wavelength as for
#    thin-cloud optical thickness (Angstrom exponent 1, as the dark channel prior above):
#    offset(band) = mean over the visible bands of offset(v) x wavelength(v) / wavelength(band),
#    averaged over 2 x 2 pixels for the 20 m stack.
# Like every HOT method it sees haze relative to the clearest part of a patch (a patch under
# uniform haze keeps it), and surfaces off the clear line (water, snow) read as haze.
HOT_FIT_ROUNDS = 4
HOT_STEP, HOT_MIN_PIXELS, HOT_DARK_PERCENTILE = 0.01, 100, 1


def haze_optimised_transform(x10: np.ndarray, x20: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HOT-corrected ``(y10, y20)`` from cloudy ``x10`` (B, S, S, 4) and ``x20`` (B, S/2, S/2,
    6), float32 numpy."""
    x10, x20 = np.asarray(x10, np.float32), np.asarray(x20, np.float32)
    y10, y20 = x10.copy(), x20.copy()
    visible_um = np.array([WAVELENGTH_UM[b] for b in BANDS_10M[:VISIBLE]], np.float32)
    for i in range(x10.shape[0]):
        offsets = hot_offsets(x10[i])  # (S, S, 3)
        carried = (offsets * visible_um).mean(axis=-1)  # offset x wavelength, in um
        y10[i, ..., :VISIBLE] -= offsets
        y10[i, ..., VISIBLE:] -= carried[..., None] / np.array(
            [WAVELENGTH_UM[b] for b in BANDS_10M[VISIBLE:]], np.float32
        )
        rows, cols = carried.shape
        carried20 = carried.reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
        y20[i] -= carried20[..., None] / np.array([WAVELENGTH_UM[b] for b in BANDS_20M], np.float32)
    return np.clip(y10, 0, 1), np.clip(y20, 0, 1)


def hot_offsets(stack10: np.ndarray) -> np.ndarray:
    """Haze offsets of the visible bands B02, B03, B04 per pixel of one (S, S, 4) patch: (S, S,
    3)."""
    blue, red = (
        stack10[..., 0].ravel().astype(np.float64),
        stack10[..., 2].ravel().astype(np.float64),
    )
    clear = blue <= np.median(blue)  # a first guess: haze raises blue most
    for _ in range(HOT_FIT_ROUNDS + 1):
        points = np.stack([blue[clear], red[clear]])
        _, vectors = np.linalg.eigh(np.cov(points))
        # the principal axis, pointing to more blue
        direction = vectors[:, -1] * np.sign(vectors[0, -1] or 1.0)
        hot = blue * direction[1] - red * direction[0]  # blue sin(theta) - red cos(theta)
        clear = hot <= np.median(hot)
    hot -= np.median(hot[clear])  # about 0 on the clear line
    level = np.maximum(hot / HOT_STEP, 0).astype(np.int64)
    visible = stack10[..., :VISIBLE].reshape(-1, VISIBLE)
    counts = np.bincount(level)
    populated = [k for k in range(len(counts)) if counts[k] >= HOT_MIN_PIXELS or k == 0]
    dark = np.array(
        [np.percentile(visible[level == k], HOT_DARK_PERCENTILE, axis=0) for k in populated]
    )
    offsets = np.maximum.accumulate(np.maximum(dark - dark[0], 0), axis=0)
    every = np.stack(
        [np.interp(np.arange(len(counts)), populated, offsets[:, v]) for v in range(VISIBLE)], -1
    )
    return every[level].reshape(*stack10.shape[:2], VISIBLE).astype(np.float32)


def _dark_channel_prior_arrays(x10, x20) -> tuple[np.ndarray, np.ndarray]:
    return tuple(ops.convert_to_numpy(t) for t in dark_channel_prior(x10, x20))


#: The classical methods by the names ``crmss test --methods`` and the tables use.
CLASSICAL_METHODS = dict(
    zip(CLASSICAL_NAMES, (_dark_channel_prior_arrays, haze_optimised_transform))
)
