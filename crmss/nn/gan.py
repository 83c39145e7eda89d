"""CR-MSS as a GAN: a ``keras.Model`` subclass trained with ``fit`` on TensorFlow or JAX.

In the style of the Keras examples' GANs: ``compile(d_optimizer=..., g_optimizer=...,
loss_weights=...)``, a ``train_step`` with one critic and one generator update returning loss
trackers, and a ``test_step`` that reports the PSNR of the generator's output beside the cloudy
input's, over all bands and per band (``psnr_B02`` ... ``psnr_B12``, ``cloudy_psnr_B02`` ...: the
per-band learning curves of the validation pairs in history.csv and TensorBoard) and the
output's checkerboard per stack (``checkerboard_10m``: dB of power at the Nyquist frequencies
above the truth's). Batches are
``((x10, x20), (y10, y20))``: cloudy and clear stacks, reflectance in [0, 1] (``((x10,), (y10,))``
for the Vis/NIR ablation: every step works on however many stacks the generator takes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from ..core.bands import STACKS
from ..core.options import LossWeights
from .backends import on_tensorflow
from .losses import (
    band_psnr,
    checkerboard,
    discriminator_loss,
    generator_adversarial_loss,
    psnr,
    reconstruction_loss,
)
from .model import Tensor, generator_stacks, run_generator

#: how a training step runs one network: input stacks -> output (a list of stacks, or scores)
Networks = Callable[[list[Tensor]], Any]


class CRMSSGAN(keras.Model):
    """Generator and critic trained together; ``call`` runs the generator alone.

    One loss computation (:meth:`losses_of`) serves both backends; each has its small gradient
    piece, as Keras's guides write a custom step per backend. On TensorFlow, ``train_step(data)``
    takes the gradients with two tapes and updates the variables (under any ``tf.distribute``
    strategy). On JAX, ``train_step(state, data)`` is stateless: it returns the logs and the new
    state, and the critic's optimiser state travels in the state beside the trackers' (see
    :attr:`metrics_variables`), since Keras's JAX trainer carries only ``model.optimizer``'s.
    """

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
        self.stacks = generator_stacks(self.generator)
        self.bands = [band for stack in self.stacks for band in STACKS[stack]]
        per_band = [f"{kind}_{band}" for kind in ("psnr", "cloudy_psnr") for band in self.bands]
        checkerboards = [f"checkerboard_{stack}" for stack in self.stacks]
        names = (
            "d_loss",
            "g_loss",
            "g_adversarial",
            "g_reconstruction",
            "psnr",
            "cloudy_psnr",
            *per_band,
            *checkerboards,
        )
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def metrics_variables(self) -> list[keras.Variable]:
        """The trackers' variables and, on JAX, the critic optimiser's after them: Keras's JAX
        trainer carries these through its stateless steps and writes them back after each epoch
        (resetting the metrics resets the trackers alone). On TensorFlow, the trackers'."""
        variables = list(super().metrics_variables)
        if not on_tensorflow() and hasattr(self, "d_optimizer"):
            variables += self.d_optimizer.variables
        return variables

    def losses_of(
        self,
        generate: Networks,
        criticise: Networks,
        kernels: list[Tensor],
        cloudy: list[Tensor],
        clear: list[Tensor],
    ) -> tuple[Tensor, Tensor, dict[str, Tensor], list[Tensor]]:
        """The critic's and the generator's losses of one batch, from one forward pass.

        The computation both backends' training steps share; each supplies how the networks run
        (stateful calls under TensorFlow's tapes, ``stateless_call`` on JAX).

        Args:
            generate: stacks -> the generator's output stacks, in training mode.
            criticise: stacks -> the critic's patch scores, in training mode.
            kernels: the generator's convolution kernels, for the L2 penalty.
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
            # ops.sum of a stack adds as tf.add_n did (Python's sum() would change the last bit)
            g_loss += w.kernel_l2 * ops.sum(
                ops.stack([ops.sum(ops.square(ops.cast(k, "float32"))) for k in kernels])
            )
        terms = {"g_adversarial": adversarial, "g_reconstruction": reconstruction}
        return d_loss, g_loss, terms, fake

    def train_step(self, *args: Any) -> Any:
        """One critic update and one generator update from the same forward pass (as in the
        TensorFlow pix2pix tutorial), each network's gradient taken on its own loss.

        TensorFlow: ``train_step(data) -> logs``; JAX: ``train_step(state, data) -> (logs,
        state)`` (how Keras's trainers call it)."""
        if not on_tensorflow():
            return self._jax_train_step(*args)
        return self._tf_train_step(*args)

    def test_step(self, *args: Any) -> Any:
        """The validation logs of one batch (TensorFlow: ``test_step(data) -> logs``; JAX:
        ``test_step(state, data) -> (logs, state)``)."""
        if not on_tensorflow():
            return self._jax_test_step(*args)
        cloudy, clear = list(args[0][0]), list(args[0][1])
        fake = run_generator(self.generator, cloudy, training=False)
        return self._track(self._validation(cloudy, clear, fake))

    def _tf_train_step(self, data: tuple) -> dict[str, Tensor]:
        """The step under TensorFlow: two tapes over one forward pass; gradients summed over
        the replicas of the distribution strategy; the critic updated, then the generator."""
        import tensorflow as tf

        cloudy, clear = list(data[0]), list(data[1])
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            d_loss, g_loss, terms, fake = self.losses_of(
                lambda stacks: run_generator(self.generator, stacks, training=True),
                lambda stacks: self.discriminator(stacks, training=True),
                _kernels(self.generator, self.generator.trainable_variables),
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
        return self._track(self._training(d_loss, g_loss, terms, cloudy, clear, fake))

    def _jax_train_step(self, state: tuple, data: tuple) -> tuple[dict[str, Tensor], tuple]:
        """The step under JAX, stateless: the losses' gradients by one vjp, each optimiser's
        ``stateless_apply`` on its own network's variables (the critic's optimiser state in the
        carried metrics variables), the trackers updated statelessly."""
        import jax

        trainable, fixed, g_slots, carried = state
        cloudy, clear = list(data[0]), list(data[1])
        g_fixed, d_fixed = self._split(fixed, "non_trainable_variables")
        count = len(carried) - len(self.d_optimizer.variables)
        trackers, d_slots = list(carried[:count]), list(carried[count:])
        updated: dict[str, list] = {"g": list(g_fixed), "d": list(d_fixed)}

        def losses(g_params: list, d_params: list) -> tuple:
            def generate(stacks: list) -> list:
                out, updated["g"] = self.generator.stateless_call(
                    g_params, g_fixed, stacks, training=True
                )
                return list(out) if isinstance(out, (list, tuple)) else [out]

            def criticise(stacks: list) -> Tensor:
                scores, updated["d"] = self.discriminator.stateless_call(
                    d_params, d_fixed, stacks, training=True
                )
                return scores

            kernels = _kernels(self.generator, g_params)
            d_loss, g_loss, terms, fake = self.losses_of(
                generate, criticise, kernels, cloudy, clear
            )
            return (d_loss, g_loss), (terms, fake)

        g_params, d_params = self._split(trainable, "trainable_variables")
        # one forward pass; each network's gradient pulled back from its own loss
        pulled: Any = jax.vjp(losses, g_params, d_params, has_aux=True)
        (d_loss, g_loss), backward, (terms, fake) = pulled
        g_scale = _loss_scale(self.g_optimizer, g_slots)
        d_scale = _loss_scale(self.d_optimizer, d_slots)
        d_grads = backward((d_scale * ops.ones_like(d_loss), ops.zeros_like(g_loss)))[1]
        g_grads = backward((ops.zeros_like(d_loss), g_scale * ops.ones_like(g_loss)))[0]
        d_params, d_slots = self.d_optimizer.stateless_apply(d_slots, d_grads, d_params)
        g_params, g_slots = self.g_optimizer.stateless_apply(g_slots, g_grads, g_params)
        logs, trackers = self._track_stateless(
            trackers, self._training(d_loss, g_loss, terms, cloudy, clear, fake)
        )
        state = (
            [*g_params, *d_params],
            [*updated["g"], *updated["d"]],
            g_slots,
            [*trackers, *d_slots],
        )
        return logs, state

    def _jax_test_step(self, state: tuple, data: tuple) -> tuple[dict[str, Tensor], tuple]:
        trainable, fixed, carried = state
        cloudy, clear = list(data[0]), list(data[1])
        g_params, _ = self._split(trainable, "trainable_variables")
        g_fixed, _ = self._split(fixed, "non_trainable_variables")
        out, _ = self.generator.stateless_call(g_params, g_fixed, cloudy, training=False)
        fake = list(out) if isinstance(out, (list, tuple)) else [out]
        count = len(carried) - len(self.d_optimizer.variables)
        logs, trackers = self._track_stateless(
            carried[:count], self._validation(cloudy, clear, fake)
        )
        return logs, (trainable, fixed, [*trackers, *carried[count:]])

    def _split(self, values: list, kind: str) -> tuple[list, list]:
        """``values`` of the model's ``kind`` variables (the generator's, then the critic's) as
        the generator's and the critic's."""
        count = len(getattr(self.generator, kind))
        return list(values[:count]), list(values[count:])

    def _training(self, d_loss, g_loss, terms, cloudy, clear, fake) -> dict[str, Tensor]:
        """The values a training step logs."""
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            **terms,
            "psnr": self._psnr(fake, clear),
            "cloudy_psnr": self._psnr(cloudy, clear),
        }

    def _validation(self, cloudy, clear, fake) -> dict[str, Tensor]:
        """The values a validation step logs: the reconstruction loss, the stacks' PSNR and each
        band's, of the output and of the cloudy input, and each stack's checkerboard (dB)."""
        per_band = {}
        for kind, images in (("psnr", fake), ("cloudy_psnr", cloudy)):
            values = ops.concatenate([band_psnr(p, t) for p, t in zip(images, clear)], axis=0)
            per_band.update({f"{kind}_{band}": values[i] for i, band in enumerate(self.bands)})
        return {
            "g_reconstruction": reconstruction_loss(
                fake, clear, self.loss_weights_.l1, self.loss_weights_.gradient
            ),
            "psnr": self._psnr(fake, clear),
            "cloudy_psnr": self._psnr(cloudy, clear),
            **per_band,
            **{
                f"checkerboard_{stack}": checkerboard(p, t)
                for stack, p, t in zip(self.stacks, fake, clear)
            },
        }

    @staticmethod
    def _psnr(predicted, target):
        """PSNR in dB averaged over the stacks (10 m and 20 m, or 10 m alone)."""
        return ops.sum(ops.stack([psnr(p, t) for p, t in zip(predicted, target)])) / len(target)

    def _track(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    def _track_stateless(
        self, variables: list, values: dict[str, Tensor]
    ) -> tuple[dict[str, Tensor], list]:
        """:meth:`_track` without state: the trackers' ``variables`` (in :attr:`metrics`'
        order) updated with ``values``; returns the logs and the new variables."""
        logs, updated, start = {}, [], 0
        for tracker in self.metrics:
            own = variables[start : start + len(tracker.variables)]
            start += len(tracker.variables)
            if tracker.name in values:
                own = tracker.stateless_update_state(own, values[tracker.name])
                logs[tracker.name] = tracker.stateless_result(own)
            updated += own
        return logs, updated


def _kernels(generator: keras.Model, values: Sequence) -> list:
    """The convolution kernels among ``values``, the generator's trainable variables or their
    values in the same order (the L2 penalty's terms)."""
    return [v for v, var in zip(values, generator.trainable_variables) if "kernel" in var.path]


def _loss_scale(optimizer: keras.optimizers.Optimizer, slots: list) -> Tensor:
    """The factor ``optimizer.scale_loss`` applies, read from its variables' values ``slots``
    (1 but under a LossScaleOptimizer, whose ``stateless_apply`` divides it out again)."""
    mapping = list(zip(optimizer.variables, slots))
    with keras.StatelessScope(state_mapping=mapping):
        return optimizer.scale_loss(ops.ones((), "float32"))
