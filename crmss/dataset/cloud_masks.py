"""Where a cloudy image is cloud-affected, seen from the image alone, and the weights that keep
its clear pixels as they were when its cleaned version is written.

A cleaned pixel is ``w * output + (1 - w) * input``, ``w`` its cloud weight: 1 on cloud-affected
pixels, falling linearly to 0 over about RAMP_M beyond them (so no edge shows where the mask
ends), 0 elsewhere: a clear pixel keeps its input value exactly. The weights are
made on a grid MASK_FACTOR times coarser than the 10 m grid (40 m: a 10980 px tile's weights take
30 MB, so a whole scene's fit in memory while it is cleaned strip by strip) and interpolated
bilinearly to the 10 m and 20 m rows being written (:class:`CloudWeights`).

crmss's own thin-cloud measure, ``haze`` (:func:`haze_mask`), is the haze-optimised transform
test of Fmask: Zhu and Woodcock, "Object-based cloud and cloud shadow detection in Landsat
imagery", Remote Sensing of Environment 118, 83-94, 2012: a pixel is hazy where
``blue - 0.5 red - 0.08 > 0`` (TOA reflectance; Landsat bands 1 and 3, Sentinel-2's B02 and B04,
as Fmask 4 applies it to Sentinel-2). Haze raises blue more than red over every land cover, so
the test needs no clear part of the scene (HOT fitted to a scene's clear line misses most of a
scene that is mostly hazy). It is one of Fmask's tests, not Fmask: bright surfaces (snow, some
soils and roofs, turbid water) pass it too, and there the network's output is kept, as ``--mask
none`` keeps it everywhere.

The other measure, ``s2cloudless`` (:func:`s2cloudless_mask`), is Sinergise's pixel classifier
(Zupanc 2017, "Improving cloud detection with machine learning", Sentinel Hub blog; Skakun et
al., "Cloud mask intercomparison eXercise (CMIX)", Remote Sensing of Environment 274, 2022): a
LightGBM model trained on real Sentinel-2 L1C pixels, shipped in its wheel (it runs offline),
reading ten bands (S2CLOUDLESS_BANDS, the 60 m ones too). It detects thick and thin cloud, not
haze alone, and needs the s2cloudless package (``crmss[s2cloudless]``).

The blend's ramp is our choice, measured on crmss's synthetic pairs (docs/cleaned-scenes.md):
RAMP_M of 80 m (two pixels of the weights' grid) carries the weight from cloud to clear land
without a visible edge while taking little of the network's output onto clear pixels. No
TensorFlow, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..core.errors import optional_module

#: the weights' grid: MASK_FACTOR x MASK_FACTOR pixels of the 10 m grid (40 m)
MASK_FACTOR = 4
#: Fmask's HOT test (Zhu and Woodcock 2012): hazy where B02 - HOT_RED * B04 - HOT_OFFSET > 0
HOT_RED, HOT_OFFSET = 0.5, 0.08
#: the weight is 1 on cloud-affected pixels, falling to 0 over RAMP_M beyond them (metres)
RAMP_M = 80.0


def haze_mask(blue: np.ndarray, red: np.ndarray) -> np.ndarray:
    """crmss's thin-cloud measure (``--mask haze``): Fmask's HOT test.

    Args:
        blue: B02 reflectance, any shape; 0 = no data (never cloud-affected).
        red: B04 reflectance, the same shape.

    Returns:
        bool of that shape, True where cloud-affected.
    """
    return blue - HOT_RED * red - HOT_OFFSET > 0


#: the bands of the 10 m stack (B02, B03, B04, B08) that the haze measure reads: B02, B04
HAZE_BANDS = (0, 2)

#: the L1C bands s2cloudless's model reads, in its order (s2cloudless.utils.MODEL_BANDS)
S2CLOUDLESS_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
#: the detector's settings: s2cloudless's threshold of the cloud probability (0.4), and its
#: averaging and dilation disks for 160 m pixels (4 and 2 px, as its README and Sentinel Hub's
#: CLM band use them) scaled to the same ground on the 40 m weights' grid
S2CLOUDLESS = {"threshold": 0.4, "average_over": 16, "dilation_size": 8}


def s2cloudless_mask(reflectance: np.ndarray) -> np.ndarray:
    """Where s2cloudless finds cloud (``--mask s2cloudless``), with the settings S2CLOUDLESS.

    Args:
        reflectance: (rows, cols, 10) float32 TOA reflectance (offsets of baseline 04.00
            removed) of S2CLOUDLESS_BANDS in that order, on the weights' 40 m grid; 0 = no
            data.

    Returns:
        (rows, cols) bool, True where cloud-affected; never where a band holds no data.

    Raises:
        InputError: s2cloudless is not installed (the message names ``crmss[s2cloudless]``).
    """
    s2cloudless = optional_module("s2cloudless", "s2cloudless", "--mask s2cloudless")
    detector = s2cloudless.S2PixelCloudDetector(all_bands=False, **S2CLOUDLESS)
    cloudy = detector.get_cloud_masks(reflectance[None])[0].astype(bool)
    return cloudy & (reflectance > 0).all(axis=-1)


def coarse(stack: np.ndarray, factor: int = MASK_FACTOR) -> np.ndarray:
    """Each band's mean over ``factor`` x ``factor`` blocks of a (rows, cols, bands) stack, 0
    (no data) left out, as GDAL averages a band whose no-data value is 0 (the last partial
    blocks over the pixels they hold): (ceil(rows / factor), ceil(cols / factor), bands) float32,
    0 where a block holds no data only."""
    rows, cols = stack.shape[:2]
    padded = np.pad(stack, ((0, -rows % factor), (0, -cols % factor), (0, 0)))
    r, c = padded.shape[0] // factor, padded.shape[1] // factor
    blocks = padded.reshape(r, factor, c, factor, -1)
    sums = blocks.sum(axis=(1, 3), dtype=np.float64)
    counts = (blocks > 0).sum(axis=(1, 3))
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def sampled(band: np.ndarray, scale: int, shape: tuple[int, int]) -> np.ndarray:
    """A band coarser than the weights' grid (60 m: ``scale`` 6) on that grid of ``shape``: each
    block takes the band's pixel under its centre (nearest neighbour, as GDAL's ``near``
    resamples), float32."""
    centres = (np.arange(max(shape)) * MASK_FACTOR + MASK_FACTOR // 2) // scale
    below = np.minimum(centres[: shape[0]], band.shape[0] - 1)
    across = np.minimum(centres[: shape[1]], band.shape[1] - 1)
    return band[below][:, across].astype(np.float32)


def feathered(cloudy: np.ndarray, pixel_m: float) -> np.ndarray:
    """Cloud weights from a cloud-affected mask on a grid of ``pixel_m`` metre pixels: 1 on
    cloud, falling linearly to 0 over RAMP_M beyond it; (rows, cols) float32."""
    if not cloudy.any():
        return np.zeros(cloudy.shape, np.float32)
    distance = ndimage.distance_transform_edt(~cloudy) * pixel_m
    return np.clip(1 - distance / RAMP_M, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class CloudWeights:
    """A scene's cloud weights on the grid MASK_FACTOR times coarser than its 10 m grid.

    Attributes:
        coarse: (ceil(H / MASK_FACTOR), ceil(W / MASK_FACTOR)) float32 in [0, 1], H x W the
            10 m grid; pixel (0, 0) covers 10 m pixels 0..MASK_FACTOR-1 of both axes.
        source: what made them: ``haze`` or the mask raster's path (recorded in the outputs).
    """

    coarse: np.ndarray
    source: str

    @classmethod
    def from_mask(cls, cloudy: np.ndarray, source: str) -> CloudWeights:
        """Weights from a cloud-affected (bool) mask on the coarse grid."""
        return cls(feathered(cloudy, 10.0 * MASK_FACTOR), source)

    @classmethod
    def haze(cls, blue_red: np.ndarray) -> CloudWeights:
        """Weights of crmss's haze measure from B02 and B04 reflectance on the weights' grid,
        (rows, cols, 2) as :func:`coarse` averages them."""
        return cls.from_mask(haze_mask(blue_red[..., 0], blue_red[..., 1]), "haze")

    @classmethod
    def of_arrays(
        cls, mask: str | np.ndarray, x10: np.ndarray, scale: float = 1.0
    ) -> CloudWeights | None:
        """The weights ``mask`` asks for over a whole 10 m stack: None for ``none``; crmss's haze
        measure for ``haze``; else ``mask`` is a (H, W) array at 10 m, cloud-affected where
        non-zero (a mask pixel counts where any of its 10 m pixels does).

        Args:
            mask: ``none``, ``haze`` or a (H, W) array.
            x10: (H, W, 4) B02, B03, B04, B08, reflectance x ``scale`` (0 = no data).
            scale: 1 for reflectance, 10000 for uint16 reflectance x 10000.
        """
        if isinstance(mask, str):
            if mask == "none":
                return None
            return cls.haze(coarse(x10[..., list(HAZE_BANDS)]) / np.float32(scale))
        return cls.from_mask(coarse(np.asarray(mask, np.float32)[..., None])[..., 0] > 0, "array")

    def rows(self, scale: int, top: int, count: int, width: int) -> np.ndarray:
        """The weights of rows ``top .. top + count`` of a grid ``scale`` times coarser than 10 m
        (1: 10 m, 2: 20 m), ``width`` pixels wide: interpolated bilinearly between the coarse
        pixels' centres, and 1 on every pixel of a coarse pixel of weight 1 (cloud-affected);
        (count, width) float32."""
        vertical = _interpolation(top, count, scale, self.coarse.shape[0])
        horizontal = _interpolation(0, width, scale, self.coarse.shape[1])
        smooth = _apply(horizontal, _apply(vertical, self.coarse).T).T
        # every pixel of a cloud-affected block takes the network's output whole
        inside = _nearest(top, count, scale, self.coarse.shape[0])
        across = _nearest(0, width, scale, self.coarse.shape[1])
        return np.maximum(smooth, self.coarse[inside][:, across] == 1, dtype=np.float32)

    def cloudy_fraction(self) -> float:
        """The fraction of the scene whose cleaned pixels take some of the network's output."""
        return float((self.coarse > 0).mean())

    def percent(self) -> np.ndarray:
        """The coarse weights in percent, as the mask COG holds them: uint8 0..100."""
        return np.rint(self.coarse * 100).astype(np.uint8)


