"""Paired patches of a prepared tree (:mod:`crmss.dataset.tree`) as batches for training and
evaluation, on any Keras backend.

Elements are ``((x10, x20), (y10, y20))``: cloudy and clear stacks as float32 reflectance
(value / 10000, clipped to [0, 1]), x10/y10 (S, S, 4) with B02, B03, B04, B08 and x20/y20
(S/2, S/2, 6) with B05, B06, B07, B8A, B11, B12; ``((x10,), (y10,))`` when only the 10 m
stack is asked for (the Vis/NIR ablation). Augmentation, when on, applies one of
:data:`TRANSFORMS` (none, rot90, rot180, rot270, left-right flip, up-down flip) to all stacks
of a pair.

What an epoch reads is defined here once, in NumPy (:func:`epoch_draws`, :class:`PairReader`):
on TensorFlow a ``tf.data`` pipeline runs it (:mod:`crmss.nn.tf_pipeline`: parallel reads,
prefetching), on the other backends a ``keras.utils.PyDataset`` (:class:`PatchBatches`), and
both give the same batches, value for value, for a seed and an epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..core.errors import InputError
from ..dataset.tree import BANDS, ROLES, STACKS_OF_PAIR, PatchSet, stack_key
from ..io.raster import read_image
from .backends import on_tensorflow

#: marks crmss's own message inside the error a data worker passes on (tf.data's wraps it)
_PATCH_ERROR = "crmss-patch-error"

#: the augmentations of a pair, by the number drawn: rotations counter-clockwise in the image
#: plane (rows, columns), as ``tf.image.rot90`` turns, and flips
TRANSFORMS: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    lambda t: t,
    lambda t: np.rot90(t, 1),
    lambda t: np.rot90(t, 2),
    lambda t: np.rot90(t, 3),
    lambda t: t[:, ::-1],
    lambda t: t[::-1],
)


def read_patch(path: str | bytes | Path, res: str | bytes = "10m", size: int = 0) -> np.ndarray:
    """A patch file as float32 reflectance (rows, cols, bands) in [0, 1].

    Checks the header as it opens the file (``res``'s band count, ``size`` x ``size`` px when
    ``size`` is given, UInt16) and the values as it reads them (no NaN or infinity, for files
    of a floating type); a bad patch raises ValueError, which :func:`patch_errors` turns back
    into an InputError naming the file."""
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
    """Turn the error raised for a bad patch (:func:`read_patch`'s ValueError, or the error
    tf.data raises around it from a worker) into the InputError it meant; other errors pass
    unchanged."""
    try:
        yield
    except Exception as exc:
        found = re.search(rf"{_PATCH_ERROR}:(.*?):{_PATCH_ERROR}", str(exc), re.S)
        if found:
            raise InputError(found.group(1)) from None
        raise


def augment(*stacks: np.ndarray, choice: int) -> tuple[np.ndarray, ...]:
    """The transform ``choice`` (an index into :data:`TRANSFORMS`) of every stack of a pair:
    (rows, cols, bands) arrays, all moved alike."""
    return tuple(np.ascontiguousarray(TRANSFORMS[choice](stack)) for stack in stacks)


def epoch_steps(patches: int, batch_size: int, steps: int | None = None) -> int:
    """Batches per epoch: ``steps``, else enough full batches for one pass over the patches."""
    return steps or -(-patches // batch_size)


def epoch_draws(
    count: int, per_epoch: int, epoch: int, seed: int, shuffle: bool, augmentation: bool
) -> tuple[np.ndarray, np.ndarray]:
    """What epoch ``epoch`` reads: ``per_epoch`` patch indices and their transforms.

    The indices are passes over the ``count`` patches, each pass in the order of a shuffle
    (else in order); the transforms index :data:`TRANSFORMS` (all 0 without augmentation). Both
    come from a PCG64 stream seeded by (``seed``, ``epoch``) alone, so that a run resumed at an
    epoch reads what an uninterrupted run reads there. Only the bit generator's raw output is
    used (argsort of 64-bit draws, a draw modulo 6), which NumPy keeps the same across versions.

    Returns:
        Two int64 arrays of ``per_epoch`` values: patch indices, transform numbers.
    """
    bits = np.random.PCG64(np.random.SeedSequence([int(seed), int(epoch)]))
    passes = -(-per_epoch // count)
    if shuffle:
        order = np.concatenate(
            [np.argsort(bits.random_raw(count), kind="stable") for _ in range(passes)]
        )
    else:
        order = np.tile(np.arange(count), passes)
    choices = (
        bits.random_raw(per_epoch) % len(TRANSFORMS)
        if augmentation
        else np.zeros(per_epoch, np.uint64)
    )
    return order[:per_epoch].astype(np.int64), choices.astype(np.int64)


class PairReader:
    """Reads pairs of a PatchSet: (patch index, transform) -> the stacks, cloudy then clear.

    Args:
        patches: the pairs' patch files.
        stacks: the resolutions read, ``("10m", "20m")`` or ``("10m",)``.
        cache: keep decoded patches in memory after their first read (before augmentation).
    """

    def __init__(self, patches: PatchSet, stacks: tuple[str, ...], cache: bool):
        self.keys = [stack_key(role, res) for role in ROLES for res in stacks]
        self.files = {key: patches.files[key] for key in self.keys}
        self.sides = {"10m": patches.size10, "20m": patches.size10 // 2}
        self.kept: dict[str, np.ndarray] | None = {} if cache else None

    def shape(self, key: str) -> tuple[int, int, int]:
        """(rows, cols, bands) of stack ``key``'s patches."""
        res = STACKS_OF_PAIR[key][1]
        return self.sides[res], self.sides[res], BANDS[res]

    def __call__(self, index: int, choice: int = 0) -> tuple[np.ndarray, ...]:
        """The float32 stacks of pair ``index`` (x10, x20, y10, y20, or those of ``stacks``),
        moved by transform ``choice``."""
        return augment(*(self._read(key, int(index)) for key in self.keys), choice=int(choice))

    def _read(self, key: str, index: int) -> np.ndarray:
        path = self.files[key][index]
        if self.kept is not None and path in self.kept:
            return self.kept[path]
        stack = read_patch(path, STACKS_OF_PAIR[key][1], self.shape(key)[0])
        if self.kept is not None:
            self.kept[path] = stack
        return stack


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """Which (patch index, transform) draws make each batch of a dataset.

    Ordered: the ``count`` patches in order, untransformed, the last batch short unless
    ``drop_remainder``. Drawn: epochs ``first_epoch`` to ``last_epoch`` (excluded; None:
    endless) of ``steps`` full batches each, drawn by :func:`epoch_draws`.
    """

    count: int
    batch_size: int
    ordered: bool = True
    drop_remainder: bool = False
    steps: int = 0
    first_epoch: int = 0
    last_epoch: int | None = None
    seed: int = 0
    shuffle: bool = False
    augmentation: bool = False

    @property
    def batches(self) -> int | None:
        """The number of batches, None for endless epochs."""
        if self.ordered:
            return (
                self.count // self.batch_size
                if self.drop_remainder
                else -(-self.count // self.batch_size)
            )
        return (
            None if self.last_epoch is None else self.steps * (self.last_epoch - self.first_epoch)
        )

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Patch indices and transforms of drawn epoch ``epoch`` (:func:`epoch_draws`)."""
        return _cached_draws(
            self.count,
            self.steps * self.batch_size,
            epoch,
            self.seed,
            self.shuffle,
            self.augmentation,
        )

    def batch(self, index: int) -> list[tuple[int, int]]:
        """(patch index, transform) of each pair of batch ``index``."""
        if self.ordered:
            first = index * self.batch_size
            return [(i, 0) for i in range(first, min(first + self.batch_size, self.count))]
        epoch, step = divmod(index, self.steps)
        indices, choices = self.epoch(self.first_epoch + epoch)
        at = slice(step * self.batch_size, (step + 1) * self.batch_size)
        return list(zip(indices[at].tolist(), choices[at].tolist()))


#: an epoch's draws, kept while its batches are read
_cached_draws = functools.lru_cache(maxsize=4)(epoch_draws)


class PatchBatches(keras.utils.PyDataset):
    """The batches of :func:`make_dataset` as a ``keras.utils.PyDataset``: what ``fit`` and
    ``evaluate`` take on backends other than TensorFlow.

    Args:
        reader: reads a pair's stacks.
        plan: the draws of each batch; batch ``i`` of a drawn plan is position ``i % steps`` of
            epoch ``first_epoch + i // steps``.

    The pairs of a batch are read by a few threads (GDAL releases the GIL while decoding), and
    batch ``i + 1`` is read while the model works on batch ``i``. Keras's own ``workers`` are
    not used: its queue restarts at every epoch, which ``fit`` with ``steps_per_epoch`` (one
    iterator across epochs) does not.
    """

    def __init__(self, reader: PairReader, plan: BatchPlan):
        super().__init__()
        self.reader, self.plan = reader, plan
        self.pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1))
        self.ahead = ThreadPoolExecutor(1)  # the next batch, read in the background
        self.next: tuple[int, Future] | None = None

    @property
    def num_batches(self) -> int | None:
        return self.plan.batches

    def __getitem__(self, index: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """Batch ``index``: (cloudy stacks, clear stacks), each (batch, rows, cols, bands)."""
        batches = self.plan.batches
        if batches is not None and not 0 <= index < batches:
            raise IndexError(f"batch {index} of {batches}")
        ahead, self.next = self.next, None
        batch = ahead[1] if ahead and ahead[0] == index else self.ahead.submit(self._read, index)
        if batches is None or index + 1 < batches:
            self.next = (index + 1, self.ahead.submit(self._read, index + 1))
        return batch.result()

    def _read(self, index: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        pairs = list(self.pool.map(lambda draw: self.reader(*draw), self.plan.batch(index)))
        stacked = [np.stack(arrays) for arrays in zip(*pairs)]
        half = len(stacked) // 2
        return tuple(stacked[:half]), tuple(stacked[half:])

    def __del__(self) -> None:
        for pool in (self.ahead, self.pool):
            pool.shutdown(wait=False, cancel_futures=True)


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
) -> Any:
    """``((x10, x20), (y10, y20))`` batches of ``patches`` (see the module docstring), or of
    the ``stacks`` asked for (``("10m",)``: ``((x10,), (y10,))``; the 20 m patches are not read).

    Without ``shuffle``, ``augmentation`` and ``repeat``: the patches in order, the last batch short
    unless ``drop_remainder``. Otherwise the batches of epoch ``first_epoch`` (and with ``repeat``
    of every later epoch up to ``last_epoch``, or endlessly): each epoch :func:`epoch_steps` full
    batches, drawn by :func:`epoch_draws` from (``seed``, epoch) alone. ``cache`` keeps decoded
    patches in memory after their first read.

    Returns:
        On the TensorFlow backend a ``tf.data.Dataset`` (:mod:`crmss.nn.tf_pipeline`), on the
        others a :class:`PatchBatches`; iterated, both give the same arrays.
    """
    ordered = not (shuffle or augmentation or repeat)
    plan = BatchPlan(
        len(patches),
        batch_size,
        ordered,
        drop_remainder,
        steps=0 if ordered else epoch_steps(len(patches), batch_size, steps),
        first_epoch=first_epoch,
        last_epoch=last_epoch if repeat else first_epoch + 1,
        seed=seed,
        shuffle=shuffle,
        augmentation=augmentation,
    )
    reader = PairReader(patches, stacks, cache)
    if on_tensorflow():
        from .tf_pipeline import as_tf_dataset

        return as_tf_dataset(reader, plan)
    return PatchBatches(reader, plan)
