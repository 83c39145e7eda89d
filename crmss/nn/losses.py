"""Losses of CR-MSS training (Keras ops, any backend).

The CR-MSS paper's loss weights were not published with its code; the terms and defaults
follow the same group's public training code (FACTS: CR-GAN-PM for the least-squares
adversarial loss, WHUS2-CRv for the reconstruction terms):

* adversarial, least squares: D: [(D(y) - 1)^2 + D(G(x))^2] / 2;  G: (D(G(x)) - 1)^2;
* reconstruction per resolution: ``l1`` x L1(G(x), y) + ``gradient`` x L1(grad G(x), grad y),
  grad = sqrt(dx^2 + dy^2 + 1e-6) of forward differences with symmetric padding;
* optional identity terms on a clear input: ``identity`` x L1(G(y), y) +
  ``identity_gradient`` x L1(grad G(y), grad y);
* optional L2 penalty on the generator's kernels (``kernel_l2``).

The metrics of validation beside them: PSNR per band and stack, and :func:`checkerboard`, the
output's power at the Nyquist frequencies against the truth's (the 2-pixel checkerboard that
transposed convolutions leave early in training).
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from .model import Tensor


def discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Least-squares GAN loss of the critic: [(D(y) - 1)^2 + D(G(x))^2] / 2, mean over patches."""
    return 0.5 * (ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores)))


def generator_adversarial_loss(fake_scores: Tensor) -> Tensor:
    """Least-squares GAN loss of the generator: (D(G(x)) - 1)^2, mean over patches."""
    return ops.mean(ops.square(fake_scores - 1.0))


def image_gradient(images: Tensor) -> Tensor:
    """sqrt(dx^2 + dy^2 + 1e-6) of forward differences, symmetric padding: (B, H, W, C) -> same."""
    padded = ops.concatenate([images, images[:, :, -1:, :]], axis=2)
    dx = padded[:, :, 1:, :] - images
    padded = ops.concatenate([images, images[:, -1:, :, :]], axis=1)
    dy = padded[:, 1:, :, :] - images
    return ops.sqrt(ops.square(dx) + ops.square(dy) + 1e-6)


def reconstruction_loss(
    predicted: Sequence[Tensor], target: Sequence[Tensor], l1_weight: float, gradient_weight: float
) -> Tensor:
    """Sum over the resolutions of l1 x L1 + gradient x L1 of image gradients.

    ``predicted`` and ``target`` are ``[y10, y20]`` (or ``[y10]``) lists of (B, H, W, C) tensors in
    [0, 1].
    """
    total = 0.0
    for p, t in zip(predicted, target):
        total += l1_weight * ops.mean(ops.abs(p - t))
        if gradient_weight:
            total += gradient_weight * ops.mean(ops.abs(image_gradient(p) - image_gradient(t)))
    return total


def band_psnr(predicted: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB (data range 1) of each band of one (B, H, W, C) stack, averaged over the batch:
    (C,)."""
    mse = ops.mean(
        ops.square(ops.cast(predicted, "float32") - ops.cast(target, "float32")), axis=(1, 2)
    )
    return ops.mean(-10.0 * ops.log(ops.maximum(mse, 1e-10)) / ops.log(10.0), axis=0)


def psnr(predicted: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB (data range 1) of one (B, H, W, C) stack: :func:`band_psnr` averaged over the
    bands, as the tables' ``mean_10m`` and ``mean_20m`` average the bands' PSNR."""
    return ops.mean(band_psnr(predicted, target))


def nyquist_power(images: Tensor) -> Tensor:
    """Power of each image of a (B, H, W, C) stack at the Nyquist frequencies (half a cycle per
    pixel along rows, columns and both: the 2-pixel stripes and checkerboard), averaged over the
    bands: (B,). The power of a frequency is the squared mean of the image times its +-1
    pattern, the squared magnitude of the Fourier coefficient over (H W) ** 2."""
    images = ops.cast(images, "float32")
    images = images - ops.mean(images, axis=(1, 2), keepdims=True)  # no level leaks in (odd sides)
    shape = ops.shape(images)
    rows = ops.reshape(ops.cast(ops.arange(shape[1]) % 2, "float32") * 2 - 1, (1, -1, 1, 1))
    cols = ops.reshape(ops.cast(ops.arange(shape[2]) % 2, "float32") * 2 - 1, (1, 1, -1, 1))
    total = 0.0
    for pattern in (rows * cols, rows, cols):
        total += ops.square(ops.mean(images * pattern, axis=(1, 2)))
    return ops.mean(total, axis=-1)


def checkerboard(predicted: Tensor, target: Tensor) -> Tensor:
    """How much more power one (B, H, W, C) stack has at the Nyquist frequencies than its target,
    in dB over the batch: 0 as much as the clear truth, positive where a checkerboard shows."""
    ratio = ops.mean(nyquist_power(predicted)) / ops.maximum(ops.mean(nyquist_power(target)), 1e-20)
    return 10.0 * ops.log(ops.maximum(ratio, 1e-10)) / ops.log(10.0)
