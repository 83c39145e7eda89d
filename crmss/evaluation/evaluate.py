"""``test.py`` / ``crmss test``: evaluate generators and classical methods on a prepared subset.

Methods, in the tables' order: every model given (a training run, or any ``.keras`` file with the
generator's interface, each named ``NAME=...`` or after itself), the classical methods chosen
(crmss/evaluation/classical.py: ``dark_channel_prior``, ``hot``) and ``cloudy_input`` (the cloudy
patch unchanged: the do-nothing baseline). A Vis/NIR model (trained with ``--bands visnir``) is
scored on the 10 m bands only.

Writes, under RESULTS (created whole at the end; an existing folder is never overwritten):

* ``predictions/{subset}/<model>/{10m,20m}/<pair>/<k>.tif`` per model: its output as uint16
  reflectance x 10000 with the georeferencing of its input patch (the prepared tree's layout);
* ``metrics.csv``: one row per value, columns ``method, scene, pixels, band, metric, value``:
  scene a pair key or ``all``; pixels ``all``, ``cloud`` (cloud-affected) or ``clear`` (the
  mask is in crmss/evaluation/metrics.py); band an ESA name, ``mean_10m`` or ``mean_20m``; metric
  PSNR,
  SSIM, RMSE, MAE (per band) or SAM (per stack, on the mean rows);
* ``metrics.json`` (the same numbers, nested), ``evaluation.json`` (what was evaluated, for
  ``crmss report``), ``report.md`` and ``tables.tex`` (methods x bands tables,
  crmss/evaluation/tables.py),
  ``reference_comparison.csv`` when ``--reference`` is given, and figures (PNG).

Every metric is computed per patch, then averaged over the patches of a scene, and over all
patches of the subset for ``all`` (on a class of pixels, over the patches that have some); the
mean rows average the bands of a resolution.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from .. import __version__
from ..core.bands import BAND_SETS, BANDS_10M, BANDS_20M, STACKS
from ..core.console import progress_bar
from ..core.errors import InputError
from ..core.files import new_folder, utc_timestamp
from ..core.options import METHOD_NAME, EvaluateOptions, named_path
from ..core.validation import argument
from ..dataset.cloud_masks import CloudWeights, blend_clear
from ..dataset.tree import load_patches, read_manifest, stack_key
from ..dataset.windows import SCALE
from ..io.raster import raster_info, write_geotiff
from ..nn.backends import compiled
from ..nn.model import CHECKPOINTS, generator_file, generator_stacks, load_generator
from ..nn.pipeline import make_dataset, patch_errors
from ..nn.precision import at_precision, choose_precision, local_devices
from ..nn.runs import read_config
from .classical import CLASSICAL_METHODS
from .figures import write_figures
from .metrics import BAND_METRICS, class_metrics, cloud_mask
from .results import BASELINE, PIXELS, compare, read_metrics_csv, results_frame, write_metrics_csv
from .tables import evaluation_report, evaluation_title, latex_document

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Model:
    """A generator to evaluate, under its name in the tables."""

    name: str
    generator: keras.Model
    source: Path  # the .keras file
    config: dict  # the run's config.json; empty for a bare .keras file

    @property
    def stacks(self) -> tuple[str, ...]:
        return generator_stacks(self.generator)


@dataclass
class Scores:
    """Per-patch values of one method on one scene: (pixels, metric, stack) -> list of arrays."""

    values: dict[tuple[str, str, str], list[np.ndarray]] = field(default_factory=dict)

    def add(self, key: tuple[str, str, str], array: np.ndarray) -> None:
        self.values.setdefault(key, []).append(np.asarray(array))

    def stacked(self, key: tuple[str, str, str]) -> np.ndarray:
        return np.concatenate(self.values[key])


def evaluate(options: EvaluateOptions) -> pd.DataFrame:
    """Evaluate models, classical methods and the cloudy input on a prepared subset (``crmss
    test``).

    Writes into ``options.out`` (a new folder, or with ``overwrite`` the results of an earlier
    run, replaced whole): the georeferenced predictions, ``metrics.csv``, ``metrics.json``,
    ``evaluation.json``, ``report.md``, ``tables.tex`` and the figures.

    Args:
        options: the prepared data, the models (run folders or ``.keras`` files, each also as
            ``NAME=PATH``), the output folder, the classical methods (the fields of ``crmss test``).

    Returns:
        The results table: a DataFrame of columns ``method, scene, pixels, band, metric,
        value`` (pixels ``all``, ``cloud``, ``clear``; metrics PSNR in dB, SSIM, RMSE and MAE on
        reflectance per band, SAM in degrees per stack).

    Raises:
        InputError: bad input, named with its file and the fix; nothing is written then.
    """
    out, data, methods = Path(options.out), Path(options.data), tuple(options.methods)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; give {argument('out')} a new folder for the results")
    precision = choose_precision(options.precision, local_devices())
    logger.info(f"models compute in {precision}")
    loaded = load_models(options.models, options.checkpoint, precision.precision)
    names = [m.name for m in loaded] + list(methods) + [BASELINE]
    sets = load_patches(data, options.subset)
    reference = (
        read_metrics_csv(Path(options.reference), names, scenes=set(sets))
        if options.reference
        else None
    )
    info: dict[str, Any] = {
        "crmss_version": __version__,
        "data": str(data.resolve()),
        "subset": options.subset,
        "cloud_threshold": options.cloud_threshold,
        "mask": options.mask,
        "precision": str(precision),
        "patch_size": next(iter(sets.values())).size10,
        "patches": sum(len(s) for s in sets.values()),
        "methods": {
            **{m.name: _describe(m) for m in loaded},
            **{m: {"kind": "classical"} for m in methods},
            BASELINE: {"kind": "baseline"},
        },
        "simulation": _simulation_of(data),
        "written": utc_timestamp(),
    }
    with new_folder(
        out, "test", "the results", marker="metrics.csv", overwrite=options.overwrite
    ) as tmp:
        results, figure_files = _write_results(tmp, loaded, sets, info, reference, options)
    logger.info(
        f"results in {out}: metrics.csv, report.md, tables.tex, {len(figure_files)} "
        f"figures, predictions of {info['patches']} patches"
    )
    return results


def load_models(
    specs: Sequence[str | Path], checkpoint: str = "last", precision: str = "float32"
) -> list[Model]:
    """The models of ``--model``: each a run folder or a ``.keras`` file, as ``NAME=PATH`` or
    ``PATH`` (named ``crmss`` when it is the only one, else after the folder or file),
    computing at ``precision`` (crmss/nn/precision.py)."""
    parsed = [named_path(str(spec)) for spec in specs]
    models, names = [], []
    for name, path in parsed:
        name = name or (
            "crmss"
            if len(parsed) == 1
            else path.stem
            if path.suffix == ".keras"
            else path.resolve().name
        )
        given = argument("models", path, EvaluateOptions)
        if not METHOD_NAME.fullmatch(name):
            raise InputError(
                f"{given}: {name!r} cannot name a method (letters, digits, _ . + -, "
                f"from a letter); give it as NAME={path}"
            )
        if name in names or name in CLASSICAL_METHODS or name == BASELINE:
            raise InputError(
                f"{given}: the name {name!r} is taken; give each model its own name as NAME={path}"
            )
        names.append(name)
        source = generator_file(path, checkpoint)
        models.append(
            Model(
                name, at_precision(load_generator(source), precision), source, _run_config(source)
            )
        )
    return models


def _run_config(model_file: Path) -> dict:
    """The config.json of the run a generator file belongs to ({} for a bare .keras file)."""
    return (read_config(model_file.parent) or {}) if model_file.name in CHECKPOINTS.values() else {}


def _describe(model: Model) -> dict:
    bands = next(name for name, stacks in BAND_SETS.items() if stacks == model.stacks)
    return {
        "kind": "model",
        "source": str(model.source.resolve()),
        "stacks": list(model.stacks),
        "bands": bands,
        "parameters": model.generator.count_params(),
        "options": model.config.get("options", {}),
    }


def _simulation_of(data: Path) -> dict | None:
    """The simulation record of a simulated testing set's manifest (None for real pairs)."""
    return read_manifest(data / "manifest.json").get("simulation")


