"""CRMSSGAN's training step. On TensorFlow, held bit for bit to the step as first written: two
GradientTapes over one forward pass, the critic updated, then the generator. The oracle below
(that step and its losses) is kept verbatim whatever becomes of crmss/nn/gan.py and losses.py;
both run through Keras's own ``train_on_batch``. On JAX (a process of its own, as Keras picks its
backend once): the same gradients from the same weights, and both optimisers' state carried
through ``fit``."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from conftest import run_on_jax
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
        logged = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "g_adversarial": adversarial,
            "g_reconstruction": reconstruction,
            "psnr": self._psnr(fake, clear),
            "cloudy_psnr": self._psnr(cloudy, clear),
        }
        for name, value in logged.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logged}


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


#: (run with KERAS_BACKEND=jax) one training step from the weights and batch the test saved, then
#: ``fit`` for two epochs of two steps; writes the variables after the step and prints the
#: optimisers' iteration counts after the fit
ON_JAX = """
import json, sys
import keras, numpy as np
from crmss.core.options import TrainOptions
from crmss.nn.training import build_gan
folder, recipe = sys.argv[1], json.loads(sys.argv[2])
assert keras.backend.backend() == "jax"
gan = build_gan(TrainOptions(data=folder, out=folder + "/run", width=8, **recipe))
gan.load_weights(folder + "/init.weights.h5")
batch = np.load(folder + "/batch.npz")
stacks = len(batch.files) // 2
x, y = ([batch[f"arr_{i}"] for i in range(k * stacks, (k + 1) * stacks)] for k in (0, 1))
start = [net.get_weights() for net in (gan.generator, gan.discriminator)]
gan.train_on_batch(x, y)
variables = gan.weights + gan.g_optimizer.variables + gan.d_optimizer.variables
np.savez(folder + "/jax.npz", *[keras.ops.convert_to_numpy(v) for v in variables])

def moments(optimizer):
    return [keras.ops.convert_to_numpy(v) for v in optimizer.variables if "momentum" in v.path]

float32_moments = moments(gan.g_optimizer)
gan.fit([np.concatenate([a] * 4) for a in x], [np.concatenate([a] * 4) for a in y],
        batch_size=2, epochs=2, steps_per_epoch=2, verbose=0)
keras.mixed_precision.set_global_policy("mixed_float16")  # one step with loss scaling
half = build_gan(TrainOptions(data=folder, out=folder + "/run", width=8, mixed_precision=True,
                              **recipe))
for net, weights in zip((half.generator, half.discriminator), start):
    net.set_weights(weights)
half.train_on_batch(x, y)
scale = max(np.abs(m).max() for m in float32_moments)
error = max(np.abs(a - b).max() for a, b in zip(moments(half.g_optimizer.inner_optimizer),
                                                float32_moments)) / scale
print(json.dumps({"iterations": [int(gan.g_optimizer.iterations), int(gan.d_optimizer.iterations)],
                  "float16": type(half.g_optimizer).__name__, "float16_error": float(error)}))
"""


def test_on_jax_the_step_takes_tensorflows_gradients_and_fit_carries_both_optimisers(tmp_path):
    """Every loss term on (the identity terms call the generator twice; the kernel penalty is
    taken from the step's own variables): Adam's first moments after one step are half the
    gradients and agree with TensorFlow's to float32 rounding, 0.1 % (the critic's biases before
    an instance norm, whose gradient is zero but for rounding, left out); after ``fit`` both
    optimisers have counted every step, so the critic's state was not lost between steps; one
    float16 step with loss scaling gives the float32 step's moments to half precision.

    Not the Vis/NIR generator: its 1 x 1 bottleneck, instance-normalised, amplifies rounding
    into gradients that differ by 2 % between any two backends (measured: TensorFlow against
    JAX, one step from the same weights)."""
    pytest.importorskip("jax")
    recipe = {"identity_weight": 1.0, "identity_gradient_weight": 1.0, "kernel_l2": 1e-4}
    keras.utils.set_random_seed(2)
    options = TrainOptions(data=str(tmp_path), out=str(tmp_path / "run"), width=8, **recipe)
    gan = build_gan(options)
    gan.save_weights(tmp_path / "init.weights.h5")
    x, y = _batches(options.bands, 1)[0]
    np.savez(tmp_path / "batch.npz", *x, *y)
    gan.train_on_batch(list(x), list(y))
    variables = gan.weights + gan.g_optimizer.variables + gan.d_optimizer.variables
    said, _ = run_on_jax(ON_JAX, tmp_path, json.dumps(recipe))
    assert said["iterations"] == [1 + 4, 1 + 4]
    # float16 with dynamic loss scaling: the scale divided out again, the moments those of float32
    # to half precision's rounding (measured: 7-10 % of the largest moment on JAX, 8.6 % for
    # TensorFlow's float16 step against its float32 one); unscaled they would be 32768x larger
    assert said["float16"] == "LossScaleOptimizer" and said["float16_error"] < 0.2
    on_jax = np.load(tmp_path / "jax.npz")
    assert len(on_jax.files) == len(variables)
    compared = 0
    for variable, theirs in zip(variables, (on_jax[f"arr_{i}"] for i in range(len(variables)))):
        ours = keras.ops.convert_to_numpy(variable)
        if "momentum" in variable.path and np.abs(ours).max() > 1e-6:
            scale = np.abs(ours).max()
            assert np.abs(ours - theirs).max() <= 1e-3 * scale, variable.path
            compared += 1
    assert compared > len(gan.trainable_variables) * 0.8
