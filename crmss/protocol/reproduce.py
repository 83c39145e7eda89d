"""``crmss reproduce``: the paper's protocol in one resumable command.

Stages, each into its own place under ``--out`` and each skipped when done: [a synthetic
WHUS2-CR in products/] -> prepare (the published split) into data/ -> train CR-MSS into
runs/crmss -> train the Vis/NIR ablation into runs/crmss_visnir -> simulate the testing set
into simulated/ -> evaluate both models (best validation checkpoints) with the classical
methods on the real and the simulated testing set into results/real and results/simulated ->
the merged tables and the learning curves into tables/.

``reproduce.json`` records the options, the package versions, the plan (each stage's time
estimated on this machine from a few timed steps of the real stages at a small size), and per
stage its options, state (running, done), timings, a summary of what it produced and the
SHA-256 of its record files. A stage that is not done is run again: prepare and training
continue where they stopped, the others start afresh (their outputs are whole or absent);
once a stage runs, every later one runs too. A run continues only with the options it was
made with, apart from :attr:`ReproduceOptions.FREE`. The stages are in
crmss/protocol/stages.py, the plan in crmss/protocol/plan.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.errors import InputError
from ..core.files import file_sha256, output_folder, utc_timestamp, write_text_atomically
from ..core.options import ReproduceOptions
from ..core.schemas import NUMBER, STRING, read_json, record
from ..core.validation import argument, damaged, json_schema, refuse_other_options
from .plan import measure_plan, show_plan
from .stages import Stage, plan_stages, remove_output

logger = logging.getLogger(__name__)

RECORD = "reproduce.json"


#: stage options that do not change what a stage produces
UNCHANGING = ("progress", "strategy", "samples", "cache", "workers")


STAGE_RECORD = record(
    {"state": {"enum": ["running", "done"]}, "options": {"type": "object"}, "started": STRING},
    {
        "finished": STRING,
        "seconds": NUMBER,
        "summary": {"type": "object"},
        "records": {
            "type": "object",
            "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
    },
)


#: DIR/reproduce.json
REPRODUCE = record(
    {
        "crmss": STRING,
        "versions": {"type": "object", "additionalProperties": STRING},
        "plan": {"type": "object", "additionalProperties": NUMBER},
        "stages": {"type": "object", "additionalProperties": STAGE_RECORD},
        "options": json_schema(ReproduceOptions),
    }
)


def reproduce(options: ReproduceOptions) -> dict:
    """Run (or continue) the paper's protocol as resumable stages (``crmss reproduce``).

    Args:
        options: the products (or a synthetic data set), the output folder, the training
            recipe and the stages' options (the fields of ``crmss reproduce``); with
            ``plan_only`` the plan is printed and nothing written.

    Returns:
        The content of ``out/reproduce.json``: each stage, its outputs and times.

    Raises:
        InputError: bad input, or options that contradict an earlier run into ``out``.
    """
    out = Path(options.out)
    stages = plan_stages(options)
    _check_folder(out)
    if options.plan_only:
        record = _read_record(out)
        _check_continuation(options, record)
        plan = record["plan"] if record else measure_plan(options)
        show_plan(plan, stages, record)
        return record or {"plan": plan}
    with output_folder(out, "reproduce", "the protocol"):
        record = _read_record(out)
        _check_continuation(options, record)
        if record is None:
            record = {
                "crmss": __version__,
                "versions": _versions(),
                "plan": measure_plan(options),
                "stages": {},
            }
        record["options"] = _as_json(options)
        show_plan(record["plan"], stages, record)
        rerun = False
        for stage in stages:
            entry, stage_options = record["stages"].get(stage.name), stage.make()
            if (
                not rerun
                and entry
                and entry["state"] == "done"
                and _same(entry["options"], _as_json(stage_options))
            ):
                logger.info(f"{stage.name}: done earlier ({entry['seconds']:.0f} s), skipped")
                continue
            rerun = True
            _run_stage(out, record, stage, stage_options)
        logger.info(
            f"reproduce: done; tables in {out / 'tables' / 'report.md'}, the record in "
            f"{out / RECORD}"
        )
        return record


def _run_stage(out: Path, record: dict, stage: Stage, options) -> None:
    entry: dict[str, Any] = {
        "state": "running",
        "options": _as_json(options),
        "started": utc_timestamp(),
    }
    record["stages"][stage.name] = entry
    _write_record(out, record)
    if not stage.resumes:
        remove_output(stage.output)
    logger.info(f"{stage.name}: into {stage.output}")
    start = time.perf_counter()
    summary = stage.run(options)
    entry.update(
        state="done",
        finished=utc_timestamp(),
        seconds=round(time.perf_counter() - start, 1),
        summary=summary,
    )
    entry["records"] = {name: file_sha256(stage.output / name) for name in stage.records}
    _write_record(out, record)


def _read_record(out: Path) -> dict | None:
    path = out / RECORD
    return read_json(path, REPRODUCE, damaged("reproduce")) if path.exists() else None


def _write_record(out: Path, record: dict) -> None:
    write_text_atomically(out / RECORD, json.dumps(record, indent=1) + "\n")


def _check_folder(out: Path) -> None:
    """Refuse an ``out`` that holds files (other than hidden ones) but no reproduce.json: the
    stages replace their own folders in it, so it must be the protocol's own."""
    if out.exists() and not (out / RECORD).exists():
        if not out.is_dir() or any(not entry.name.startswith(".") for entry in out.iterdir()):
            raise InputError(
                f"{out}: exists and is not the folder of a 'crmss reproduce' (no "
                f"{RECORD}); choose a new {argument('out')}"
            )


def _check_continuation(options: ReproduceOptions, record: dict | None) -> None:
    """Refuse ``options`` where they contradict the options ``options.out`` was made with."""
    if record is not None:
        now, before = _as_json(options), record["options"]
        changed = {
            name: (now[name], before.get(name))
            for name in now
            if name not in ReproduceOptions.FREE and before.get(name) != now[name]
        }
        refuse_other_options(
            Path(options.out) / RECORD,
            changed,
            "Give them as they were to continue it",
            "reproduce",
        )


def _same(recorded: dict, current: dict) -> bool:
    """Whether a stage's recorded options are its current ones, apart from those that do not
    change its output."""
    return {k: v for k, v in recorded.items() if k not in UNCHANGING} == {
        k: v for k, v in current.items() if k not in UNCHANGING
    }


def _as_json(options: Any) -> dict:
    """Options as JSON values: paths as absolute text, tuples as lists, nested options as
    objects."""
    if isinstance(options, dict):
        return options
    return json.loads(
        json.dumps(dataclasses.asdict(options), default=lambda v: str(Path(v).resolve()))
    )


def _versions() -> dict[str, str]:
    from ..nn.training import package_versions

    return package_versions()