def _write_results(
    folder: Path,
    models: list[Model],
    sets: dict,
    info: dict,
    reference: pd.DataFrame | None,
    options: EvaluateOptions,
):
    """Score the ``models`` and ``options.methods`` on the patch ``sets`` and write everything
    into ``folder``; return the results table and the figures."""
    with patch_errors():
        run = _run(
            models, tuple(options.methods), sets, folder / "predictions" / info["subset"], options
        )
    results = summarise(run.scores)
    info["cloud_fraction"] = run.cloud_fraction()
    write_metrics_csv(folder / "metrics.csv", results)
    (folder / "metrics.json").write_text(json.dumps(nest(results), indent=1, allow_nan=True) + "\n")
    (folder / "evaluation.json").write_text(json.dumps(info, indent=1) + "\n")
    comparison = compare(results, reference) if reference is not None else None
    if comparison is not None:
        write_metrics_csv(folder / "reference_comparison.csv", comparison)
    names = list(info["methods"])
    figure_files = write_figures(
        folder, results, names, run.samples, run.histograms, models[0].name if models else None
    )
    (folder / "report.md").write_text(
        evaluation_report(results, info, comparison, options.reference, figure_files)
    )
    (folder / "tables.tex").write_text(latex_document([(evaluation_title(info), results, names)]))
    return results, figure_files


