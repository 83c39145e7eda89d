"""Image-quality metrics of cloud removal, per patch and band, vectorised over a batch.

Conventions (as cloud-removal papers on Sentinel-2 report them): reflectance in [0, 1]
(value / 10000, clipped), data range 1.

* PSNR = 10 log10(1 / MSE) in dB, per band (inf for identical bands);
* SSIM as scikit-image's ``structural_similarity`` with its defaults and ``data_range=1``
  (7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, the mean over the image
  without its 3 px border), per band. It is computed here with the same arithmetic in
  TensorFlow, for a whole batch at once and on the GPU where there is one (scikit-image
  loops over images on the CPU, which would take longer than the model); the tests check
  agreement with scikit-image;
* RMSE and MAE per band;
* SAM: the spectral angle between predicted and reference spectra over the bands of a stack,
  in degrees, averaged over the pixels.

Arrays are (patches, rows, cols, bands); results are (patches, bands), SAM (patches,).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

BAND_METRICS = ("PSNR", "SSIM", "RMSE", "MAE")
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def band_metrics(predicted, reference) -> dict[str, np.ndarray]:
    """PSNR, SSIM, RMSE and MAE of every patch and band: name -> (patches, bands) float64."""
    return {name: value.numpy().astype(np.float64) for name, value in _band_metrics(*_pair(predicted, reference)).items()}


@tf.function(reduce_retracing=True)
def _band_metrics(predicted, reference):
    error = predicted - reference
    mse = tf.reduce_mean(tf.square(error), axis=(1, 2))
    return {
        "PSNR": -10.0 * tf.math.log(mse) / tf.math.log(10.0),  # inf where identical
        "SSIM": _ssim(predicted, reference),
        "RMSE": tf.sqrt(mse),
        "MAE": tf.reduce_mean(tf.abs(error), axis=(1, 2)),
    }


def ssim(x, y) -> np.ndarray:
    """Mean SSIM per patch and band, as skimage.metrics.structural_similarity: (patches, bands)."""
    return _ssim(*_pair(x, y)).numpy().astype(np.float64)


def _ssim(x, y, data_range: float = 1.0):
    pad = (SSIM_WINDOW - 1) // 2

    def mean(a):  # scipy's uniform_filter with mode "reflect" = symmetric padding, then a box mean
        padded = tf.pad(a, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
        return tf.nn.avg_pool2d(padded, SSIM_WINDOW, 1, "VALID")

    ux, uy = mean(x), mean(y)
    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)  # sample covariance
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return tf.reduce_mean(s[:, pad:-pad, pad:-pad, :], axis=(1, 2))


def spectral_angle(predicted, reference) -> np.ndarray:
    """Mean spectral angle in degrees per patch: (patches,)."""
    return _spectral_angle(*_pair(predicted, reference)).numpy().astype(np.float64)


@tf.function(reduce_retracing=True)
def _spectral_angle(predicted, reference):
    # 2 atan2(|a - b|, |a + b|) of the unit spectra: exact near 0, where acos of the cosine is not
    a = tf.math.divide_no_nan(predicted, tf.norm(predicted, axis=-1, keepdims=True))
    b = tf.math.divide_no_nan(reference, tf.norm(reference, axis=-1, keepdims=True))
    angle = 2.0 * tf.atan2(tf.norm(a - b, axis=-1), tf.norm(a + b, axis=-1))
    return tf.reduce_mean(angle, axis=(1, 2)) * (180.0 / np.pi)


def _pair(predicted, reference):
    predicted, reference = tf.convert_to_tensor(predicted, tf.float32), tf.convert_to_tensor(reference, tf.float32)
    if predicted.shape != reference.shape or predicted.shape.rank != 4:
        raise ValueError(f"need two (patches, rows, cols, bands) arrays of one shape, not {predicted.shape} and {reference.shape}")
    return predicted, reference
