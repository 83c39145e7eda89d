"""The stages of ``crmss reproduce``, in order: [a synthetic WHUS2-CR] -> prepare -> train
CR-MSS -> train the Vis/NIR ablation -> simulate -> evaluate the real and the simulated
testing set -> the merged tables and learning curves. Each stage says where it writes, how its
options are made (when it comes: what it reads exists only then), how it runs and what it
records; crmss/protocol/reproduce.py runs them and keeps the record.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.files import write_text_atomically
from ..core.options import (
    Bands,
    CloudParameters,
    EvaluateOptions,
    PrepareOptions,
    ReportOptions,
    ReproduceOptions,
    SimulateOptions,
)

#: the models the protocol trains: name -> TrainOptions.bands
MODELS: dict[str, Bands] = {"crmss": "all", "crmss_visnir": "visnir"}


#: the testing sets: label -> folder under --out holding the prepared (or simulated) tree
TEST_SETS = {"real": "data", "simulated": "simulated"}


#: a training run's record files
RUN_RECORDS = ("config.json", "best.json", "history.csv")


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
        wanted = {
            "pairs": options.synthetic,
            "test_pairs": options.test_pairs,
            "size": options.size,
            "seed": options.seed,
        }
        stages.append(
            Stage(
                "synthetic",
                products,
                lambda: wanted,
                lambda o: _write_synthetic(o, products, split),
            )
        )
    else:
        # the options require products without synthetic
        products, split = Path(str(options.products)).resolve(), None
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
        stages.append(
            Stage(
                f"train {name}",
                run,
                training,
                partial(_train, verbose=None if progress else 2),
                RUN_RECORDS,
                True,
            )
        )
    simulation = partial(
        SimulateOptions,
        data,
        simulated,
        clouds=CloudParameters(seed=options.seed),
        progress=progress,
    )
    stages.append(
        Stage(
            "simulate",
            simulated,
            simulation,
            lambda o: {"patches": patch_count(simulate(o))},
            ("manifest.json",),
        )
    )
    models = tuple(f"{name}={out / 'runs' / name}" for name in MODELS)
    for label, folder in TEST_SETS.items():
        evaluation = partial(
            EvaluateOptions,
            out / folder,
            models,
            out / "results" / label,
            checkpoint="best",
            progress=progress,
        )
        stages.append(
            Stage(
                f"evaluate {label}",
                out / "results" / label,
                evaluation,
                lambda o: headline(evaluate(o)),
                ("metrics.csv", "evaluation.json"),
            )
        )
    results = tuple(f"{label}={out / 'results' / label}" for label in TEST_SETS)
    report = partial(ReportOptions, results, out / "tables", reference=options.reference)
    stages.append(
        Stage(
            "report",
            out / "tables",
            report,
            lambda o: _report(o, out),
            ("report.md", "metrics.csv", "tables.tex", "learning_curves.csv"),
        )
    )
    return stages


def remove_output(path: Path) -> None:
    """What an unfinished stage left at ``path`` (a folder or a file)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_synthetic(wanted: dict, products: Path, split: Path) -> dict:
    from ..dataset.splits import write_split
    from ..dataset.synthetic import write_set

    remove_output(split)
    chosen = synthetic_pairs(wanted["pairs"], wanted["test_pairs"])
    write_set(products, chosen, wanted["size"], wanted["seed"])
    write_split(split, chosen)
    return {"pairs": [p.key for p in chosen]}


def synthetic_pairs(train: int, test: int) -> list:
    """The first ``train`` training and ``test`` testing pairs of the published split list."""
    from ..dataset.splits import read_split

    pairs = read_split()
    return [p for p in pairs if p.subset == "train"][:train] + [
        p for p in pairs if p.subset == "test"
    ][:test]


def _prepare_summary(manifest: dict) -> dict:
    pairs = manifest["pairs"].values()
    return {
        subset: {
            "pairs": sum(p["subset"] == subset for p in pairs),
            "patches": patch_count(manifest, subset),
        }
        for subset in ("train", "test")
    }


def patch_count(manifest: dict, subset: str | None = None) -> int:
    """Patch pairs of a manifest (of ``subset`` only, where given)."""
    return sum(
        len(p["windows"]) for p in manifest["pairs"].values() if subset in (None, p["subset"])
    )


def _train(options, verbose) -> dict:
    from ..nn.runs import read_best
    from ..nn.training import train

    train(options, verbose=verbose)
    return read_best(options.out) or {}


def headline(results: pd.DataFrame) -> dict:
    """Per method, the band means of PSNR, SSIM and SAM at 10 m and 20 m over all scenes, on all
    and on cloud-affected pixels, from an evaluation's results table: ``{method: {"PSNR 10m all":
    ...}}``."""
    chosen = results[
        (results["scene"] == "all")
        & results["pixels"].isin(["all", "cloud"])
        & results["band"].isin(["mean_10m", "mean_20m"])
        & results["metric"].isin(["PSNR", "SSIM", "SAM"])
    ]
    table: dict[str, dict] = {}
    for row in chosen.itertuples(index=False):
        table.setdefault(row.method, {})[f"{row.metric} {row.band[5:]} {row.pixels}"] = float(
            row.value
        )
    return table


def _report(options: ReportOptions, out: Path) -> dict:
    from ..evaluation.curves import learning_curves
    from ..evaluation.figures import plot_learning_curves
    from ..evaluation.report import merge_evaluations

    merge_evaluations(options)
    curves = learning_curves(out / "runs", out / "data", tuple(MODELS))
    write_text_atomically(options.out / "learning_curves.csv", curves.to_csv(index=False))
    plot_learning_curves(options.out / "learning_curves.png", curves)
    return {
        "tables": str(options.out / "report.md"),
        "learning_curves": str(options.out / "learning_curves.png"),
    }
