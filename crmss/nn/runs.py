"""A training run folder's records and the rules of continuing a run, without TensorFlow.

RUN/config.json holds the options a run was made with (a :class:`TrainOptions` as JSON), the
pairs, the package versions; RUN/best.json the epoch of the best validation PSNR;
RUN/backup/training_metadata.json the last complete epoch. Each is read against its schema
(crmss/core/schemas.py). A run continues only with the options it was made with, apart from
``TrainOptions.FREE``: :func:`check_continuation` refuses the others, whoever calls ``train``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.options import TrainOptions
from ..core.schemas import BACKUP_METADATA, BEST, read_json, record
from ..core.validation import (
    argument,
    checked,
    command_line,
    damaged,
    json_schema,
    refuse_other_options,
)
from .backends import backend

logger = logging.getLogger(__name__)

CONFIG = "config.json"
BEST_FILE = "best.json"
HISTORY = "history.csv"
BACKUP = "backup"
#: RUN/backup/training_metadata.json: the last complete epoch
BACKUP_METADATA_FILE = "training_metadata.json"
#: RUN/config.json as ``train`` writes it
CONFIG_SCHEMA = record(
    {"options": json_schema(TrainOptions)},
    {
        "train_pairs": {"type": "array", "items": {"type": "string"}},
        "val_pairs": {"type": "array", "items": {"type": "string"}},
        "patches": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "written": {"type": "string"},
        "data_order": {"type": "integer", "minimum": 1},
    },
)
#: how epochs draw their patches and augmentations, as config.json records it: 1, TensorFlow's
#: stateless random ops (crmss before the JAX backend; runs without the field); 2, NumPy's PCG64
#: seeded by (seed, epoch) (crmss.nn.pipeline.epoch_draws), the same on every backend
DATA_ORDER = 2


def read_config(run: Path) -> dict | None:
    """RUN/config.json, schema-checked; None for a run not started yet."""
    path = Path(run) / CONFIG
    return read_json(path, CONFIG_SCHEMA, damaged("train")) if path.exists() else None


def run_options(**said: Any) -> TrainOptions:
    """The options to continue (or start) the run ``said["out"]``: its config.json's values for
    every option not said, then ``said`` (what the command line's user typed). Contradicting
    the run is refused later, by ``train`` itself (:func:`check_continuation`)."""
    out = said.get("out")
    config = read_config(Path(out)) if isinstance(out, (str, Path)) and out else None
    base = {k: v for k, v in (config or {}).get("options", {}).items() if k not in ("data", "out")}
    return TrainOptions(**{**base, **said})


def check_continuation(options: TrainOptions, config: dict | None) -> None:
    """Refuse ``options`` for the run ``options.out`` where they contradict its config.json
    (other than the free options), or where the run holds a backup without a config.json."""
    run = Path(options.out)
    if config is None:
        if (run / BACKUP).exists():
            raise InputError(
                f"{run}: holds a training backup but no config.json; train into a "
                f"new {argument('out')} folder"
            )
        return
    before, changed = config["options"], {}
    for field in dataclasses.fields(TrainOptions):
        if field.name not in TrainOptions.FREE:
            # an option newer than the run: the run was made with its default
            earlier, now = (
                checked(TrainOptions, field.name, before.get(field.name, field.default)),
                getattr(options, field.name),
            )
            if earlier != now:
                changed[field.name] = (now, earlier)
    keep = (
        "Leave these options out to continue the run"
        if command_line()
        else "Give the run's options to continue it (crmss.nn.training.run_options reads them)"
    )
    refuse_other_options(run / CONFIG, changed, keep, "train")


def note_changes(run: Path, config: dict | None) -> None:
    """Warn where a run about to train further began under other conditions: another Keras
    backend (the backup, weights and both optimisers' moments and counts, loads exactly, but
    the steps from here on round as the new backend does; docs/backends.md) or an older draw of
    the epochs (:data:`DATA_ORDER`: the epochs from here on read other patches in another order
    than they would have, so the run no longer ends where an uninterrupted one would)."""
    if config is None:
        return
    before = config.get("versions", {}).get("backend", "tensorflow")  # runs older than JAX's
    if before != backend():
        logger.warning(
            f"{run}: trained on Keras's {before} backend so far, continued on {backend()}: its "
            f"backup loads exactly, the steps from here on round as {backend()} does"
        )
    if config.get("data_order", 1) != DATA_ORDER:
        logger.warning(
            f"{run}: its epochs so far drew their patches as an older crmss did; the epochs "
            "from here on draw them anew, so the run will not end exactly where an "
            "uninterrupted one would"
        )


def completed_epochs(run: Path) -> int:
    """Epochs recorded in RUN's backup (0 for a new run)."""
    path = Path(run) / BACKUP / BACKUP_METADATA_FILE
    return int(read_json(path, BACKUP_METADATA, damaged("train"))["epoch"]) if path.exists() else 0


def read_best(run: Path) -> dict | None:
    """RUN/best.json: ``epoch``, ``val_psnr``, ``val_cloudy_psnr`` (None before the first
    validation)."""
    path = Path(run) / BEST_FILE
    return read_json(path, BEST, damaged("train")) if path.exists() else None


def best_psnr(run: Path) -> float | None:
    """The best validation PSNR recorded in RUN/best.json (None before the first validation)."""
    best = read_best(run)
    return float(best["val_psnr"]) if best else None


def check_history(run: Path) -> None:
    """RUN/history.csv as training writes it: the header ``epoch,...``, then one row per epoch
    starting with its number (0, 1, ...); InputError naming the line otherwise."""
    path = Path(run) / HISTORY
    if not path.exists():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); {damaged('train')}") from exc
    if lines and not lines[0].startswith("epoch,"):
        raise InputError(
            f"{path}, line 1: not the header 'epoch,...' that training writes; {damaged('train')}"
        )
    for number, line in enumerate(lines[1:], start=2):
        if not line.split(",", 1)[0].isdigit():
            raise InputError(
                f"{path}, line {number}: {line[:40]!r} does not start with an epoch "
                f"number; {damaged('train')}"
            )
