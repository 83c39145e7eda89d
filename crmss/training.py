"""``train.py`` / ``crmss train``: train CR-MSS on a prepared tree, resumable.

The run folder RUN holds ``config.json`` (options, package versions, seed), ``backup/`` (both
networks, both optimisers and the epoch, written at the end of every epoch), ``logs/``
(TensorBoard scalars and sample images), ``history.csv``, ``generator.keras`` (after every
epoch) and ``generator_best.keras`` (best validation PSNR). Running again on the same RUN
continues to the requested total of epochs, after a kill or after a finished run given a larger
``--epochs``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import __version__
from .bands import BAND_SETS
from .data import PatchSet, load_patches, make_dataset, merge, patch_errors
from .errors import CrmssError, InputError, TrainingDiverged, disk_full_error, is_disk_full
from .files import TEMPORARY_PREFIX, replaced_atomically, utc_timestamp, write_text_atomically
from .gan import CRMSSGAN
from .model import build_discriminator, build_generator, run_generator
from .options import TrainOptions
from .precision import training_policy


class CyclicDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The learning-rate schedule of the group's WHUS2-CRv training code (``decay`` there).

    ``base`` for the first ``constant_steps``; after that, in cycle n = 0, 1, ... (each
    ``cycle_steps`` long) at step s within the cycle: base x 0.96^n x 0.98^floor(s / 100).
    """

    def __init__(self, base: float, constant_steps: int = 100_000, cycle_steps: int = 100_000):
        self.base, self.constant_steps, self.cycle_steps = base, constant_steps, cycle_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        after = tf.maximum(step - self.constant_steps, 0.0)
        cycle = tf.floor(after / self.cycle_steps)
        within = after - cycle * self.cycle_steps
        decayed = self.base * tf.pow(0.96, cycle) * tf.pow(0.98, tf.floor(within / 100.0))
        return tf.where(step < self.constant_steps, tf.constant(self.base, tf.float32), decayed)

    def get_config(self):
        return {"base": self.base, "constant_steps": self.constant_steps, "cycle_steps": self.cycle_steps}