def _interpolation(first: int, count: int, scale: int, size: int):
    """Where pixels ``first .. first + count`` of a grid ``scale`` times coarser than 10 m lie
    between the coarse grid's pixel centres: (lower index, upper index, upper's share)."""
    centres = (np.arange(first, first + count) + 0.5) * scale / MASK_FACTOR - 0.5
    centres = np.clip(centres, 0, size - 1)
    lower = np.floor(centres).astype(np.int64)
    upper = np.minimum(lower + 1, size - 1)
    return lower, upper, (centres - lower).astype(np.float32)


def _nearest(first: int, count: int, scale: int, size: int) -> np.ndarray:
    """The coarse pixel holding each of pixels ``first .. first + count`` of a grid ``scale``
    times coarser than 10 m."""
    return np.minimum((np.arange(first, first + count) * scale) // MASK_FACTOR, size - 1)


def _apply(interpolation, array: np.ndarray) -> np.ndarray:
    """``array`` interpolated along its first axis."""
    lower, upper, share = interpolation
    return array[lower] * (1 - share[:, None]) + array[upper] * share[:, None]


def blend_clear(output: np.ndarray, given: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The cleaned pixels: the network's ``output`` where the weight is 1, the ``given`` input
    where it is 0, blended between.

    Args:
        output: (rows, cols, bands) uint16 reflectance x 10000 (0 = no data), or float
            reflectance.
        given: the input of the same shape and scale.
        weights: (rows, cols) float32 in [0, 1].

    Returns:
        (rows, cols, bands) of ``output``'s type; ``given`` unchanged where the weight is 0; for
        uint16, rounded and 0 (no data) where ``output`` is 0.
    """
    blended = output.astype(np.float32)  # given + w (output - given), one float copy
    blended -= given
    blended *= weights[..., None]
    blended += given
    if output.dtype != np.uint16:
        return blended.astype(output.dtype)
    np.rint(blended, out=blended)
    blended = np.clip(blended, 1, 65535, out=blended).astype(np.uint16)
    blended[output == 0] = 0
    return blended
