"""CR-MSS as a GAN: a ``keras.Model`` subclass trained with ``fit`` (TensorFlow backend).

In the style of the Keras examples' GANs: ``compile(d_optimizer=..., g_optimizer=...,
loss_weights=...)``, a ``train_step`` with one critic and one generator update returning loss
trackers, and a ``test_step`` that reports the PSNR of the generator's output beside the cloudy
input's, over all bands and per band (``psnr_B02`` ... ``psnr_B12``, ``cloudy_psnr_B02`` ...: the
per-band learning curves of the validation pairs in history.csv and TensorBoard). Batches are
``((x10, x20), (y10, y20))``: cloudy and clear stacks, reflectance in [0, 1] (``((x10,), (y10,))``
for the Vis/NIR ablation: every step works on however many stacks the generator takes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from ..core.bands import STACKS
from ..core.options import LossWeights
from .losses import (
    band_psnr,
    discriminator_loss,
    generator_adversarial_loss,
    psnr,
    reconstruction_loss,
)
from .model import Tensor, generator_stacks, run_generator

#: how a training step runs one network: input stacks -> output (a list of stacks, or scores)
Networks = Callable[[list[Tensor]], Any]


class CRMSSGAN(keras.Model):
    """Generator and critic trained together; ``call`` runs the generator alone."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, **kwargs: Any):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.built = True  # both networks are built functional models

    def call(self, inputs: Sequence[Tensor], training: bool = False) -> list[Tensor]:
        return run_generator(self.generator, inputs, training=training)

    def compile(
        self,
        *,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        loss_weights: LossWeights = LossWeights(),
    ) -> None:
        # the generator's optimiser is also Keras's ``optimizer``: its iteration count is the step
        super().compile(optimizer=g_optimizer, auto_scale_loss=False)
        self.d_optimizer, self.g_optimizer, self.loss_weights_ = (
            d_optimizer,
            g_optimizer,
            loss_weights,
        )
        # built here so that fit works under MirroredStrategy and checkpoints hold their slots
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)
        self.bands = [band for stack in generator_stacks(self.generator) for band in STACKS[stack]]
        per_band = [f"{kind}_{band}" for kind in ("psnr", "cloudy_psnr") for band in self.bands]
        names = (
            "d_loss",
            "g_loss",
            "g_adversarial",
            "g_reconstruction",
            "psnr",
            "cloudy_psnr",
            *per_band,
        )
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def _kernel_penalty(self) -> Tensor:
        kernels = [v for v in self.generator.trainable_variables if "kernel" in v.path]
        # ops.sum of a stack adds as tf.add_n did (Python's sum() would change the last bit)
        return self.loss_weights_.kernel_l2 * ops.sum(
            ops.stack([ops.sum(ops.square(ops.cast(k, "float32"))) for k in kernels])
        )

    def losses_of(
        self, generate: Networks, criticise: Networks, cloudy: list[Tensor], clear: list[Tensor]
    ) -> tuple[Tensor, Tensor, dict[str, Tensor], list[Tensor]]:
        """The critic's and the generator's losses of one batch, from one forward pass.

        The computation every backend's training step shares; the step supplies how the
        networks run (stateful calls under TensorFlow's tapes).

        Args:
            generate: stacks -> the generator's output stacks, in training mode.
            criticise: stacks -> the critic's patch scores, in training mode.
            cloudy: the cloudy stacks ``[x10, x20]`` (or ``[x10]``), (B, H, W, C) reflectance.
            clear: the clear stacks, the same shapes.

        Returns:
            ``(d_loss, g_loss, terms, fake)``: the two scalar losses, the generator's
            adversarial and reconstruction terms by their log names, and the output stacks.
        """
        w = self.loss_weights_
        fake = generate(cloudy)
        real_scores = criticise(clear)
        fake_scores = criticise(fake)
        d_loss = discriminator_loss(real_scores, fake_scores)
        adversarial = generator_adversarial_loss(fake_scores)
        reconstruction = reconstruction_loss(fake, clear, w.l1, w.gradient)
        g_loss = w.adversarial * adversarial + reconstruction
        if w.identity or w.identity_gradient:
            same = generate(clear)
            g_loss += reconstruction_loss(same, clear, w.identity, w.identity_gradient)
        if w.kernel_l2:
            g_loss += self._kernel_penalty()
        terms = {"g_adversarial": adversarial, "g_reconstruction": reconstruction}
        return d_loss, g_loss, terms, fake

    def train_step(self, data: tuple) -> dict[str, Tensor]:
        """One critic update and one generator update from the same forward pass (as in the
        TensorFlow pix2pix tutorial), each network's gradient taken on its own loss and summed
        over the replicas of the distribution strategy."""
        cloudy, clear = list(data[0]), list(data[1])
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            d_loss, g_loss, terms, fake = self.losses_of(
                lambda stacks: run_generator(self.generator, stacks, training=True),
                lambda stacks: self.discriminator(stacks, training=True),
                cloudy,
                clear,
            )
            scaled_g = self.g_optimizer.scale_loss(g_loss / replicas)
            scaled_d = self.d_optimizer.scale_loss(d_loss / replicas)
        for optimizer, tape, loss, net in (
            (self.d_optimizer, d_tape, scaled_d, self.discriminator),
            (self.g_optimizer, g_tape, scaled_g, self.generator),
        ):
            variables = net.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._track(
            d_loss=d_loss,
            g_loss=g_loss,
            **terms,
            psnr=self._psnr(fake, clear),
            cloudy_psnr=self._psnr(cloudy, clear),
        )

    def test_step(self, data: tuple) -> dict[str, Tensor]:
        cloudy, clear = list(data[0]), list(data[1])
        fake = run_generator(self.generator, cloudy, training=False)
        per_band = {}
        for kind, images in (("psnr", fake), ("cloudy_psnr", cloudy)):
            values = ops.concatenate([band_psnr(p, t) for p, t in zip(images, clear)], axis=0)
            per_band.update({f"{kind}_{band}": values[i] for i, band in enumerate(self.bands)})
        return self._track(
            g_reconstruction=reconstruction_loss(
                fake, clear, self.loss_weights_.l1, self.loss_weights_.gradient
            ),
            psnr=self._psnr(fake, clear),
            cloudy_psnr=self._psnr(cloudy, clear),
            **per_band,
        )

    @staticmethod
    def _psnr(predicted, target):
        """PSNR in dB averaged over the stacks (10 m and 20 m, or 10 m alone)."""
        return ops.sum(ops.stack([psnr(p, t) for p, t in zip(predicted, target)])) / len(target)

    def _track(self, **values: Tensor) -> dict[str, Tensor]:
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}