def resolve_options(given: dict) -> TrainOptions:
    """Options of this run: the defaults, then RUN/config.json if it exists, then ``given``.

    ``given`` holds only what the user said. Saying something that contradicts the run's
    config.json (other than the free options) raises InputError.
    """
    run = Path(given["out"])
    config = run / "config.json"
    base = {}
    if config.exists():
        try:
            base = json.loads(config.read_text())["options"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{config}: unreadable ({exc}); train into a new --out folder") from exc
        clashes = [
            f"{as_typed(name, value)} (the run has {as_typed(name, base[name]) if name in FLAGS else base[name]})"
            for name, value in given.items()
            if name not in TrainOptions.FREE and name in base and base[name] != value
        ]
        if clashes:
            raise InputError(
                f"{config}: this run was made with other options: {'; '.join(clashes)}. Leave these options out to "
                "continue the run, or train into a new --out folder"
            )
    elif (run / "backup").exists():
        raise InputError(f"{run}: holds a training backup but no config.json; train into a new --out folder")
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    options = TrainOptions(**{**{k: v for k, v in base.items() if k in fields}, **given})
    if options.bands not in BAND_SETS:
        raise InputError(
            f"{config}: bands {options.bands!r} is none of {', '.join(BAND_SETS)}; this config.json was not written by "
            "crmss: train into a new --out folder"
        )
    return options


#: flags whose value is said by their presence: option name -> (flag when True, flag when False)
FLAGS = {
    "augment": ("augmentation (no --no-augment)", "--no-augment"),
    "mixed_precision": ("--mixed-precision", "no --mixed-precision"),
    "cache": ("--cache", "no --cache"),
}


def as_typed(name: str, value) -> str:
    """An option as a user types it: ``--lr 0.001``, ``--no-augment``."""
    if name in FLAGS:
        return FLAGS[name][0] if value else FLAGS[name][1]
    return f"--{name.replace('_', '-')} {value}"


def make_strategy(name: str) -> tf.distribute.Strategy:
    """default: one device; mirrored: all local GPUs (or the CPU); multiworker: from TF_CONFIG."""
    if name == "mirrored":  # every GPU, or every logical CPU device where there is no GPU
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise InputError("--strategy multiworker needs the TF_CONFIG environment variable (cluster and task) on every worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def split_pairs(sets: dict[str, PatchSet], val_pairs: int | None, log) -> tuple[PatchSet, PatchSet | None]:
    """Training and validation patches: the last ``val_pairs`` pairs (whole) validate."""
    keys = list(sets)
    count = (1 if len(keys) >= 2 else 0) if val_pairs is None else val_pairs
    if count >= len(keys):
        raise InputError(f"--val-pairs {count} leaves no training pair ({len(keys)} prepared training pairs)")
    if count == 0:
        log("warning: no validation pairs (one training pair only, or --val-pairs 0); generator_best.keras is not written")
        return merge([sets[k] for k in keys]), None
    return merge([sets[k] for k in keys[:-count]]), merge([sets[k] for k in keys[-count:]])


def build_gan(options: TrainOptions) -> CRMSSGAN:
    """Generator, critic and their Adam optimisers, compiled (inside the strategy's scope)."""
    gan = CRMSSGAN(build_generator(options.width, bands=options.bands), build_discriminator(options.width, bands=options.bands))

    def adam():
        lr = CyclicDecay(options.lr) if options.lr_schedule == "cyclic" else options.lr
        optimizer = keras.optimizers.Adam(lr, beta_1=options.beta1, beta_2=options.beta2)
        return keras.optimizers.LossScaleOptimizer(optimizer) if options.mixed_precision and _float16() else optimizer

    gan.compile(d_optimizer=adam(), g_optimizer=adam(), loss_weights=options.loss_weights())
    return gan


def _float16() -> bool:
    return keras.mixed_precision.dtype_policy().compute_dtype == "float16"


def train(options: TrainOptions, log=print, verbose: int | str = "auto", callbacks: tuple = ()) -> CRMSSGAN | None:
    """Train (or continue) the run ``options.out``; return the trained model (None when the run
    already has ``options.epochs`` epochs: then nothing in RUN is touched). ``callbacks``: more
    Keras callbacks (early stopping, a notebook's own logging), called before the epoch's
    backup is written."""
    strategy = make_strategy(options.strategy)  # first: multi-worker set-up precedes other TF work
    run = Path(options.out)
    chief = is_chief(strategy)
    sets = load_patches(options.data, "train")
    train_set, val_set = split_pairs(sets, options.val_pairs, log)
    done = completed_epochs(run)
    if done >= options.epochs:
        log(f"{run} is already trained to {done} epochs; give a larger --epochs to train further")
        return None
    created = not run.exists()
    try:
        run.mkdir(parents=True, exist_ok=True)
        if chief:
            _write_config(run, options, train_set, val_set)
            trim_history(run / "history.csv", done)
    except OSError as exc:
        if is_disk_full(exc, run.parent):
            raise disk_full_error(run.parent, None, "a run folder", "run the same command again") from exc
        raise InputError(f"{run}: cannot create the run folder ({exc.strerror}); choose another --out") from exc

    keras.utils.set_random_seed(options.seed + done)  # a resumed run does not replay epoch 1's order
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy(training_policy())
        log(f"mixed precision: Keras policy {keras.mixed_precision.dtype_policy().name}")
    steps = options.steps_per_epoch
    whole = strategy.num_replicas_in_sync > 1  # whole batches only: a short one would leave a replica empty
    if whole and options.batch_size % strategy.num_replicas_in_sync:
        raise InputError(f"--batch-size {options.batch_size} must be a multiple of the {strategy.num_replicas_in_sync} replicas")
    stacks = BAND_SETS[options.bands]
    train_data = make_dataset(
        train_set,
        options.batch_size,
        augmentation=options.augment,
        cache=options.cache,
        repeat=steps is not None,
        drop_remainder=whole,
        seed=options.seed + done,
        stacks=stacks,
    )
    val_data = None
    if val_set:
        val_data = make_dataset(val_set, options.batch_size, shuffle=False, augmentation=False, cache=True, drop_remainder=whole, stacks=stacks)
    with strategy.scope():
        gan = build_gan(options)
    space = EnoughSpace(run, checkpoint_bytes(gan))
    try:
        with patch_errors():
            space.check()  # before the first epoch: not after hours of training
            callbacks = [space, *_callbacks(run, chief, val_set or train_set, options, callbacks)]
            if options.strategy == "multiworker":
                full_pass = len(train_set) // options.batch_size if whole else math.ceil(len(train_set) / options.batch_size)
                _fit_multiworker(gan, strategy, train_data, val_data, options.epochs, steps or full_pass, callbacks, log)
            else:
                gan.fit(
                    train_data,
                    epochs=options.epochs,
                    steps_per_epoch=steps,
                    validation_data=val_data,
                    callbacks=callbacks,
                    verbose=verbose,
                    shuffle=False,
                )  # the dataset shuffles itself
    except (OSError, RuntimeError, tf.errors.OpError) as exc:
        _remove_temporary_files(run)
        if is_disk_full(exc, run):
            raise space.error() from exc
        raise
    except CrmssError:  # bad data, no space, a diverged loss
        _remove_temporary_files(run)
        if created and completed_epochs(run) == 0:  # bad data or no space before the first epoch was saved:
            shutil.rmtree(run, ignore_errors=True)  # no run folder left behind
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
    kept = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) < epochs]
    if kept != lines:
        write_text_atomically(history, "".join(kept))


