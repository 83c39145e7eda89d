"""The callbacks of a training run: what ``fit`` does at each step and epoch besides learning.

Checks (a full disk before the checkpoints, a diverged loss), the run's records (the backup,
``generator.keras`` and ``generator_best.keras``, ``history.csv``, TensorBoard sample images)
and what a user reads: one short line per epoch (:class:`EpochLine`) and a closing summary.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from ..core.bands import BANDS_10M, BANDS_20M
from ..core.console import progress_bar
from ..core.errors import InputError, TrainingDiverged, disk_full_error
from ..core.files import replaced_atomically, write_text_atomically
from ..core.options import EvaluateOptions
from ..core.validation import argument, invocation
from ..dataset.tree import PatchSet
from .backends import on_tensorflow
from .model import run_generator
from .pipeline import make_dataset
from .runs import BACKUP_METADATA_FILE, BEST_FILE, HISTORY, best_psnr, read_best

logger = logging.getLogger(__name__)


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
            self.run,
            self.needed,
            "one epoch's checkpoints",
            "run the same command again: it continues after the last complete epoch",
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.check()


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, before that epoch's checkpoint is written."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                raise TrainingDiverged(
                    f"training diverged: {name} is {float(value)} at step {batch + 1} of this "
                    "epoch; the checkpoints "
                    f"of the last complete epoch are kept. Lower {argument('lr')} (or without "
                    f"{argument('mixed_precision', True)}) and "
                    f"run again in a new {argument('out')} folder"
                )


class RunBackup(keras.callbacks.Callback):
    """RUN/backup: both networks and both optimisers, then the epoch, after every epoch; loaded
    back when training starts (every worker loads it, the chief alone writes it).

    Each file is written to a temporary name and renamed into place, so a kill or a full disk
    during the write leaves the previous epoch's backup whole. The files are those of Keras's
    BackupAndRestore (``latest.weights.h5``, ``training_metadata.json``), so runs it wrote
    continue; it is not used because it writes in place and tells ``fit`` where to resume
    only through the model's private ``_initial_epoch``: crmss passes ``initial_epoch`` to
    ``fit`` itself (:func:`crmss.nn.runs.completed_epochs`).
    """

    WEIGHTS = "latest.weights.h5"

    def __init__(self, folder: Path, chief: bool):
        super().__init__()
        self.folder, self.chief = Path(folder), chief

    def on_train_begin(self, logs: dict | None = None) -> None:
        if (self.folder / self.WEIGHTS).exists():
            optimizer = self.model.optimizer
            # its moments must exist to be loaded (the GAN builds both in compile)
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            self.model.load_weights(self.folder / self.WEIGHTS)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.chief:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(self.folder / self.WEIGHTS) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        write_text_atomically(
            self.folder / BACKUP_METADATA_FILE, json.dumps({"epoch": epoch + 1, "batch": 0})
        )


class GeneratorExport(keras.callbacks.Callback):
    """RUN/generator.keras after every epoch; RUN/generator_best.keras at the best val_psnr."""

    def __init__(self, run: Path):
        super().__init__()
        self.run = run
        self.best_file = run / BEST_FILE

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        save_atomically(self.model.generator, self.run / "generator.keras")
        if "val_psnr" in logs:
            best = best_psnr(self.run)
            if best is None or float(logs["val_psnr"]) > best:
                save_atomically(self.model.generator, self.run / "generator_best.keras")
                cloudy = float(logs.get("val_cloudy_psnr", math.nan))
                record = {
                    "epoch": epoch + 1,
                    "val_psnr": float(logs["val_psnr"]),
                    "val_cloudy_psnr": cloudy if math.isfinite(cloudy) else None,
                }
                write_text_atomically(self.best_file, json.dumps(record, indent=1) + "\n")


class HistoryCSV(keras.callbacks.Callback):
    """RUN/history.csv: one row per epoch, ``epoch`` (from 0) and the logs by name, in Keras's
    CSVLogger layout, rewritten whole and atomically after every epoch.

    Its columns are the union over the rows: a run continued by a crmss that logs more (the
    per-band PSNR) keeps its earlier rows aligned under the header, their new cells empty.
    Keras's CSVLogger appends rows in its own column order under the old header instead."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        rows = []
        if self.path.exists():
            with self.path.open(newline="") as handle:
                # rows checked by check_history
                rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) < epoch]
        rows.append(
            {"epoch": epoch, **{name: float(value) for name, value in (logs or {}).items()}}
        )
        columns = ["epoch", *sorted({name for row in rows for name in row} - {"epoch"})]
        with replaced_atomically(self.path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)


