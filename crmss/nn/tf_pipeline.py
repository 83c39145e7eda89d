"""The batches of :mod:`crmss.nn.pipeline` as a ``tf.data`` pipeline: the TensorFlow backend's
input, with patches read by GDAL in parallel and batches prefetched.

The draws (which patch, which transform) and the reading are :mod:`crmss.nn.pipeline`'s, run
through ``tf.numpy_function``, so that this pipeline and the PyDataset of the other backends
give the same arrays.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .pipeline import BatchPlan, PairReader


def as_tf_dataset(reader: PairReader, plan: BatchPlan) -> tf.data.Dataset:
    """The batches of ``plan`` read by ``reader``: ``((x10, x20), (y10, y20))`` elements of
    float32 tensors (batch, rows, cols, bands), or the stacks the reader reads."""
    if plan.ordered:
        draws = tf.data.Dataset.range(plan.count).map(
            lambda index: (index, tf.constant(0, tf.int64))
        )
    else:
        last = tf.int64.max if plan.last_epoch is None else plan.last_epoch
        draws = tf.data.Dataset.range(plan.first_epoch, last).flat_map(
            lambda epoch: _epoch_of(plan, epoch)
        )
    halves = len(reader.keys) // 2
    dataset = draws.map(
        _loader(reader), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    ).map(lambda *loaded: (loaded[:halves], loaded[halves:]))
    drop = plan.drop_remainder or not plan.ordered
    return dataset.batch(plan.batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)


def _epoch_of(plan: BatchPlan, epoch: tf.Tensor) -> tf.data.Dataset:
    """(patch index, transform) of each draw of ``epoch``."""
    indices, choices = tf.numpy_function(
        lambda e: plan.epoch(int(e)), [epoch], (tf.int64, tf.int64), stateful=False
    )
    per_epoch = plan.steps * plan.batch_size
    return tf.data.Dataset.from_tensor_slices(
        (tf.ensure_shape(indices, [per_epoch]), tf.ensure_shape(choices, [per_epoch]))
    )


def _loader(reader: PairReader):
    """A tf.data map function: (patch index, transform) -> the pair's float32 stacks."""
    shapes = [reader.shape(key) for key in reader.keys]

    def load(index: tf.Tensor, choice: tf.Tensor) -> tuple[tf.Tensor, ...]:
        stacks = tf.numpy_function(
            lambda i, c: [np.asarray(s, np.float32) for s in reader(i, c)],
            [index, choice],
            [tf.float32] * len(shapes),
            stateful=False,
        )
        return tuple(tf.ensure_shape(s, shape) for s, shape in zip(stacks, shapes))

    return load
