"""The plan of ``crmss reproduce``: each stage's time estimated on this machine, from the data
stages and an evaluation timed on one small synthetic pair and a few timed training steps,
scaled to the protocol's size; shown before the stages run and kept in reproduce.json.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.console import messages_held_back
from ..core.options import EvaluateOptions, PrepareOptions, ReproduceOptions, SimulateOptions
from ..core.validation import argument
from .stages import MODELS, TEST_SETS, Stage, patch_count, synthetic_pairs

logger = logging.getLogger(__name__)


#: the 10 m side of the small pair the plan times the data stages on
PLAN_SIZE = 768


def measure_plan(options: ReproduceOptions) -> dict[str, float]:
    """Each stage's estimated seconds on this machine: the data stages and the evaluation timed
    on one synthetic pair of PLAN_SIZE px (with freshly built generators), scaled by pixels and
    patches; training from a few timed steps of each model."""
    from ..dataset.prepare import prepare
    from ..dataset.simulate import simulate
    from ..dataset.splits import write_split
    from ..dataset.synthetic import write_set
    from ..dataset.tree import read_manifest
    from ..evaluation.evaluate import evaluate
    from ..nn.model import build_generator
    from ..nn.training import step_seconds

    whole = "" if options.synthetic else " (for the whole WHUS2-CR, 28 + 8 pairs of 10980 px)"
    logger.info(
        f"planning{whole}: timing each stage on a {PLAN_SIZE} px pair and a few training steps"
    )
    pairs = synthetic_pairs(options.synthetic or 28, options.test_pairs if options.synthetic else 8)
    side = options.size if options.synthetic else 10980
    with tempfile.TemporaryDirectory(prefix="crmss-plan-") as tmp, messages_held_back():
        root = Path(tmp)
        sample = [dataclasses.replace(pairs[-1], subset="test")]
        seconds = {}
        seconds["write"] = _timed(
            lambda: write_set(root / "products", sample, PLAN_SIZE, options.seed)
        )
        write_split(root / "split.csv", sample)
        seconds["prepare"] = _timed(
            lambda: prepare(
                PrepareOptions(
                    root / "products", root / "data", split=root / "split.csv", progress=False
                )
            )
        )
        kept = patch_count(read_manifest(root / "data" / "manifest.json"))
        seconds["simulate"] = _timed(
            lambda: simulate(SimulateOptions(root / "data", root / "sim", progress=False))
        )
        models = []
        for name, bands in MODELS.items():
            build_generator(options.width, bands=bands, head=options.head).save(
                root / f"{name}.keras"
            )
            models.append(f"{name}={root / (name + '.keras')}")
        evaluated = EvaluateOptions(
            root / "data", tuple(models), root / "results", figures=0, progress=False
        )
        seconds["evaluate"] = _timed(lambda: evaluate(evaluated))
        step = {
            name: step_seconds(options.train_options(bands, root / "data", root / name))
            for name, bands in MODELS.items()
        }
    # patches per pair, no-data windows dropped as in the sample
    windows = (side // 256) ** 2 * kept / (PLAN_SIZE // 256) ** 2
    scale = (side / PLAN_SIZE) ** 2
    train_pairs, test_pairs = (
        sum(p.subset == "train" for p in pairs),
        sum(p.subset == "test" for p in pairs),
    )
    plan = {}
    if options.synthetic:
        plan["synthetic"] = seconds["write"] * scale * len(pairs)
    plan["prepare"] = seconds["prepare"] * scale * len(pairs)
    steps = options.steps_per_epoch or math.ceil(windows * (train_pairs - 1) / options.batch_size)
    for name in MODELS:  # validation: a forward pass is about a third of a step
        first, each = step[name]
        plan[f"train {name}"] = first + options.epochs * (steps * each + windows * each / 3)
    plan["simulate"] = seconds["simulate"] * windows * test_pairs / max(kept, 1)
    for label in TEST_SETS:
        plan[f"evaluate {label}"] = seconds["evaluate"] * windows * test_pairs / max(kept, 1)
    # the classical methods on the validation pair
    plan["report"] = seconds["evaluate"] * windows / max(kept, 1) / 4
    return {name: round(value, 1) for name, value in plan.items()}


def _timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def show_plan(plan: dict, stages: list[Stage], record: dict | None) -> None:
    """Log the plan: each stage, its state (done) or estimated time, and where it writes."""
    done = {
        name for name, entry in (record or {}).get("stages", {}).items() if entry["state"] == "done"
    }
    logger.info(f"plan (estimated on this machine; training scales with {argument('epochs')}):")
    for stage in stages:
        state = "done" if stage.name in done else f"about {_duration(plan.get(stage.name, 0))}"
        logger.info(f"  {stage.name:<22} {state:<16} -> {stage.output}")
    todo = sum(plan.get(s.name, 0) for s in stages if s.name not in done)
    logger.info(f"  {'to do':<22} about {_duration(todo)}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
