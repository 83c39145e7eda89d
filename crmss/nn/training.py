"""``train.py`` / ``crmss train``: train CR-MSS on a prepared tree, resumable.

The run folder RUN holds ``config.json`` (options, package versions, seed), ``backup/`` (both
networks, both optimisers and the epoch, written at the end of every epoch), ``logs/``
(TensorBoard scalars and sample images), ``history.csv``, ``generator.keras`` (after every
epoch) and ``generator_best.keras`` (best validation PSNR). Running again on the same RUN
continues to the requested total of epochs, after a kill or after a finished run given a larger
``--epochs``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import platform
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import psutil
from keras import ops

from .. import __version__
from ..core.bands import BAND_SETS
from ..core.console import keras_verbosity
from ..core.errors import InputError, is_disk_full
from ..core.files import (
    TEMPORARY_PREFIX,
    exclusive_lock,
    output_folder,
    replaced_atomically,
    utc_timestamp,
    write_text_atomically,
)
from ..core.options import TrainOptions
from ..core.validation import argument
from ..dataset.tree import PatchSet, load_patches, merge
from .backends import backend_versions, gpu_count, is_out_of_memory
from .callbacks import (
    EnoughSpace,
    EpochLine,
    GeneratorExport,
    HistoryCSV,
    RunBackup,
    StopOnNonFinite,
    tensorboard_callbacks,
)
from .distribute import fit_multiworker, is_chief, make_strategy
from .gan import CRMSSGAN
from .model import build_discriminator, build_generator
from .pipeline import epoch_steps, make_dataset, patch_errors
from .precision import training_policy
from .runs import (
    BACKUP,
    CONFIG,
    DATA_ORDER,
    HISTORY,
    best_psnr,
    check_continuation,
    check_history,
    completed_epochs,
    note_changes,
    read_config,
    run_options,
)

logger = logging.getLogger(__name__)

__all__ = ["train", "run_options", "TrainOptions"]


class CyclicDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The learning-rate schedule of the group's WHUS2-CRv training code (``decay`` there).

    ``base`` for the first ``constant_steps``; after that, in cycle n = 0, 1, ... (each
    ``cycle_steps`` long) at step s within the cycle: base x 0.96^n x 0.98^floor(s / 100).
    """

    def __init__(self, base: float, constant_steps: int = 100_000, cycle_steps: int = 100_000):
        self.base, self.constant_steps, self.cycle_steps = base, constant_steps, cycle_steps

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        after = ops.maximum(step - self.constant_steps, 0.0)
        cycle = ops.floor(after / self.cycle_steps)
        within = after - cycle * self.cycle_steps
        decayed = self.base * ops.power(0.96, cycle) * ops.power(0.98, ops.floor(within / 100.0))
        return ops.where(step < self.constant_steps, ops.cast(self.base, "float32"), decayed)

    def get_config(self) -> dict[str, float]:
        return {
            "base": self.base,
            "constant_steps": self.constant_steps,
            "cycle_steps": self.cycle_steps,
        }


def split_pairs(
    sets: dict[str, PatchSet], val_pairs: int | None
) -> tuple[PatchSet, PatchSet | None]:
    """Training and validation patches: the last ``val_pairs`` pairs (whole) validate."""
    keys = list(sets)
    count = (1 if len(keys) >= 2 else 0) if val_pairs is None else val_pairs
    if count >= len(keys):
        raise InputError(
            f"{argument('val_pairs', count)} leaves no training pair ({len(keys)} "
            "prepared training pairs)"
        )
    if count == 0:
        logger.warning(
            "warning: no validation pairs (one training pair only, or "
            f"{argument('val_pairs', 0)}); generator_best.keras is not written"
        )
        return merge([sets[k] for k in keys]), None
    return merge([sets[k] for k in keys[:-count]]), merge([sets[k] for k in keys[-count:]])


def build_gan(options: TrainOptions) -> CRMSSGAN:
    """Generator, critic and their Adam optimisers, compiled (inside the strategy's scope)."""
    gan = CRMSSGAN(
        build_generator(options.width, bands=options.bands, head=options.head),
        build_discriminator(options.width, bands=options.bands),
    )

    def adam():
        lr = CyclicDecay(options.lr) if options.lr_schedule == "cyclic" else options.lr
        optimizer = keras.optimizers.Adam(lr, beta_1=options.beta1, beta_2=options.beta2)
        return (
            keras.optimizers.LossScaleOptimizer(optimizer)
            if options.mixed_precision and _float16()
            else optimizer
        )

    gan.compile(d_optimizer=adam(), g_optimizer=adam(), loss_weights=options.loss_weights())
    return gan


def _float16() -> bool:
    return keras.mixed_precision.dtype_policy().compute_dtype == "float16"