def _remove_temporary_files(run: Path) -> None:
    for leftover in (*run.glob(f"{TEMPORARY_PREFIX}*"), *run.glob(f"backup/{TEMPORARY_PREFIX}*")):
        leftover.unlink(missing_ok=True)


def completed_epochs(run: Path) -> int:
    """Epochs recorded in RUN's backup (0 for a new run)."""
    metadata = run / "backup" / "training_metadata.json"
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


class EnoughSpace(keras.callbacks.Callback):
    """Before an epoch's checkpoints are written, check that they fit on RUN's disk: a full disk
    is then one clear message, before any file is half-written (HDF5, failing half-way through
    the backup, leaves a file that crashes the process at exit)."""

    def __init__(self, run: Path, needed: int):
        super().__init__()
        self.run, self.needed = run, needed

    def check(self) -> None:
        if shutil.disk_usage(self.run).free < self.needed:
            raise self.error()

    def error(self) -> InputError:
        """The message for a disk without room for an epoch's checkpoints."""
        return disk_full_error(
            self.run, self.needed, "one epoch's checkpoints", "run the same command again: it continues after the last complete epoch"
        )

    def on_epoch_end(self, epoch, logs=None):
        self.check()


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, before that epoch's checkpoint is written."""

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                raise TrainingDiverged(
                    f"training diverged: {name} is {float(value)} at step {batch + 1} of this epoch; the checkpoints "
                    "of the last complete epoch are kept. Lower --lr (or leave out --mixed-precision) and run again in a new --out folder"
                )


class ChiefBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore where every worker restores but only the chief writes, and writes
    atomically: the weights (both networks and optimisers) to a temporary file renamed into
    place, then the epoch. Keras writes the backup in place, so a kill or a full disk during
    the write left a file that the next run could not load."""

    def __init__(self, backup_dir, chief: bool):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.chief = chief

    # BackupAndRestore has no public hook for how the backup is written: overriding its private
    # _save_model (the method its on_epoch_end calls) is the one way to write it atomically
    def _save_model(self):
        if not self.chief:
            return
        weights = Path(self._weights_path)
        weights.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(weights) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        write_text_atomically(Path(self._training_metadata_path), json.dumps(metadata))


class GeneratorExport(keras.callbacks.Callback):
    """RUN/generator.keras after every epoch; RUN/generator_best.keras at the best val_psnr."""

    def __init__(self, run: Path):
        super().__init__()
        self.run = run
        self.best_file = run / "best.json"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        _save_atomically(self.model.generator, self.run / "generator.keras")
        if "val_psnr" in logs:
            best = json.loads(self.best_file.read_text())["val_psnr"] if self.best_file.exists() else -math.inf
            if float(logs["val_psnr"]) > best:
                _save_atomically(self.model.generator, self.run / "generator_best.keras")
                record = {"epoch": epoch + 1, "val_psnr": float(logs["val_psnr"]), "val_cloudy_psnr": float(logs.get("val_cloudy_psnr", "nan"))}
                write_text_atomically(self.best_file, json.dumps(record, indent=1) + "\n")


class SampleImages(keras.callbacks.Callback):
    """TensorBoard images after every epoch: cloudy | generated | clear in true colour."""

    def __init__(self, log_dir: Path, patches: PatchSet, count: int, stacks: tuple[str, ...]):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir / "samples"))
        self.cloudy, (self.y10, *_) = next(iter(make_dataset(patches, max(count, 1), shuffle=False, augmentation=False, stacks=stacks)))
        self.count = count

    def on_epoch_end(self, epoch, logs=None):
        if not self.count:
            return
        generated = run_generator(self.model.generator, self.cloudy)[0]

        def rgb(stack):  # B04, B03, B02, reflectance x 3.5 clipped: a fixed stretch for all epochs
            return tf.clip_by_value(tf.gather(tf.cast(stack, tf.float32), [2, 1, 0], axis=-1) * 3.5, 0, 1)

        rows = tf.concat([rgb(self.cloudy[0]), rgb(generated), rgb(self.y10)], axis=2)
        with self.writer.as_default():
            tf.summary.image("cloudy | generated | clear", rows, step=epoch + 1, max_outputs=self.count)


def _callbacks(run: Path, chief: bool, sample_patches: PatchSet, options: TrainOptions, extra: tuple) -> list:
    callbacks = [StopOnNonFinite(), *extra]
    if chief:
        callbacks += [
            GeneratorExport(run),
            keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run / "logs"), update_freq="epoch"),
            SampleImages(run / "logs", sample_patches, options.samples, BAND_SETS[options.bands]),
        ]
    # last: an epoch counts as done (and is not redone on resume) only once all of its outputs are written
    return callbacks + [ChiefBackupAndRestore(str(run / "backup"), chief)]


def _fit_multiworker(gan, strategy, train_data, val_data, epochs, steps, callbacks, log):
    """The training loop under MultiWorkerMirroredStrategy, calling the same train_step.

    Keras 3's ``fit`` fails under this strategy (keras-team/keras#20585), so the loop is
    written out: distributed batches, ``strategy.run(train_step)``, and the same callbacks.
    """
    distributed = strategy.experimental_distribute_dataset(train_data.repeat())
    iterator = iter(distributed)

    def reduce(logs):
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}

    @tf.function
    def train_step():
        return reduce(strategy.run(gan.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(batch):
        return reduce(strategy.run(gan.test_step, args=(batch,)))

    callback_list = keras.callbacks.CallbackList(callbacks, model=gan, epochs=epochs, steps=steps, verbose=0)
    callback_list.on_train_begin()
    # BackupAndRestore's on_train_begin restores the backup and says where to resume only by
    # setting the model's private _initial_epoch (what fit reads too): Keras has no public way
    for epoch in range(gan._initial_epoch or 0, epochs):
        log(f"Epoch {epoch + 1}/{epochs}")
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
        log(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end()


def _write_config(run: Path, options: TrainOptions, train_set: PatchSet, val_set: PatchSet | None) -> None:
    from osgeo import gdal

    config = {
        "options": dataclasses.asdict(options),
        "train_pairs": list(train_set.pairs),
        "val_pairs": list(val_set.pairs) if val_set else [],
        "patches": {"train": len(train_set), "val": len(val_set) if val_set else 0},
        "versions": {
            "crmss": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "gdal": gdal.__version__,
            "python": platform.python_version(),
        },
        "written": utc_timestamp(),
    }
    write_text_atomically(run / "config.json", json.dumps(config, indent=1) + "\n")


def _save_atomically(model: keras.Model, path: Path) -> None:
    with replaced_atomically(path) as tmp:
        model.save(tmp)
