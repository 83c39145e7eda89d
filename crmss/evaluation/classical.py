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

import numpy as np
import tensorflow as tf

from ..core.bands import BANDS_10M, BANDS_20M, WAVELENGTH_UM
from ..core.options import CLASSICAL_NAMES

PATCH, OMEGA, T_MIN, TOP_FRACTION = 15, 0.95, 0.1, 0.001
GUIDE_RADIUS, GUIDE_EPS = 30, 1e-3
VISIBLE = 3  # B02, B03, B04 are the first three 10 m bands
VISIBLE_UM = 0.57


@tf.function(reduce_retracing=True)
def dark_channel_prior(
    x10: np.ndarray | tf.Tensor, x20: np.ndarray | tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Cloud-corrected ``(y10, y20)`` from cloudy ``x10`` (B, S, S, 4) and ``x20`` (B, S/2, S/2,
    6)."""
    x10, x20 = tf.cast(x10, tf.float32), tf.cast(x20, tf.float32)
    dark = _min_filter(tf.reduce_min(x10[..., :VISIBLE], axis=-1, keepdims=True))
    a10 = _airlight(x10, dark)
    a20 = _airlight(x20, tf.nn.avg_pool2d(dark, 2, 2, "VALID"))
    normalised = x10[..., :VISIBLE] / tf.maximum(a10[:, None, None, :VISIBLE], 1e-3)
    t = 1.0 - OMEGA * _min_filter(tf.reduce_min(normalised, axis=-1, keepdims=True))
    t = _guided_filter(tf.reduce_mean(x10[..., :VISIBLE], axis=-1, keepdims=True), t)
    t20 = tf.nn.avg_pool2d(t, 2, 2, "VALID")
    return _recover(x10, a10, t, BANDS_10M), _recover(x20, a20, t20, BANDS_20M)


def _min_filter(image):
    """Minimum over PATCH x PATCH windows, as two 1-D passes (the minimum is separable)."""
    image = -tf.nn.max_pool2d(-image, [1, PATCH], 1, "SAME")
    return -tf.nn.max_pool2d(-image, [PATCH, 1], 1, "SAME")


def _airlight(stack, dark):
    """Per patch and band: mean over the pixels of the brightest dark channel: (B, bands)."""
    flat_dark = tf.reshape(dark, [tf.shape(dark)[0], -1])
    count = tf.maximum(
        1, tf.cast(tf.cast(tf.shape(flat_dark)[1], tf.float32) * TOP_FRACTION, tf.int32)
    )
    brightest = tf.math.top_k(flat_dark, count).indices
    pixels = tf.reshape(stack, [tf.shape(stack)[0], -1, stack.shape[-1]])
    return tf.reduce_mean(tf.gather(pixels, brightest, batch_dims=1), axis=1)


def _box(image, radius):
    """Mean over a (2 radius + 1)^2 window; at the borders the mean is over the pixels inside
    the image (as TensorFlow's SAME average pooling). By running sums along each axis (in
    float64, so no precision is lost): a constant cost per pixel, where pooling a 61 px window
    costs 61 additions per pixel and pass."""
    return tf.cast(
        _running_box(_running_box(tf.cast(image, tf.float64), radius, 1), radius, 2), image.dtype
    )


def _running_box(image, radius, axis):
    """Mean over [i - radius, i + radius] along ``axis`` (1: rows, 2: columns) of (B, H, W, C)."""
    n = tf.shape(image)[axis]
    sums = tf.cumsum(image, axis=axis)
    index = tf.range(n)
    high, low = tf.minimum(index + radius, n - 1), index - radius - 1  # the window is (low, high]
    shape = [1, -1, 1, 1] if axis == 1 else [1, 1, -1, 1]
    below = tf.where(
        tf.reshape(low >= 0, shape),
        tf.gather(sums, tf.maximum(low, 0), axis=axis),
        tf.zeros((), image.dtype),
    )
    count = tf.cast(tf.reshape(high - tf.maximum(low, -1), shape), image.dtype)
    return (tf.gather(sums, high, axis=axis) - below) / count


def _guided_filter(guide, source):
    mean_i, mean_p = _box(guide, GUIDE_RADIUS), _box(source, GUIDE_RADIUS)
    var_i = _box(guide * guide, GUIDE_RADIUS) - mean_i**2
    cov_ip = _box(guide * source, GUIDE_RADIUS) - mean_i * mean_p
    a = cov_ip / (var_i + GUIDE_EPS)
    b = mean_p - a * mean_i
    return _box(a, GUIDE_RADIUS) * guide + _box(b, GUIDE_RADIUS)


def _recover(stack, light, t, bands):
    exponents = tf.constant([VISIBLE_UM / WAVELENGTH_UM[b] for b in bands], tf.float32)
    t_bands = tf.pow(tf.clip_by_value(t, T_MIN, 1.0), exponents)
    light = light[:, None, None, :]
    return tf.clip_by_value((stack - light) / t_bands + light, 0.0, 1.0)


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


def haze_optimised_transform(
    x10: np.ndarray | tf.Tensor, x20: np.ndarray | tf.Tensor
) -> tuple[np.ndarray, np.ndarray]:
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
    return tuple(t.numpy() for t in dark_channel_prior(x10, x20))


#: The classical methods by the names ``crmss test --methods`` and the tables use.
CLASSICAL_METHODS = dict(
    zip(CLASSICAL_NAMES, (_dark_channel_prior_arrays, haze_optimised_transform))
)