class SampleImages(keras.callbacks.Callback):
    """TensorBoard images after every epoch: cloudy | generated | clear in true colour.

    TensorBoard's event files are written by TensorFlow's summary writer, also on the other
    backends, where TensorFlow is installed (see :func:`tensorboard_callbacks`)."""

    def __init__(self, log_dir: Path, patches: PatchSet, count: int, stacks: tuple[str, ...]):
        import tensorflow as tf

        super().__init__()
        self.summary = tf.summary
        self.writer = tf.summary.create_file_writer(str(log_dir / "samples"))
        cloudy, (y10, *_) = next(
            iter(
                make_dataset(
                    patches, max(count, 1), shuffle=False, augmentation=False, stacks=stacks
                )
            )
        )
        self.cloudy, self.y10 = [np.asarray(x) for x in cloudy], np.asarray(y10)
        self.count = count

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.count:
            return
        generated = np.asarray(run_generator(self.model.generator, self.cloudy)[0], np.float32)

        def rgb(stack):  # B04, B03, B02, reflectance x 3.5 clipped: a fixed stretch for all epochs
            return np.clip(stack[..., [2, 1, 0]] * 3.5, 0, 1)

        rows = np.concatenate([rgb(self.cloudy[0]), rgb(generated), rgb(self.y10)], axis=2)
        with self.writer.as_default():
            self.summary.image(
                "cloudy | generated | clear", rows, step=epoch + 1, max_outputs=self.count
            )


def tensorboard_callbacks(
    run: Path, patches: PatchSet, samples: int, stacks: tuple[str, ...]
) -> list[keras.callbacks.Callback]:
    """Keras's TensorBoard scalars and :class:`SampleImages` in ``run/logs``; none where
    TensorFlow, which writes TensorBoard's files, is not installed (a JAX machine without it:
    history.csv still holds every scalar)."""
    try:
        import tensorflow as tf
    except ImportError:
        logger.info("no TensorBoard logs: TensorFlow is not installed (history.csv has them)")
        return []
    if not on_tensorflow():  # TensorFlow writes files only: the GPUs are the backend's
        with contextlib.suppress(RuntimeError):  # its devices started earlier in the process
            tf.config.set_visible_devices([], "GPU")
    return [
        keras.callbacks.TensorBoard(str(run / "logs"), update_freq="epoch"),
        SampleImages(run / "logs", patches, samples, stacks),
    ]


def save_atomically(model: keras.Model, path: Path) -> None:
    """Save ``model`` to ``path`` (a ``.keras`` file) whole or not at all."""
    with replaced_atomically(path) as tmp:
        model.save(tmp)


