"""Paired patches of a prepared tree (:mod:`crmss.dataset.tree`) as a ``tf.data`` pipeline.

Elements are ``((x10, x20), (y10, y20))``: cloudy and clear stacks as float32 reflectance
(value / 10000, clipped to [0, 1]), x10/y10 (S, S, 4) with B02, B03, B04, B08 and x20/y20
(S/2, S/2, 6) with B05, B06, B07, B8A, B11, B12; ``((x10,), (y10,))`` when only the 10 m
stack is asked for (the Vis/NIR ablation). Augmentation, when on, applies one random choice of
{none, rot90, rot180, rot270, left-right flip, up-down flip} to all stacks of a pair.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..core.errors import InputError
from ..dataset.tree import BANDS, ROLES, STACKS_OF_PAIR, PatchSet, stack_key
from ..io.raster import read_image

#: marks crmss's own message inside the error TensorFlow raises from a tf.data worker
_PATCH_ERROR = "crmss-patch-error"


def read_patch(path: str | bytes | Path, res: str | bytes = "10m", size: int = 0) -> np.ndarray:
    """A patch file as float32 reflectance (rows, cols, bands) in [0, 1].

    Checks the header as it opens the file (``res``'s band count, ``size`` x ``size`` px when
    ``size`` is given, UInt16) and the values as it reads them (no NaN or infinity, for files
    of a floating type); a bad patch raises ValueError, which :func:`patch_errors` turns back
    into an InputError naming the file once TensorFlow has passed it on."""
    path = path.decode() if isinstance(path, bytes) else str(path)
    res = res.decode() if isinstance(res, bytes) else res
    try:
        info, pixels = read_image(path)
    except InputError as exc:
        raise _bad_patch(path, f"cannot read this patch ({exc.__cause__})") from None
    size = int(size) or info.width
    if info.bands != BANDS[res] or (info.width, info.height) != (size, size):
        raise _bad_patch(
            path,
            f"{info.bands} bands of {info.width} x {info.height} px, but {res} patches of this "
            f"tree have {BANDS[res]} bands of {size} x {size} px",
        )
    if not np.all(np.isfinite(pixels)):
        raise _bad_patch(path, "holds NaN or infinite values")
    if info.dtype != "UInt16":
        raise _bad_patch(path, f"{info.dtype} values, but patches hold UInt16 reflectance x 10000")
    return np.clip(np.moveaxis(pixels, 0, -1).astype(np.float32) / 10000.0, 0.0, 1.0)


def _bad_patch(path: str, what: str) -> ValueError:
    fix = "prepare the data again (into a new folder) or remove the pair from the tree"
    return ValueError(f"{_PATCH_ERROR}:{path}: {what}; {fix}:{_PATCH_ERROR}")


@contextlib.contextmanager
def patch_errors() -> Iterator[None]:
    """Turn the error TensorFlow raises for a bad patch read in a tf.data worker into the
    InputError that :func:`read_patch` meant (other errors pass unchanged)."""
    try:
        yield
    except tf.errors.OpError as exc:
        found = re.search(rf"{_PATCH_ERROR}:(.*?):{_PATCH_ERROR}", exc.message, re.S)
        if found:
            raise InputError(found.group(1)) from None
        raise


def augment(*stacks: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """The same rotation or flip (or none) of all stacks of a pair, drawn from the stateless
    ``seed`` (two integers): the same seed, the same choice, in any run."""
    choice = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=6, dtype=tf.int32)
    ops = [
        lambda t: t,
        lambda t: tf.image.rot90(t, 1),
        lambda t: tf.image.rot90(t, 2),
        lambda t: tf.image.rot90(t, 3),
        tf.image.flip_left_right,
        tf.image.flip_up_down,
    ]
    return tuple(tf.switch_case(choice, [lambda f=f, t=t: f(t) for f in ops]) for t in stacks)


def epoch_steps(patches: int, batch_size: int, steps: int | None = None) -> int:
    """Batches per epoch: ``steps``, else enough full batches for one pass over the patches."""
    return steps or -(-patches // batch_size)


def make_dataset(
    patches: PatchSet,
    batch_size: int,
    *,
    shuffle: bool = True,
    augmentation: bool = True,
    cache: bool = False,
    repeat: bool = False,
    drop_remainder: bool = False,
    seed: int = 0,
    first_epoch: int = 0,
    last_epoch: int | None = None,
    steps: int | None = None,
    stacks: tuple[str, ...] = ("10m", "20m"),
) -> tf.data.Dataset:
    """``((x10, x20), (y10, y20))`` batches of ``patches`` (see the module docstring), or of
    the ``stacks`` asked for (``("10m",)``: ``((x10,), (y10,))``; the 20 m patches are not read).

    Without ``shuffle``, ``augmentation`` and ``repeat``: the patches in order, the last batch short
    unless ``drop_remainder``. Otherwise the batches of epoch ``first_epoch`` (and with ``repeat``
    of every later epoch up to ``last_epoch``, or endlessly): each epoch :func:`epoch_steps` full
    batches, its order and augmentation drawn from (``seed``, epoch, position) alone, with stateless
    random ops, so that a run resumed at an epoch reads exactly what an uninterrupted run reads
    there. Files are read by GDAL in parallel; ``cache`` keeps decoded patches in memory after their
    first read; batches are prefetched.
    """
    keys = [stack_key(role, res) for role in ROLES for res in stacks]
    ordered = not (shuffle or augmentation or repeat)
    # in order, tf.data's own cache keeps them
    read = _patch_reader(patches, keys, cache and not ordered)
    if ordered:
        dataset = tf.data.Dataset.range(len(patches)).map(
            read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        dataset = (dataset.cache() if cache else dataset).map(
            lambda *loaded: (loaded[: len(stacks)], loaded[len(stacks) :])
        )
        return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    per_epoch = epoch_steps(len(patches), batch_size, steps) * batch_size
    last = (last_epoch or tf.int64.max) if repeat else first_epoch + 1
    items = tf.data.Dataset.range(first_epoch, last).flat_map(
        lambda epoch: _epoch_items(epoch, len(patches), per_epoch, shuffle, seed)
    )

    def load(epoch, position, index):
        loaded = read(index)
        return (
            augment(*loaded, seed=tf.stack([tf.cast(seed, tf.int64), epoch * per_epoch + position]))
            if augmentation
            else loaded
        )

    dataset = items.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.map(lambda *loaded: (loaded[: len(stacks)], loaded[len(stacks) :]))
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _epoch_items(epoch, count: int, per_epoch: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """(epoch, position, patch index) of one epoch's ``per_epoch`` draws: passes over the
    ``count`` patches, each in the order of a stateless shuffle seeded by (``seed``, epoch,
    pass)."""
    passes = -(-per_epoch // count)

    def one_pass(number):
        indices = tf.range(count, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(
                indices, seed=tf.stack([tf.cast(seed, tf.int64), epoch * passes + number])
            )
        return tf.data.Dataset.from_tensor_slices(indices)

    draws = tf.data.Dataset.range(passes).flat_map(one_pass).take(per_epoch).enumerate()
    return draws.map(lambda position, index: (epoch, position, index))


def _patch_reader(patches: PatchSet, keys: list[str], cache: bool):
    """A tf.data map function: patch index -> the float32 stacks of ``keys``, read by GDAL
    (:func:`read_patch`), kept in memory after their first read where ``cache``."""
    sides = {"10m": patches.size10, "20m": patches.size10 // 2}
    files = {key: tf.constant(patches.files[key]) for key in keys}
    kept: dict = {}

    def read_one(path, res, size):
        if not cache:
            return read_patch(path, res, size)
        if path not in kept:
            kept[path] = read_patch(path, res, size)
        return kept[path]

    def read(index):
        loaded = []
        for key in keys:
            res = STACKS_OF_PAIR[key][1]
            shape = (sides[res], sides[res], BANDS[res])
            stack = tf.numpy_function(
                read_one, [tf.gather(files[key], index), res, shape[0]], tf.float32
            )
            stack.set_shape(shape)
            loaded.append(stack)
        return tuple(loaded)

    return read