def train(
    options: TrainOptions, verbose: int | None = None, callbacks: tuple = ()
) -> CRMSSGAN | None:
    """Train (or continue) the run ``options.out`` (``crmss train``).

    Every check comes before anything is written: options that contradict the run's
    config.json, the data, the validation split, the replicas, the memory one step needs. A
    start that fails before its first epoch is saved leaves the run as it was: a new run folder
    is removed, an existing run's config.json is restored byte for byte. What training sets
    globally is the caller's again when it ends (``caller_state_kept``). Two runs into one
    RUN take turns: the second waits for the first, then continues from where it ended.

    Args:
        options: the data, the run folder, the recipe (the fields of ``crmss train``);
            ``epochs`` is the total of the run.
        verbose: 0 silent, 1 a progress bar of each epoch and one line per epoch, 2 the lines
            alone; by default 1 on a terminal and 2 elsewhere (a log file, ``nohup``).
        callbacks: more Keras callbacks (early stopping, a notebook's own logging), called
            before the epoch's backup is written.

    Returns:
        The trained model (a ``keras.Model`` holding ``generator`` and ``discriminator``), or
        None when the run already has ``options.epochs`` epochs (then nothing in RUN is touched).

    Raises:
        InputError: bad input, options that contradict the run, a step that does not fit.
        TrainingDiverged: a NaN or infinite loss (the last complete epoch is kept).
    """
    run = Path(options.out)
    with _one_run_at_a_time(run, options.strategy):
        return _checked_train(options, run, verbose, callbacks)


@contextlib.contextmanager
def _one_run_at_a_time(run: Path, strategy: str) -> Iterator[None]:
    """Hold a lock on ``run`` (a hidden file beside it, as the other commands lock their
    outputs) for the block; not for a multi-worker run, whose workers share the folder."""
    if strategy == "multiworker":
        yield
        return
    created = not run.parent.exists()
    run.parent.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(
            run.parent / f".{run.name}.train.lock",
            f"{run}: another crmss train is writing this run; waiting for it",
        ):
            yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                run.parent.rmdir()  # only where nothing else was written


def _checked_train(
    options: TrainOptions, run: Path, verbose: int | None, callbacks: tuple
) -> CRMSSGAN | None:
    """:func:`train` under its lock."""
    config = read_config(run)
    check_continuation(options, config)
    best_psnr(run)  # a damaged best.json or history.csv is refused now, not after the next epoch
    check_history(run)
    done = completed_epochs(run)
    if done >= options.epochs:
        logger.info(
            f"{run} is already trained to {done} epochs; give a larger "
            f"{argument('epochs')} to train further"
        )
        return None
    note_changes(run, config)
    # before other TF work: multi-worker set-up comes first
    strategy = make_strategy(options.strategy)
    sets = load_patches(options.data, "train")
    train_set, val_set = split_pairs(sets, options.val_pairs)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and options.batch_size % replicas:
        raise InputError(
            f"{argument('batch_size', options.batch_size)}: must be a multiple of "
            f"the {replicas} replicas"
        )
    check_fits(options, train_set.size10, replicas)
    before = _RunState(run)
    try:
        with caller_state_kept():
            return _train(
                options, strategy, train_set, val_set, done, keras_verbosity(verbose), callbacks
            )
    except BaseException:
        before.restore_unless_trained(done)
        raise


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """Give back what training sets globally when the block ends: Keras's dtype policy (mixed
    precision), the state of Python's and NumPy's random generators and TensorFlow's global seed
    (``keras.utils.set_random_seed``)."""
    policy, python_state, numpy_state = (
        keras.mixed_precision.dtype_policy(),
        random.getstate(),
        np.random.get_state(),
    )
    tf = sys.modules.get("tensorflow")
    try:
        tf_seed = tf.compat.v1.get_seed(None)[0] if tf else None
    # op determinism on (TF_DETERMINISTIC_OPS) and no global seed: none to give back
    except RuntimeError:
        tf_seed = None
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        # keras.utils.set_random_seed seeds TensorFlow wherever it is installed, importing it
        # (on JAX too): its seed is given back, or taken away where it had none
        tf = sys.modules.get("tensorflow")
        if tf:
            tf.random.set_seed(tf_seed)


class _RunState:
    """What a run folder was before a start: whether it existed, and its config.json's bytes."""

    def __init__(self, run: Path):
        self.run, self.created = run, not run.exists()
        config = run / CONFIG
        self.config = config.read_bytes() if config.exists() else None

    def restore_unless_trained(self, done: int) -> None:
        """After a failed start: if no epoch was saved since, put the run back as it was."""
        _remove_temporary_files(self.run)
        try:
            trained = completed_epochs(self.run) > done
        except InputError:
            trained = False
        if trained:
            return
        if self.created:
            shutil.rmtree(self.run, ignore_errors=True)  # no run folder left behind
        elif self.config is not None:
            with replaced_atomically(self.run / CONFIG) as tmp:
                tmp.write_bytes(self.config)


