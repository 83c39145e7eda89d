"""Training on several devices: TensorFlow's ``tf.distribute`` strategies (``--strategy``),
and the one-device stand-in of the other backends.

``default`` trains on one device (the first GPU, else the CPU), ``mirrored`` on every local GPU
(synchronous data parallelism), ``multiworker`` on several machines configured by
``TF_CONFIG``. The last two are TensorFlow's alone: on JAX crmss trains on one device.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import keras

from ..core.errors import InputError
from ..core.validation import argument
from .backends import backend, on_tensorflow

logger = logging.getLogger(__name__)


class OneDevice:
    """The strategy of a backend without ``tf.distribute``: one replica, a scope that changes
    nothing."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def make_strategy(name: str) -> Any:
    """The strategy ``name`` (TrainOptions.strategy): default: one device; mirrored: all local
    GPUs (or the CPU); multiworker: from TF_CONFIG. On a backend other than TensorFlow only
    ``default`` (:class:`OneDevice`); the others are refused, naming the fix."""
    if not on_tensorflow():
        if name != "default":
            raise InputError(
                f"{argument('strategy', name)}: tf.distribute strategies need the TensorFlow "
                f"backend, and Keras runs on {backend()} here; set KERAS_BACKEND=tensorflow, or "
                "train on one device with the default strategy"
            )
        return OneDevice()
    import tensorflow as tf

    if name == "mirrored":  # every GPU, or every logical CPU device where there is no GPU
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise InputError(
                f"{argument('strategy', name)} needs the TF_CONFIG environment "
                "variable (cluster and task) on every worker"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the run's records: always, but in a multi-worker run, whose
    chief (or first worker, where no chief is named) does."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def fit_multiworker(
    gan: keras.Model,
    strategy: Any,
    train_data: Any,
    val_data: Any,
    done: int,
    epochs: int,
    steps: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    """The training loop under MultiWorkerMirroredStrategy, calling the same train_step.

    Keras 3's ``fit`` fails under this strategy (keras-team/keras#20585), so the loop is
    written out: distributed batches, ``strategy.run(train_step)``, and the same callbacks.
    """
    import tensorflow as tf

    distributed = strategy.experimental_distribute_dataset(train_data)
    iterator = iter(distributed)

    def reduce(logs):
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()
        }

    @tf.function
    def train_step():
        return reduce(strategy.run(gan.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(batch):
        return reduce(strategy.run(gan.test_step, args=(batch,)))

    callback_list = keras.callbacks.CallbackList(
        callbacks, model=gan, epochs=epochs, steps=steps, verbose=0
    )
    callback_list.on_train_begin()  # RunBackup loads the backup of the ``done`` epochs
    for epoch in range(done, epochs):
        logger.info(f"Epoch {epoch + 1}/{epochs}")
        for metric in gan.metrics:
            metric.reset_state()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            logs = {k: float(v) for k, v in train_step().items()}
            callback_list.on_train_batch_end(step, logs)
        if val_data is not None:
            for metric in gan.metrics:
                metric.reset_state()
            for batch in strategy.experimental_distribute_dataset(val_data):
                val = test_step(batch)
            logs.update({f"val_{k}": float(v) for k, v in val.items()})
        logger.info(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end()