@dataclass
class _Run:
    """What scoring the patches gathered: scores per method and scene, cloud-affected pixel
    counts per scene, figure samples and predicted-against-clear histograms."""

    scores: dict = field(default_factory=dict)
    cloudy_pixels: dict = field(default_factory=dict)  # scene -> [cloud-affected, all] 10 m pixels
    samples: list = field(default_factory=list)
    histograms: dict = field(default_factory=dict)
    warned: set = field(default_factory=set)  # models whose outputs left [0, 1], said once

    def cloud_fraction(self) -> dict[str, float]:
        fractions = {pair: float(c / n) for pair, (c, n) in self.cloudy_pixels.items()}
        totals = np.sum(list(self.cloudy_pixels.values()), axis=0)
        return {**fractions, "all": float(totals[0] / totals[1])}


def _generate(call, *stacks):
    """The generator's output stacks (``call``) for its input stacks."""
    return call(stacks)


def _kept_clear(
    predicted: dict[str, np.ndarray], x: dict[str, np.ndarray], mask: str
) -> dict[str, np.ndarray]:
    """A model's ``predicted`` stacks (B, S, S, bands) where ``mask`` finds cloud in the cloudy
    patches ``x``, the cloudy input elsewhere, blended as ``crmss predict`` blends them
    (crmss/dataset/cloud_masks.py)."""
    kept = {res: stack.copy() for res, stack in predicted.items()}
    for i, patch in enumerate(x["10m"]):
        clouds = CloudWeights.of_arrays(mask, patch)
        if clouds is None:
            continue
        for res, stack in kept.items():
            s = SCALE[res]
            weights = clouds.rows(s, 0, stack.shape[1], stack.shape[2])
            stack[i] = blend_clear(stack[i], x[res][i], weights)
    return kept