#: memory of one training step beyond the weights, per patch pair of 256 px and per unit of
#: width (float32, both networks, forward and backward): measured on the CPU with
#: resource.getrusage (6.4 MB at width 16, 6.1 MB at width 32), rounded up
STEP_BYTES_PER_PATCH_AND_WIDTH = 6.5e6
#: parameters of both networks per width squared (6,006 for the generator at width 64, 6,700 with
#: the critic)
PARAMETERS_PER_WIDTH_SQUARED = 6700
#: what a training process holds besides the step: TensorFlow, the data pipeline (measured: about
#: 120 MB)
PROCESS_BYTES = 2**28


def step_bytes(width: int, batch: int, size10: int) -> int:
    """Memory one training step needs on one device: activations of ``batch`` patch pairs of
    ``size10`` px at ``width``, and the weights with their gradients and Adam moments."""
    activations = STEP_BYTES_PER_PATCH_AND_WIDTH * batch * width * (size10 / 256) ** 2
    return int(activations + 16 * PARAMETERS_PER_WIDTH_SQUARED * width**2 + PROCESS_BYTES)


def check_fits(options: TrainOptions, size10: int, replicas: int) -> None:
    """Refuse a width and batch whose step cannot fit in this machine's available memory
    (on a CPU; a GPU that runs out is reported when training starts)."""
    available = available_memory()
    if gpu_count() or available is None:
        return
    needed = step_bytes(options.width, math.ceil(options.batch_size / replicas), size10) * (
        replicas if replicas > 1 else 1
    )
    if needed > available:
        raise InputError(
            f"{_size_of_step(options)}: one training step needs about {needed / 1e9:.1f} GB of "
            "memory, this machine has "
            f"{available / 1e9:.1f} GB available; lower {argument('batch_size')} or "
            f"{argument('width')}"
        )


