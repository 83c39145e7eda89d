"""Image-quality metrics of cloud removal, per patch and band, vectorised over a batch, on all
pixels or on a class of them (cloud-affected, clear).

Conventions (as cloud-removal papers on Sentinel-2 report them): reflectance in [0, 1]
(value / 10000, clipped), data range 1.

* PSNR = 10 log10(1 / MSE) in dB, per band (inf for identical bands);
* SSIM as scikit-image's ``structural_similarity`` with its defaults and ``data_range=1``
  (7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, the mean over the image
  without its 3 px border), per band. It is computed here with the same arithmetic in
  ``keras.ops`` (compiled for TensorFlow or JAX), for a whole batch at once and on the GPU where
  there is one (scikit-image
  loops over images on the CPU, which would take longer than the model); the tests check
  agreement with scikit-image;
* RMSE and MAE per band;
* SAM: the spectral angle between predicted and reference spectra over the bands of a stack,
  in degrees, averaged over the pixels.

On a class of pixels (a boolean mask per patch) every mean above is taken over the pixels of
the class only: the squared and absolute errors, the SSIM map (inside the 3 px border) and the
angles. A patch without a pixel of the class has no value (NaN) for it.

The cloud mask (:func:`cloud_mask`): a 10 m pixel is cloud-affected where B02 of the cloudy
patch exceeds B02 of the clear patch by more than a threshold in reflectance (default 0.02); a
20 m pixel where any of its four 10 m pixels is.

Arrays are (patches, rows, cols, bands), masks (patches, rows, cols); results are
(patches, bands), SAM (patches,).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ..core.options import CLOUD_THRESHOLD
from ..nn.backends import jit

BAND_METRICS = ("PSNR", "SSIM", "RMSE", "MAE")
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def band_metrics(
    predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """PSNR, SSIM, RMSE and MAE of every patch and band: name -> (patches, bands) float64,
    over all pixels, or over those where ``mask`` (patches, rows, cols) is true."""
    values = class_metrics(predicted, reference, {"pixels": mask})["pixels"]
    return {name: values[name] for name in BAND_METRICS}


def spectral_angle(
    predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Mean spectral angle in degrees per patch: (patches,), over all pixels or the masked ones."""
    return class_metrics(predicted, reference, {"pixels": mask})["pixels"]["SAM"]


def class_metrics(
    predicted: np.ndarray, reference: np.ndarray, masks: dict[str, np.ndarray | None]
) -> dict[str, dict[str, np.ndarray]]:
    """All metrics on several classes of pixels at once (the error and SSIM maps are computed
    once): class -> metric -> (patches, bands), SAM (patches,); ``masks`` maps each class to a
    (patches, rows, cols) bool mask, or None for all pixels."""
    predicted, reference = _pair(predicted, reference)
    weights = ops.stack([_weights(mask, predicted) for mask in masks.values()])
    values = {
        name: ops.convert_to_numpy(value).astype(np.float64)
        for name, value in _metrics(predicted, reference, weights).items()
    }
    return {name: {metric: v[k] for metric, v in values.items()} for k, name in enumerate(masks)}


def cloud_mask(
    cloudy10: np.ndarray, clear10: np.ndarray, threshold: float = CLOUD_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """The cloud-affected pixels of patch pairs: ((patches, S, S), (patches, S/2, S/2)) bool at
    10 m and 20 m, from the B02 (first) bands of the cloudy and clear 10 m stacks."""
    ten = np.asarray(cloudy10)[..., 0] - np.asarray(clear10)[..., 0] > threshold
    patches, rows, cols = ten.shape
    return ten, ten.reshape(patches, rows // 2, 2, cols // 2, 2).any(axis=(2, 4))


def _weights(mask, like):
    if mask is None:
        return ops.ones(ops.shape(like)[:3], "float32")
    mask = np.asarray(mask)
    if mask.shape != tuple(like.shape[:3]):
        raise ValueError(f"a mask of shape {mask.shape} for patches of shape {tuple(like.shape)}")
    return ops.convert_to_tensor(mask, "float32")


def _masked_mean(values, weights):
    """Means of (patches, rows, cols, bands) ``values`` over the pixels of weight 1 of each of
    the (classes, patches, rows, cols) ``weights``: (classes, patches, bands); NaN where none."""
    return ops.einsum("bhwc,kbhw->kbc", values, weights) / ops.sum(weights, axis=(2, 3))[..., None]


@jit
def _metrics(predicted, reference, weights):
    error = predicted - reference
    mse = _masked_mean(ops.square(error), weights)
    pad = (SSIM_WINDOW - 1) // 2
    return {
        "PSNR": -10.0 * ops.log(mse) / ops.log(10.0),  # inf where identical
        "SSIM": _masked_mean(_ssim_map(predicted, reference), weights[:, :, pad:-pad, pad:-pad]),
        "RMSE": ops.sqrt(mse),
        "MAE": _masked_mean(ops.abs(error), weights),
        "SAM": _masked_mean(_angles(predicted, reference), weights)[..., 0],
    }


def _ssim_map(x, y, data_range: float = 1.0):
    """scikit-image's SSIM map without its (window - 1) / 2 px border: (patches, rows - 6, cols -
    6, bands)."""
    pad = (SSIM_WINDOW - 1) // 2
    # the five local means of scipy's uniform_filter (mode "reflect" = symmetric padding) in one
    # pass: the images stacked on the channel axis, a separable 7-tap mean as two depthwise
    # convolutions (several times faster on a CPU than 7 x 7 average pooling of each image)
    stacked = ops.pad(
        ops.concatenate([x, y, x * x, y * y, x * y], -1),
        [[0, 0], [pad, pad], [pad, pad], [0, 0]],
        mode="symmetric",
    )
    bands = ops.shape(x)[-1]  # on TensorFlow dynamic: one trace serves the 10 m and 20 m stack
    taps = ops.full((1, SSIM_WINDOW, 5 * bands, 1), 1.0 / SSIM_WINDOW, "float32")
    means = ops.depthwise_conv(stacked, taps, 1, "valid")
    means = ops.depthwise_conv(means, ops.transpose(taps, [1, 0, 2, 3]), 1, "valid")
    ux, uy, uxx, uyy, uxy = ops.split(means, 5, axis=-1)
    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)  # sample covariance
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s[:, pad:-pad, pad:-pad, :]


def _angles(predicted, reference):
    """Spectral angle in degrees per pixel: (patches, rows, cols, 1)."""
    # 2 atan2(|a - b|, |a + b|) of the unit spectra: exact near 0, where acos of the cosine is not
    a = ops.divide_no_nan(predicted, ops.norm(predicted, axis=-1, keepdims=True))
    b = ops.divide_no_nan(reference, ops.norm(reference, axis=-1, keepdims=True))
    return (
        2.0
        * ops.arctan2(
            ops.norm(a - b, axis=-1, keepdims=True), ops.norm(a + b, axis=-1, keepdims=True)
        )
        * (180.0 / np.pi)
    )


def _pair(predicted, reference):
    predicted, reference = (
        ops.convert_to_tensor(predicted, "float32"),
        ops.convert_to_tensor(reference, "float32"),
    )
    if tuple(predicted.shape) != tuple(reference.shape) or len(predicted.shape) != 4:
        raise ValueError(
            "need two (patches, rows, cols, bands) arrays of one shape, not "
            f"{tuple(predicted.shape)} and {tuple(reference.shape)}"
        )
    return predicted, reference