def _run(models, methods, sets, predictions: Path, options: EvaluateOptions) -> _Run:
    """Predict, write predictions, score all methods."""
    figure_count, threshold = options.figures, options.cloud_threshold
    predict = {m.name: compiled(m.generator, _generate) for m in models}
    run = _Run(
        histograms={
            band: np.zeros((HISTOGRAM_BINS, HISTOGRAM_BINS)) for band in BANDS_10M + BANDS_20M
        }
    )
    total = sum(len(s) for s in sets.values())
    wanted = (
        set(np.linspace(0, total - 1, min(figure_count, total)).astype(int).tolist())
        if figure_count
        else set()
    )
    seen = 0
    with (
        progress_bar(options.progress, total=total, desc="evaluate", unit="patch") as bar,
        ThreadPoolExecutor(2) as writer,
    ):
        writes = []
        for pair, patches in sets.items():
            scores = {
                name: Scores() for name in [m.name for m in models] + list(methods) + [BASELINE]
            }
            for name, score in scores.items():
                run.scores.setdefault(name, {})[pair] = score
            run.cloudy_pixels[pair] = np.zeros(2, np.int64)
            start = 0
            for (x10, x20), (y10, y20) in make_dataset(
                patches, options.batch_size, shuffle=False, augmentation=False
            ):
                x = {"10m": np.asarray(x10), "20m": np.asarray(x20)}
                y = {"10m": np.asarray(y10), "20m": np.asarray(y20)}
                masks = dict(zip(STACKS, cloud_mask(x["10m"], y["10m"], threshold)))
                outputs = {
                    m.name: {
                        res: np.asarray(o, np.float32)
                        for res, o in zip(m.stacks, predict[m.name](*(x[r] for r in m.stacks)))
                    }
                    for m in models
                }
                for model in models:
                    _check_output(model, outputs[model.name], run.warned)
                if options.mask != "none":
                    for name in outputs:
                        outputs[name] = _kept_clear(outputs[name], x, options.mask)
                outputs.update(
                    {
                        name: dict(zip(STACKS, CLASSICAL_METHODS[name](x["10m"], x["20m"])))
                        for name in methods
                    }
                )
                outputs[BASELINE] = x
                for name, stacks in outputs.items():
                    for res, predicted in stacks.items():
                        _score(scores[name], res, predicted, y[res], masks[res])
                run.cloudy_pixels[pair] += [masks["10m"].sum(), masks["10m"].size]
                if models:
                    _histograms(run.histograms, outputs[models[0].name], y)
                count = x10.shape[0]
                for i in range(count):
                    k_files = {key: patches.files[key][start + i] for key in patches.files}
                    for model in models:
                        writes.append(
                            writer.submit(
                                _write_prediction,
                                predictions / model.name,
                                pair,
                                k_files,
                                {res: o[i] for res, o in outputs[model.name].items()},
                            )
                        )
                    if seen + i in wanted:
                        run.samples.append(
                            {
                                "pair": pair,
                                "window": Path(k_files[stack_key("clear", "10m")]).stem,
                                "clear": (y["10m"][i], y["20m"][i]),
                                **{
                                    name: tuple(o[res][i] if res in o else None for res in STACKS)
                                    for name, o in outputs.items()
                                },
                            }
                        )
                start += count
                seen += count
                bar.update(count)
        for done in writes:
            done.result()
    return run


def _check_output(model: Model, outputs: dict[str, np.ndarray], warned: set[str]) -> None:
    """InputError where a model's output holds NaN or infinite values; a warning (once per model)
    where it leaves [0, 1], as another method's network without a final sigmoid may: such
    outputs are scored as they are, and written clipped to the uint16 range."""
    for res, output in outputs.items():
        if not np.isfinite(output).all():
            raise InputError(
                f"{model.source}: the model {model.name!r} gives NaN or infinite "
                f"values at {res}; it cannot be scored: check the model"
            )
        low, high = float(output.min()), float(output.max())
        if (low < 0 or high > 1) and model.name not in warned:
            warned.add(model.name)
            logger.warning(
                f"{model.name}: outputs from {low:.3g} to {high:.3g}, outside the reflectance "
                "range [0, 1] the inputs are scaled to "
                "(a network without a final sigmoid?); scored as they are, predictions written "
                "clipped to 1..65535"
            )