def _size_of_step(options: TrainOptions) -> str:
    """The options that size a training step, as a message names them."""
    return ", ".join(argument(name, getattr(options, name)) for name in ("width", "batch_size"))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (psutil: Linux's MemAvailable, and its
    equivalents elsewhere), None where the system does not say."""
    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError, AttributeError):
        return None


def _datasets(
    options: TrainOptions,
    train_set: PatchSet,
    val_set: PatchSet | None,
    done: int,
    steps: int,
    whole: bool,
) -> tuple[Any, Any]:
    """The training data from epoch ``done`` on (``steps`` batches an epoch, drawn from the seed
    and the epoch) and the validation data; ``whole``: whole batches only (a short one would
    leave a replica empty)."""
    stacks = BAND_SETS[options.bands]
    train_data = make_dataset(
        train_set,
        options.batch_size,
        augmentation=options.augment,
        cache=options.cache,
        repeat=True,
        seed=options.seed,
        first_epoch=done,
        last_epoch=options.epochs,
        steps=steps,
        stacks=stacks,
    )
    if not val_set:
        return train_data, None
    return train_data, make_dataset(
        val_set,
        options.batch_size,
        shuffle=False,
        augmentation=False,
        cache=True,
        drop_remainder=whole,
        stacks=stacks,
    )


def _train(
    options: TrainOptions,
    strategy: Any,
    train_set: PatchSet,
    val_set: PatchSet | None,
    done: int,
    verbose: int,
    callbacks: tuple,
) -> CRMSSGAN:
    """The checked start: the run folder and config.json, then ``fit`` (or the multi-worker
    loop)."""
    run = Path(options.out)
    chief = is_chief(strategy)
    # no lock: the workers of a multi-worker run share the folder; a failed start is undone by
    # train()
    with output_folder(run, "train", "the run's records", lock=None, unused=None):
        if chief:
            _write_config(run, options, train_set, val_set)
            trim_history(run / HISTORY, done)

    # the weights' initialisation; the data's order depends on (seed, epoch) alone
    keras.utils.set_random_seed(options.seed)
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy(training_policy())
        logger.info(f"mixed precision: Keras policy {keras.mixed_precision.dtype_policy().name}")
    steps = epoch_steps(len(train_set), options.batch_size, options.steps_per_epoch)
    train_data, val_data = _datasets(
        options, train_set, val_set, done, steps, whole=strategy.num_replicas_in_sync > 1
    )
    with strategy.scope():
        gan = build_gan(options)
    space = EnoughSpace(run, checkpoint_bytes(gan))
    try:
        with patch_errors():
            space.check()  # before the first epoch: not after hours of training
            every = [
                space,
                *_callbacks(run, chief, val_set or train_set, options, callbacks, verbose),
            ]
            if options.strategy == "multiworker":
                fit_multiworker(
                    gan, strategy, train_data, val_data, done, options.epochs, steps, every
                )
            else:
                gan.fit(
                    train_data,
                    initial_epoch=done,  # RunBackup loads the backup of these epochs
                    epochs=options.epochs,
                    steps_per_epoch=steps,
                    validation_data=val_data,
                    callbacks=every,
                    verbose=0,  # EpochLine: one short line per epoch
                    shuffle=False,
                )  # the dataset shuffles itself
    except Exception as exc:
        if is_out_of_memory(exc):
            raise InputError(
                f"{_size_of_step(options)}: a training step does not fit in the device's "
                f"memory; lower {argument('batch_size')} or {argument('width')}"
            ) from exc
        if is_disk_full(exc, run):
            raise space.error() from exc
        raise
    return gan


def checkpoint_bytes(gan: CRMSSGAN) -> int:
    """Disk space one epoch's checkpoints can take: both networks and their Adam moments twice
    (the backup keeps the previous copy while writing), three copies of the generator."""
    float_bytes = 4
    both = gan.generator.count_params() + gan.discriminator.count_params()
    return float_bytes * (both * 3 * 2 + gan.generator.count_params() * 3) + 2**20


def trim_history(history: Path, epochs: int) -> None:
    """Keep only the rows of the first ``epochs`` epochs in history.csv: rows of an epoch whose
    backup was never written (killed, disk full) are written again when it is redone."""
    if not history.exists():
        return
    lines = history.read_text().splitlines(keepends=True)
    # rows checked by check_history
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < epochs]
    if kept != lines:
        write_text_atomically(history, "".join(kept))


def _remove_temporary_files(run: Path) -> None:
    for leftover in (*run.glob(f"{TEMPORARY_PREFIX}*"), *run.glob(f"backup/{TEMPORARY_PREFIX}*")):
        leftover.unlink(missing_ok=True)


def _callbacks(
    run: Path,
    chief: bool,
    sample_patches: PatchSet,
    options: TrainOptions,
    extra: tuple,
    verbose: int,
) -> list:
    callbacks = [StopOnNonFinite(), *extra]
    if chief:
        callbacks += [
            EpochLine(run, options.data, verbose),
            GeneratorExport(run),
            HistoryCSV(run / HISTORY),
            *tensorboard_callbacks(run, sample_patches, options.samples, BAND_SETS[options.bands]),
        ]
    # last: an epoch counts as done (and is not redone on resume) only once all of its outputs are
    # written
    return callbacks + [RunBackup(run / BACKUP, chief)]


def _write_config(
    run: Path, options: TrainOptions, train_set: PatchSet, val_set: PatchSet | None
) -> None:
    config = {
        "options": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(options).items()
        },
        "train_pairs": list(train_set.pairs),
        "val_pairs": list(val_set.pairs) if val_set else [],
        "patches": {"train": len(train_set), "val": len(val_set) if val_set else 0},
        "versions": package_versions(),
        "written": utc_timestamp(),
        "data_order": DATA_ORDER,
    }
    write_text_atomically(run / CONFIG, json.dumps(config, indent=1) + "\n")


def package_versions() -> dict[str, str]:
    """The versions of crmss and of the packages its results depend on."""
    from osgeo import gdal

    return {
        "crmss": __version__,
        **backend_versions(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "gdal": gdal.__version__,
        "python": platform.python_version(),
    }


def step_seconds(options: TrainOptions, steps: int = 3) -> tuple[float, float]:
    """Seconds of the first (traced) training step of ``options`` on this machine and of one
    step after it (the mean of ``steps``), on random patches of 256 px (128 px at 20 m)."""
    previous = keras.mixed_precision.dtype_policy()
    try:
        if options.mixed_precision:
            keras.mixed_precision.set_global_policy(training_policy())
        gan = build_gan(options)
        rng = np.random.default_rng(0)
        sides = {"10m": (256, 4), "20m": (128, 6)}
        stacks = [
            rng.random((options.batch_size, sides[s][0], sides[s][0], sides[s][1]), np.float32)
            for s in BAND_SETS[options.bands]
        ]
        start = time.perf_counter()
        gan.train_on_batch(tuple(stacks), tuple(stacks))
        first, start = time.perf_counter() - start, time.perf_counter()
        for _ in range(steps):
            gan.train_on_batch(tuple(stacks), tuple(stacks))
        return first, (time.perf_counter() - start) / steps
    finally:
        keras.mixed_precision.set_global_policy(previous)
