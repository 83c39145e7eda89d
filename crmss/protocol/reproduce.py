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
made with, apart from :attr:`ReproduceOptions.FREE`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..core.console import messages_held_back
from ..core.errors import InputError
from ..core.files import file_sha256, output_folder, utc_timestamp, write_text_atomically
from ..core.options import Bands, CloudParameters, EvaluateOptions, PrepareOptions, ReportOptions, ReproduceOptions, SimulateOptions
from ..core.schemas import NUMBER, STRING, read_json, record
from ..core.validation import argument, damaged, json_schema, refuse_other_options

logger = logging.getLogger(__name__)

RECORD = "reproduce.json"
#: the models the protocol trains: name -> TrainOptions.bands
MODELS: dict[str, Bands] = {"crmss": "all", "crmss_visnir": "visnir"}
#: the testing sets: label -> folder under --out holding the prepared (or simulated) tree
TEST_SETS = {"real": "data", "simulated": "simulated"}
#: stage options that do not change what a stage produces
UNCHANGING = ("progress", "strategy", "samples", "cache", "workers")
#: the 10 m side of the small pair the plan times the data stages on
PLAN_SIZE = 768
STAGE_RECORD = record(
    {"state": {"enum": ["running", "done"]}, "options": {"type": "object"}, "started": STRING},
    {
        "finished": STRING,
        "seconds": NUMBER,
        "summary": {"type": "object"},
        "records": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
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


@dataclass
class Stage:
    """One step of the protocol: ``make`` gives its options (when the stage comes, as what it
    reads exists only then), ``run`` writes ``output`` with them (``records`` in it: relative
    paths whose SHA-256 the record keeps) and returns a summary for reproduce.json. A stage that
    ``resumes`` continues what a killed run of it left; any other starts afresh."""

    name: str
    output: Path
    make: Callable[[], Any]
    run: Callable[[Any], dict]
    records: tuple[str, ...] = ()
    resumes: bool = False


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
        _show_plan(plan, stages, record)
        return record or {"plan": plan}
    with output_folder(out, "reproduce", "the protocol"):
        record = _read_record(out)
        _check_continuation(options, record)
        if record is None:
            record = {"crmss": __version__, "versions": _versions(), "plan": measure_plan(options), "stages": {}}
        record["options"] = _as_json(options)
        _show_plan(record["plan"], stages, record)
        rerun = False
        for stage in stages:
            entry, stage_options = record["stages"].get(stage.name), stage.make()
            if not rerun and entry and entry["state"] == "done" and _same(entry["options"], _as_json(stage_options)):
                logger.info(f"{stage.name}: done earlier ({entry['seconds']:.0f} s), skipped")
                continue
            rerun = True
            _run_stage(out, record, stage, stage_options)
        logger.info(f"reproduce: done; tables in {out / 'tables' / 'report.md'}, the record in {out / RECORD}")
        return record


def plan_stages(options: ReproduceOptions) -> list[Stage]:
    """The protocol's stages for ``options``, in order."""
    from ..dataset.prepare import prepare
    from ..dataset.simulate import simulate
    from ..evaluation.evaluate import evaluate

    out, progress = Path(options.out), options.progress
    data, simulated = out / "data", out / "simulated"
    stages = []
    if options.synthetic:
        products, split = out / "products", out / "split.csv"
        wanted = {"pairs": options.synthetic, "test_pairs": options.test_pairs, "size": options.size, "seed": options.seed}
        stages.append(Stage("synthetic", products, lambda: wanted, lambda o: _write_synthetic(o, products, split)))
    else:
        products, split = Path(str(options.products)).resolve(), None  # the options require products without synthetic
    stages.append(
        Stage(
            "prepare",
            data,
            partial(PrepareOptions, products, data, split=split, progress=progress),
            lambda o: _prepare_summary(prepare(o)),
            ("manifest.json",),
            resumes=True,
        )
    )
    for name, bands in MODELS.items():
        run = out / "runs" / name
        training = partial(options.train_options, bands, data, run)
        stages.append(Stage(f"train {name}", run, training, partial(_train, verbose=None if progress else 2), RUN_RECORDS, True))
    simulation = partial(SimulateOptions, data, simulated, clouds=CloudParameters(seed=options.seed), progress=progress)
    stages.append(Stage("simulate", simulated, simulation, lambda o: {"patches": _patches(simulate(o))}, ("manifest.json",)))
    models = tuple(f"{name}={out / 'runs' / name}" for name in MODELS)
    for label, folder in TEST_SETS.items():
        evaluation = partial(EvaluateOptions, out / folder, models, out / "results" / label, checkpoint="best", progress=progress)
        stages.append(
            Stage(f"evaluate {label}", out / "results" / label, evaluation, lambda o: headline(evaluate(o)), ("metrics.csv", "evaluation.json"))
        )
    results = tuple(f"{label}={out / 'results' / label}" for label in TEST_SETS)
    report = partial(ReportOptions, results, out / "tables", reference=options.reference)
    stages.append(
        Stage("report", out / "tables", report, lambda o: _report(o, out), ("report.md", "metrics.csv", "tables.tex", "learning_curves.csv"))
    )
    return stages


#: a training run's record files
RUN_RECORDS = ("config.json", "best.json", "history.csv")


def _run_stage(out: Path, record: dict, stage: Stage, options) -> None:
    entry: dict[str, Any] = {"state": "running", "options": _as_json(options), "started": utc_timestamp()}
    record["stages"][stage.name] = entry
    _write_record(out, record)
    if not stage.resumes:
        _remove(stage.output)
    logger.info(f"{stage.name}: into {stage.output}")
    start = time.perf_counter()
    summary = stage.run(options)
    entry.update(state="done", finished=utc_timestamp(), seconds=round(time.perf_counter() - start, 1), summary=summary)
    entry["records"] = {name: file_sha256(stage.output / name) for name in stage.records}
    _write_record(out, record)


def _remove(path: Path) -> None:
    """What an unfinished stage left at ``path`` (a folder or a file)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_synthetic(wanted: dict, products: Path, split: Path) -> dict:
    from ..dataset.splits import write_split
    from ..dataset.synthetic import write_set

    _remove(split)
    chosen = synthetic_pairs(wanted["pairs"], wanted["test_pairs"])
    write_set(products, chosen, wanted["size"], wanted["seed"])
    write_split(split, chosen)
    return {"pairs": [p.key for p in chosen]}


def synthetic_pairs(train: int, test: int) -> list:
    """The first ``train`` training and ``test`` testing pairs of the published split list."""
    from ..dataset.splits import read_split

    pairs = read_split()
    return [p for p in pairs if p.subset == "train"][:train] + [p for p in pairs if p.subset == "test"][:test]


def _prepare_summary(manifest: dict) -> dict:
    pairs = manifest["pairs"].values()
    return {subset: {"pairs": sum(p["subset"] == subset for p in pairs), "patches": _patches(manifest, subset)} for subset in ("train", "test")}


def _patches(manifest: dict, subset: str | None = None) -> int:
    """Patch pairs of a manifest (of ``subset`` only, where given)."""
    return sum(len(p["windows"]) for p in manifest["pairs"].values() if subset in (None, p["subset"]))


def _train(options, verbose) -> dict:
    from ..nn.runs import read_best
    from ..nn.training import train

    train(options, verbose=verbose)
    return read_best(options.out) or {}


def headline(results: pd.DataFrame) -> dict:
    """Per method, the band means of PSNR, SSIM and SAM at 10 m and 20 m over all scenes, on all
    and on cloud-affected pixels, from an evaluation's results table: ``{method: {"PSNR 10m all": ...}}``."""
    chosen = results[
        (results["scene"] == "all")
        & results["pixels"].isin(["all", "cloud"])
        & results["band"].isin(["mean_10m", "mean_20m"])
        & results["metric"].isin(["PSNR", "SSIM", "SAM"])
    ]
    table: dict[str, dict] = {}
    for row in chosen.itertuples(index=False):
        table.setdefault(row.method, {})[f"{row.metric} {row.band[5:]} {row.pixels}"] = float(row.value)
    return table


def _report(options: ReportOptions, out: Path) -> dict:
    from ..evaluation.figures import plot_learning_curves
    from ..evaluation.report import merge_evaluations

    merge_evaluations(options)
    curves = learning_curves(out / "runs", out / "data")
    write_text_atomically(options.out / "learning_curves.csv", curves.to_csv(index=False))
    plot_learning_curves(options.out / "learning_curves.png", curves)
    return {"tables": str(options.out / "report.md"), "learning_curves": str(options.out / "learning_curves.png")}


def learning_curves(runs: Path, data: Path) -> pd.DataFrame:
    """Validation PSNR per epoch, as a pandas DataFrame (method, epoch, stack, psnr): the mean
    over the stack's bands of the per-band PSNR of each model's history.csv (epoch from 1), and
    for the cloudy input and the classical methods, constant over the epochs, the same on the
    same validation patches (epoch 0 and the last epoch, the ends of a line)."""

    from ..core.bands import STACKS
    from ..nn.runs import read_config

    frames, last = [], 0
    for name in MODELS:
        history = pd.read_csv(runs / name / "history.csv")
        last = max(last, int(history["epoch"].max()) + 1)
        for stack, bands in STACKS.items():
            columns = [f"val_psnr_{b}" for b in bands if f"val_psnr_{b}" in history]
            if columns:
                frames.append(pd.DataFrame({"method": name, "epoch": history["epoch"] + 1, "stack": stack, "psnr": history[columns].mean(axis=1)}))
    val_pairs = (read_config(runs / "crmss") or {})["val_pairs"]
    for method, values in validation_baselines(data, val_pairs).items():
        for stack, psnr in values.items():
            frames.append(pd.DataFrame({"method": method, "epoch": [0, last], "stack": stack, "psnr": psnr}))
    return pd.concat(frames, ignore_index=True)


def validation_baselines(data: Path, val_pairs: list[str]) -> dict[str, dict[str, float]]:
    """Mean over the validation patches of the per-band PSNR, averaged over each stack's bands,
    of the cloudy input and of each classical method: ``{method: {"10m": dB, "20m": dB}}``."""
    import numpy as np

    from ..dataset.tree import STACK_KEYS, load_patches
    from ..evaluation.classical import CLASSICAL_METHODS
    from ..evaluation.results import BASELINE
    from ..nn.pipeline import read_patch

    sets = load_patches(data, "train")
    sums: dict[str, np.ndarray] = {}
    count = 0
    for key in val_pairs:
        files = sets[key].files
        for f10, f20, c10, c20 in zip(*(files[stack] for stack in STACK_KEYS)):
            x = [read_patch(f10, "10m")[None], read_patch(f20, "20m")[None]]
            clear = [read_patch(c10, "10m"), read_patch(c20, "20m")]
            outputs = {BASELINE: x, **{name: method(*x) for name, method in CLASSICAL_METHODS.items()}}
            for name, (y10, y20) in outputs.items():
                scores = np.array([_stack_psnr(y10[0], clear[0]), _stack_psnr(y20[0], clear[1])])
                sums[name] = sums.get(name, 0) + scores
            count += 1
    return {name: {"10m": float(total[0] / count), "20m": float(total[1] / count)} for name, total in sums.items()}


def _stack_psnr(predicted, clear) -> float:
    """:func:`crmss.nn.losses.psnr` of one (H, W, C) reflectance patch, in dB."""
    import keras

    from ..nn.losses import psnr

    return float(keras.ops.convert_to_numpy(psnr(predicted[None], clear[None])))


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
    logger.info(f"planning{whole}: timing each stage on a {PLAN_SIZE} px pair and a few training steps")
    pairs = synthetic_pairs(options.synthetic or 28, options.test_pairs if options.synthetic else 8)
    side = options.size if options.synthetic else 10980
    with tempfile.TemporaryDirectory(prefix="crmss-plan-") as tmp, messages_held_back():
        root = Path(tmp)
        sample = [dataclasses.replace(pairs[-1], subset="test")]
        seconds = {}
        seconds["write"] = _timed(lambda: write_set(root / "products", sample, PLAN_SIZE, options.seed))
        write_split(root / "split.csv", sample)
        seconds["prepare"] = _timed(lambda: prepare(PrepareOptions(root / "products", root / "data", split=root / "split.csv", progress=False)))
        kept = _patches(read_manifest(root / "data" / "manifest.json"))
        seconds["simulate"] = _timed(lambda: simulate(SimulateOptions(root / "data", root / "sim", progress=False)))
        models = []
        for name, bands in MODELS.items():
            build_generator(options.width, bands=bands, head=options.head).save(root / f"{name}.keras")
            models.append(f"{name}={root / (name + '.keras')}")
        evaluated = EvaluateOptions(root / "data", tuple(models), root / "results", figures=0, progress=False)
        seconds["evaluate"] = _timed(lambda: evaluate(evaluated))
        step = {name: step_seconds(options.train_options(bands, root / "data", root / name)) for name, bands in MODELS.items()}
    windows = (side // 256) ** 2 * kept / (PLAN_SIZE // 256) ** 2  # patches per pair, no-data windows dropped as in the sample
    scale = (side / PLAN_SIZE) ** 2
    train_pairs, test_pairs = sum(p.subset == "train" for p in pairs), sum(p.subset == "test" for p in pairs)
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
    plan["report"] = seconds["evaluate"] * windows / max(kept, 1) / 4  # the classical methods on the validation pair
    return {name: round(value, 1) for name, value in plan.items()}


def _timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _show_plan(plan: dict, stages: list[Stage], record: dict | None) -> None:
    done = {name for name, entry in (record or {}).get("stages", {}).items() if entry["state"] == "done"}
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
            raise InputError(f"{out}: exists and is not the folder of a 'crmss reproduce' (no {RECORD}); choose a new {argument('out')}")


def _check_continuation(options: ReproduceOptions, record: dict | None) -> None:
    """Refuse ``options`` where they contradict the options ``options.out`` was made with."""
    if record is not None:
        now, before = _as_json(options), record["options"]
        changed = {name: (now[name], before.get(name)) for name in now if name not in ReproduceOptions.FREE and before.get(name) != now[name]}
        refuse_other_options(Path(options.out) / RECORD, changed, "Give them as they were to continue it", "reproduce")


def _same(recorded: dict, current: dict) -> bool:
    """Whether a stage's recorded options are its current ones, apart from those that do not change its output."""
    return {k: v for k, v in recorded.items() if k not in UNCHANGING} == {k: v for k, v in current.items() if k not in UNCHANGING}


def _as_json(options: Any) -> dict:
    """Options as JSON values: paths as absolute text, tuples as lists, nested options as objects."""
    if isinstance(options, dict):
        return options
    return json.loads(json.dumps(dataclasses.asdict(options), default=lambda v: str(Path(v).resolve())))


def _versions() -> dict[str, str]:
    from ..nn.training import package_versions

    return package_versions()