def _score(scores: Scores, res: str, predicted, clear, cloud) -> None:
    """Add one batch of one stack's metrics on all, cloud-affected and clear pixels."""
    classes = class_metrics(predicted, clear, {"all": None, "cloud": cloud, "clear": ~cloud})
    for pixels, values in classes.items():
        for metric, array in values.items():
            scores.add((pixels, metric, res), array)


HISTOGRAM_BINS, HISTOGRAM_TOP = 100, 0.6  # reflectance bins of the predicted-against-clear figure


def _histograms(histograms, predicted: dict, clear: dict) -> None:
    """Add 2-D histogram counts (clear x predicted) per band; bincount is 10x faster than
    histogram2d."""
    scale = HISTOGRAM_BINS / HISTOGRAM_TOP
    for res, pred in predicted.items():
        rows = np.minimum((clear[res] * scale).astype(np.int32), HISTOGRAM_BINS - 1)
        # another method's output may leave [0, 1]
        cols = np.clip(pred * scale, 0, HISTOGRAM_BINS - 1).astype(np.int32)
        cells = rows * HISTOGRAM_BINS + cols
        for i, band in enumerate(STACKS[res]):
            counts = np.bincount(cells[..., i].ravel(), minlength=HISTOGRAM_BINS**2)
            histograms[band] += counts.reshape(HISTOGRAM_BINS, HISTOGRAM_BINS)


def _write_prediction(root: Path, pair: str, files: dict, outputs: dict) -> None:
    for res, pixels in outputs.items():
        source = files[stack_key("cloudy", res)]
        info = raster_info(source)
        target = root / res / pair / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        values = np.clip(np.rint(np.moveaxis(pixels, -1, 0) * 10000), 1, 65535).astype(np.uint16)
        write_geotiff(
            target,
            values,
            info.geotransform,
            info.projection,
            STACKS[res],
            metadata={"CRMSS_METHOD": root.name, "CRMSS_SCALE": "reflectance x 10000"},
        )


def summarise(scores: dict) -> pd.DataFrame:
    """The results table: per method, scene and ``all``, class of pixels, band and mean rows,
    metric. A stack a method does not produce has no rows; nor has a class of pixels that no
    patch of the scene holds."""
    rows = []
    for method, per_scene in scores.items():
        for scene in [*per_scene, "all"]:
            parts = list(per_scene.values()) if scene == "all" else [per_scene[scene]]
            for pixels in PIXELS:
                for res, bands in STACKS.items():
                    if (pixels, "SAM", res) not in parts[0].values:
                        continue
                    for metric in BAND_METRICS:
                        # (patches, bands)
                        values = np.concatenate([p.stacked((pixels, metric, res)) for p in parts])
                        # patches without a pixel of the class
                        values = values[~np.isnan(values[:, 0])]
                        if len(values):
                            rows += [
                                _row(method, scene, pixels, band, metric, values[:, i].mean())
                                for i, band in enumerate(bands)
                            ]
                            rows.append(
                                _row(method, scene, pixels, f"mean_{res}", metric, values.mean())
                            )
                    sam = np.concatenate([p.stacked((pixels, "SAM", res)) for p in parts])
                    sam = sam[~np.isnan(sam)]
                    if len(sam):
                        rows.append(_row(method, scene, pixels, f"mean_{res}", "SAM", sam.mean()))
    return results_frame(rows)


def _row(method, scene, pixels, band, metric, value) -> dict:
    return {
        "method": method,
        "scene": scene,
        "pixels": pixels,
        "band": band,
        "metric": metric,
        "value": float(value),
    }


def nest(results: pd.DataFrame) -> dict:
    """method -> scene -> pixels -> band -> metric -> value (metrics.json)."""
    tree: dict = {}
    for row in results.itertuples(index=False):
        node = tree.setdefault(row.method, {}).setdefault(row.scene, {}).setdefault(row.pixels, {})
        node.setdefault(row.band, {})[row.metric] = float(row.value)
    return tree