class EpochLine(keras.callbacks.Callback):
    """What a user reads while training: one short line per epoch, and a summary at the end.

    The line (printed to stdout, as Keras prints its own; ``verbose`` 0 prints nothing)::

        Epoch 3/10  g 4.21  d 0.24  val PSNR 10 m 31.2 dB (input 28.4)  20 m 29.8 dB (input 27.9)
        best  41 s

    the generator's and the critic's losses, the validation PSNR (mean of the bands' PSNR, dB)
    at 10 m and 20 m beside the cloudy input's, ``best`` where the epoch set a new best
    validation PSNR, the epoch's time. The per-band values are in history.csv and TensorBoard
    only. With ``verbose`` 1 a progress bar of the epoch's steps is drawn on a terminal. The
    summary (crmss's logger) names the best epoch, where the generators are and how to evaluate
    them."""

    def __init__(self, run: Path, data: str | Path, verbose: int):
        super().__init__()
        self.run, self.data, self.verbose = run, data, verbose
        self.best = best_psnr(run)
        self.bar, self.started = None, 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()
        steps = self.params.get("steps")
        self.bar = progress_bar(
            self.verbose == 1,
            total=steps,
            desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
            unit="step",
            leave=False,
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
        logs = logs or {}
        improved = "val_psnr" in logs and (self.best is None or float(logs["val_psnr"]) > self.best)
        if improved:
            self.best = float(logs["val_psnr"])
        if self.verbose:
            print(
                epoch_line(
                    epoch + 1,
                    self.params.get("epochs"),
                    logs,
                    improved,
                    time.perf_counter() - self.started,
                ),
                file=sys.stdout,
                flush=True,
            )

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.verbose:
            logger.info(training_summary(self.run, self.data))


def epoch_line(epoch: int, epochs: int | None, logs: dict, best: bool, seconds: float) -> str:
    """One epoch as :class:`EpochLine` prints it, from Keras's ``logs`` of the epoch."""
    parts = [
        f"Epoch {epoch}/{epochs}",
        f"g {float(logs.get('g_loss', math.nan)):.3g}",
        f"d {float(logs.get('d_loss', math.nan)):.3g}",
    ]
    validation = validation_psnr(logs)
    if validation:
        parts.append(validation)
    if best:
        parts.append("best")
    parts.append(f"{seconds:.0f} s")
    return "  ".join(parts)


def validation_psnr(logs: dict) -> str:
    """``val PSNR 10 m 31.2 dB (input 28.4)  20 m 29.8 dB (input 27.9)`` from an epoch's logs (or
    its history.csv row): each stack's mean of its bands' PSNR; empty without validation."""
    stacks = []
    for label, bands in (("10 m", BANDS_10M), ("20 m", BANDS_20M)):
        ours, cloudy = (
            _mean(logs, [f"val_{kind}_{band}" for band in bands])
            for kind in ("psnr", "cloudy_psnr")
        )
        if ours is not None:
            stacks.append(
                f"{label} {ours:.1f} dB" + (f" (input {cloudy:.1f})" if cloudy is not None else "")
            )
    return "val PSNR " + "  ".join(stacks) if stacks else ""


def _mean(logs: dict, names: list[str]) -> float | None:
    """The mean of the ``logs`` values of ``names``, None where any is absent (no validation, a
    stack not trained)."""
    values = [float(logs[name]) for name in names if logs.get(name) not in (None, "")]
    return float(np.mean(values)) if values and len(values) == len(names) else None


def training_summary(run: Path, data: str | Path) -> str:
    """The closing words of a run: its best epoch, where the generators are, how to evaluate
    them."""
    best = read_best(run)
    where = f"the generator of the last epoch: {run / 'generator.keras'}"
    if not best:
        return (
            f"training done; {where} (no validation pairs: no best epoch). Evaluate it: "
            f"{_evaluation(data, run, 'last')}"
        )
    row = _history_row(run / HISTORY, int(best["epoch"]) - 1)
    scores = validation_psnr(row) if row else f"val PSNR {best['val_psnr']:.1f} dB"
    return (
        f"training done; best epoch {best['epoch']} ({scores}): {run / 'generator_best.keras'}; "
        f"{where}. "
        f"Evaluate the best: {_evaluation(data, run, 'best')}"
    )


def _evaluation(data: str | Path, run: Path, checkpoint: str) -> str:
    """How to evaluate the ``checkpoint`` of ``run`` on ``data``."""
    chosen = {"checkpoint": checkpoint} if checkpoint != "last" else {}
    return invocation("test", EvaluateOptions, data=data, models=(run,), **chosen, out="RESULTS")


def _history_row(history: Path, epoch: int) -> dict | None:
    """The row of ``epoch`` (from 0) in a run's history.csv, None where there is none."""
    if not history.exists():
        return None
    with history.open(newline="") as handle:
        return next((row for row in csv.DictReader(handle) if row.get("epoch") == str(epoch)), None)
