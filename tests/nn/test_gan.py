"""CRMSSGAN's training step on TensorFlow, held bit for bit to the step as first written: two
GradientTapes over one forward pass, the critic updated, then the generator. The oracle below
(that step and its losses) is kept verbatim whatever becomes of crmss/nn/gan.py and losses.py;
both run through Keras's own ``train_on_batch``."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from crmss.core.options import TrainOptions
from crmss.nn.gan import CRMSSGAN
from crmss.nn.model import run_generator
from crmss.nn.training import build_gan

# the losses as first written (crmss/nn/losses.py, 2026-12-07)


def discriminator_loss(real_scores, fake_scores):
    return 0.5 * (ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores)))


def generator_adversarial_loss(fake_scores):
    return ops.mean(ops.square(fake_scores - 1.0))


def image_gradient(images):
    padded = ops.concatenate([images, images[:, :, -1:, :]], axis=2)
    dx = padded[:, :, 1:, :] - images
    padded = ops.concatenate([images, images[:, -1:, :, :]], axis=1)
    dy = padded[:, 1:, :, :] - images
    return ops.sqrt(ops.square(dx) + ops.square(dy) + 1e-6)


def reconstruction_loss(predicted, target, l1_weight, gradient_weight):
    total = 0.0
    for p, t in zip(predicted, target):
        total += l1_weight * ops.mean(ops.abs(p - t))
        if gradient_weight:
            total += gradient_weight * ops.mean(ops.abs(image_gradient(p) - image_gradient(t)))
    return total


class FirstWritten(CRMSSGAN):
    """CRMSSGAN with the training step as first written (crmss 2026-12-07, nn/gan.py)."""

    def train_step(self, data):
        cloudy, clear = list(data[0]), list(data[1])
        w = self.loss_weights_
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = run_generator(self.generator, cloudy, training=True)
            real_scores = self.discriminator(clear, training=True)
            fake_scores = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(real_scores, fake_scores)
            adversarial = generator_adversarial_loss(fake_scores)
            reconstruction = reconstruction_loss(fake, clear, w.l1, w.gradient)
            g_loss = w.adversarial * adversarial + reconstruction
            if w.identity or w.identity_gradient:
                same = run_generator(self.generator, clear, training=True)
                g_loss += reconstruction_loss(same, clear, w.identity, w.identity_gradient)
            if w.kernel_l2:
                kernels = [v for v in self.generator.trainable_variables if "kernel" in v.path]
                g_loss += w.kernel_l2 * tf.add_n(
                    [tf.reduce_sum(tf.square(tf.cast(k, tf.float32))) for k in kernels]
                )
            scaled_g = self.g_optimizer.scale_loss(g_loss / replicas)
            scaled_d = self.d_optimizer.scale_loss(d_loss / replicas)
        self.d_optimizer.apply_gradients(
            zip(
                d_tape.gradient(scaled_d, self.discriminator.trainable_variables),
                self.discriminator.trainable_variables,
            )
        )
        self.g_optimizer.apply_gradients(
            zip(
                g_tape.gradient(scaled_g, self.generator.trainable_variables),
                self.generator.trainable_variables,
            )
        )
        return self._track(
            d_loss=d_loss,
            g_loss=g_loss,
            g_adversarial=adversarial,
            g_reconstruction=reconstruction,
            psnr=self._psnr(fake, clear),
            cloudy_psnr=self._psnr(cloudy, clear),
        )


def _pair(options: TrainOptions) -> tuple[CRMSSGAN, CRMSSGAN]:
    """crmss's GAN and the first-written one, with the same weights and optimisers."""
    gan = build_gan(options)
    reference = build_gan(options)
    reference.__class__ = FirstWritten  # the same networks, optimisers and compile
    for net in ("generator", "discriminator"):
        getattr(reference, net).set_weights(getattr(gan, net).get_weights())
    return gan, reference


def _batches(bands: str, count: int) -> list[tuple]:
    """``count`` random batches of two 256 px patch pairs, reflectance in [0, 1]."""
    rng = np.random.default_rng(5)
    sides = [(256, 4), (128, 6)][: 1 if bands == "visnir" else 2]
    return [
        tuple(tuple(rng.random((2, s, s, c), np.float32) for s, c in sides) for _ in "xy")
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    "recipe",
    [
        {},
        {
            "bands": "visnir",
            "identity_weight": 1.0,
            "identity_gradient_weight": 1.0,
            "kernel_l2": 1e-4,
        },
    ],
    ids=["paper", "visnir-every-term"],
)
def test_three_steps_leave_the_weights_and_logs_of_the_first_written_step(recipe, tmp_path):
    keras.utils.set_random_seed(1)
    options = TrainOptions(data=str(tmp_path), out=str(tmp_path / "run"), width=8, **recipe)
    gan, reference = _pair(options)
    for x, y in _batches(options.bands, 3):
        ours = gan.train_on_batch(x, y, return_dict=True)
        theirs = reference.train_on_batch(x, y, return_dict=True)
        assert ours == theirs
    for model in (gan, reference):
        assert int(model.g_optimizer.iterations) == int(model.d_optimizer.iterations) == 3
    for a, b in zip(
        gan.weights + gan.g_optimizer.variables + gan.d_optimizer.variables,
        reference.weights + reference.g_optimizer.variables + reference.d_optimizer.variables,
    ):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path
