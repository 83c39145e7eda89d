"""Spatial power spectra of images: how an image's variance spreads over spatial frequencies.

Natural scenes' power falls with frequency ``f`` about as ``1 / f ** 2`` (van der Schaaf and van
Hateren 1996, Vision Res. 36; Field 1987): :func:`spectral_slope` measures that exponent, which
tests/dataset/test_land.py checks on the synthetic land.
"""

from __future__ import annotations

import numpy as np


def radial_power(image: np.ndarray) -> np.ndarray:
    """The power spectrum of a square image averaged over rings of equal spatial frequency.

    Args:
        image: (side, side) float array.

    Returns:
        float64 of length about side / sqrt(2): element ``k`` the mean power at ``k / side``
        cycles per pixel (the mean removed first, so element 0 is 0).
    """
    side = image.shape[0]
    power = np.abs(np.fft.fftshift(np.fft.fft2(image - image.mean()))) ** 2
    rows, cols = np.indices(power.shape)
    radius = np.hypot(rows - side // 2, cols - side // 2).astype(int)
    return np.bincount(radius.ravel(), power.ravel()) / np.bincount(radius.ravel())


def spectral_slope(image: np.ndarray, lowest: float = 1 / 256, highest: float = 1 / 4) -> float:
    """The slope of log power against log spatial frequency of a square image.

    Args:
        image: (side, side) float array, side at least 256.
        lowest, highest: the frequencies fitted, cycles per pixel.

    Returns:
        The fitted slope (about -2 for natural scenes).
    """
    side = image.shape[0]
    power = radial_power(image)
    k = np.arange(len(power))
    fitted = (k >= side * lowest) & (k <= side * highest)
    return float(np.polyfit(np.log(k[fitted]), np.log(power[fitted]), 1)[0])
