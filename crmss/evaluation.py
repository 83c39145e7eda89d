"""``test.py`` / ``crmss test``: evaluate a trained generator on a prepared subset.

Writes, under RESULTS (created whole at the end; an existing folder is never overwritten):

* ``predictions/{subset}/crmss/{10m,20m}/<pair>/<k>.tif``: the generator's output as uint16
  reflectance x 10000 with the georeferencing of its input patch (the prepared tree's layout);
* ``metrics.csv``: one row per value, columns ``method, scene, band, metric, value``; methods
  ``crmss``, ``cloudy_input`` (the do-nothing baseline) and ``dark_channel_prior`` (the
  classical baseline, crmss/classical.py); scene a pair key or ``all``; band an ESA name,
  ``mean_10m`` or ``mean_20m``; metric PSNR, SSIM, RMSE, MAE (per band) or SAM (per stack,
  on the mean rows);
* ``metrics.json`` (the same numbers, nested), ``report.md`` (tables, conventions, the run's
  configuration, the model's size), ``reference_comparison.csv`` when ``--reference`` is
  given, and figures (PNG).

Every metric is computed per patch, then averaged over the patches of a scene, and over all
patches of the subset for ``all``; the mean rows average the bands of a resolution.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from . import __version__
from .bands import BANDS_10M, BANDS_20M, STACKS
from .classical import dark_channel_prior
from .data import STACK_KEYS, load_patches, make_dataset, patch_errors
from .errors import InputError, disk_full_error, is_disk_full
from .files import exclusive_lock
from .figures import write_figures
from .metrics import BAND_METRICS, band_metrics, spectral_angle
from .raster import raster_info, write_geotiff

METHODS = ("crmss", "cloudy_input", "dark_channel_prior")
COLUMNS = ["method", "scene", "band", "metric", "value"]
METRIC_NAMES = BAND_METRICS + ("SAM",)


@dataclass
class Scores:
    """Per-patch values of one method on one scene: (metric, band or stack) -> list of arrays."""

    values: dict = field(default_factory=dict)

    def add(self, key, array):
        self.values.setdefault(key, []).append(np.asarray(array))

    def stacked(self, key) -> np.ndarray:
        return np.concatenate(self.values[key])


def evaluate(
    data: str | Path,
    model: str | Path,
    out: str | Path,
    subset: str = "test",
    checkpoint: str = "last",
    reference: str | Path | None = None,
    batch_size: int = 8,
    figures: int = 4,
    progress: bool = True,
    log=print,
) -> list[dict]:
    """Evaluate RUN's generator on ``subset`` of DATA; write RESULTS; return the metric rows."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; give --out a new folder for the results")
    generator, run_config, model_file = load_generator(Path(model), checkpoint)
    reference_rows = read_metrics_csv(Path(reference)) if reference else None
    sets = load_patches(data, subset)
    size10 = next(iter(sets.values())).size10
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out.parent}: cannot create the folder ({exc.strerror}); choose another --out") from exc
    if not os.access(out.parent, os.W_OK):
        raise InputError(f"{out.parent}: cannot be written; choose another --out")
    # one run at a time writes (or cleans up after) these results; a second waits, then finds them
    with exclusive_lock(out.parent / f".{out.name}.lock", f"{out}: another crmss test is writing these results; waiting for it", log):
        if out.exists() and any(out.iterdir()):
            raise InputError(f"{out}: exists and is not empty; nothing is overwritten: choose a new --out")
        for stale in out.parent.glob(f".{out.name}.partial-*"):  # what a killed run left: no other run writes here now
            shutil.rmtree(stale, ignore_errors=True)
        rows, figure_files = _write_results(out, generator, sets, subset, data, size10, run_config, model_file, reference,
                                            reference_rows, batch_size, figures, progress)
    log(f"results in {out}: metrics.csv, metrics.json, report.md, {len(figure_files)} figures, predictions of {sum(len(s) for s in sets.values())} patches")
    return rows


def _write_results(out, generator, sets, subset, data, size10, run_config, model_file, reference, reference_rows, batch_size,
                   figures, progress):
    """Everything under a temporary folder beside ``out``, renamed to ``out`` when complete."""
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise InputError(f"{out}: cannot create the results folder ({exc.strerror}); choose another --out") from exc
    try:
        with patch_errors():
            scores, samples, histograms = _run(generator, sets, tmp / "predictions" / subset / "crmss", batch_size, figures, progress)
        rows = summarise(scores)
        _write_csv(tmp / "metrics.csv", rows)
        (tmp / "metrics.json").write_text(json.dumps(nest(rows), indent=1, allow_nan=True) + "\n")
        comparison = compare(rows, reference_rows) if reference_rows else None
        if comparison:
            _write_csv(tmp / "reference_comparison.csv", comparison)
        figure_files = write_figures(tmp, rows, samples, histograms)
        (tmp / "report.md").write_text(
            report(rows, comparison, run_config, model_file, generator, subset, data, size10, reference, figure_files)
        )
        if out.exists():
            out.rmdir()  # empty, as checked above
        os.replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc, out.parent):
            raise disk_full_error(out.parent, None, "the results", "run the same command again") from exc
        raise
    return rows, figure_files


def load_generator(run: Path, checkpoint: str):
    """The generator of a run folder (``last``: generator.keras; ``best``: generator_best.keras)."""
    name = {"last": "generator.keras", "best": "generator_best.keras"}[checkpoint]
    path = run / name
    if not path.exists():
        raise InputError(f"{path}: no trained generator here; give --model the run folder of 'python train.py' (after one epoch at least)")
    try:
        generator = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # a damaged zip, another Keras's file: any reason is the same for the user
        raise InputError(f"{path}: cannot load the generator ({exc}); train again or give another run") from exc
    config_file = run / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    return generator, config, path


def _run(generator, sets, predictions: Path, batch_size, figure_count, progress):
    """Predict, write predictions, score all methods; return scores, figure samples, histograms."""
    predict = tf.function(lambda x10, x20: generator([x10, x20], training=False), reduce_retracing=True)
    scores = {method: {} for method in METHODS}
    histograms = {band: np.zeros((HISTOGRAM_BINS, HISTOGRAM_BINS)) for band in BANDS_10M + BANDS_20M}
    total = sum(len(s) for s in sets.values())
    wanted = set(np.linspace(0, total - 1, min(figure_count, total)).astype(int).tolist()) if figure_count else set()
    samples, seen = [], 0
    with tqdm(total=total, desc="evaluate", unit="patch", disable=not progress) as bar, ThreadPoolExecutor(2) as writer:
        writes = []
        for pair, patches in sets.items():
            for method in METHODS:
                scores[method][pair] = Scores()
            start = 0
            for (x10, x20), (y10, y20) in make_dataset(patches, batch_size, shuffle=False, augmentation=False):
                count = int(x10.shape[0])
                outputs = {
                    "crmss": [tf.cast(o, tf.float32) for o in predict(x10, x20)],
                    "cloudy_input": [x10, x20],
                    "dark_channel_prior": list(dark_channel_prior(x10, x20)),
                }
                for method, (p10, p20) in outputs.items():
                    _score(scores[method][pair], p10, p20, y10, y20)
                p10, p20 = (o.numpy() for o in outputs["crmss"])
                _histograms(histograms, p10, p20, y10.numpy(), y20.numpy())
                for i in range(count):
                    k_files = {stack: patches.files[stack][start + i] for stack in STACK_KEYS}
                    writes.append(writer.submit(_write_prediction, predictions, pair, k_files, p10[i], p20[i]))
                    if seen + i in wanted:
                        samples.append({"pair": pair, "window": Path(k_files["clear_10m"]).stem,
                                        **{m: (o[0][i].numpy(), o[1][i].numpy()) for m, o in outputs.items()},
                                        "clear": (y10[i].numpy(), y20[i].numpy())})
                start += count
                seen += count
                bar.update(count)
        for done in writes:
            done.result()
    return scores, samples, histograms


def _score(scores: Scores, p10, p20, y10, y20) -> None:
    for res, (p, y) in {"10m": (p10, y10), "20m": (p20, y20)}.items():
        for metric, values in band_metrics(p, y).items():
            scores.add((metric, res), values)
        scores.add(("SAM", res), spectral_angle(p, y))


HISTOGRAM_BINS, HISTOGRAM_TOP = 100, 0.6  # reflectance bins of the predicted-against-clear figure


def _histograms(histograms, p10, p20, y10, y20) -> None:
    """Add 2-D histogram counts (clear x predicted) per band; bincount is 10x faster than histogram2d."""
    scale = HISTOGRAM_BINS / HISTOGRAM_TOP
    for (pred, clear), names in (((p10, y10), BANDS_10M), ((p20, y20), BANDS_20M)):
        rows = np.minimum((clear * scale).astype(np.int32), HISTOGRAM_BINS - 1)
        cols = np.minimum((pred * scale).astype(np.int32), HISTOGRAM_BINS - 1)
        cells = rows * HISTOGRAM_BINS + cols
        for i, band in enumerate(names):
            counts = np.bincount(cells[..., i].ravel(), minlength=HISTOGRAM_BINS**2)
            histograms[band] += counts.reshape(HISTOGRAM_BINS, HISTOGRAM_BINS)


def _write_prediction(root: Path, pair: str, files: dict, p10: np.ndarray, p20: np.ndarray) -> None:
    for res, pixels in (("10m", p10), ("20m", p20)):
        source = files[f"cloudy_{res}"]
        info = raster_info(source)
        target = root / res / pair / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        values = np.clip(np.rint(np.moveaxis(pixels, -1, 0) * 10000), 1, 65535).astype(np.uint16)
        write_geotiff(target, values, info.geotransform, info.projection, STACKS[res],
                      metadata={"CRMSS_METHOD": "crmss", "CRMSS_SCALE": "reflectance x 10000"})


def summarise(scores: dict) -> list[dict]:
    """Long-format rows: per scene and ``all``, per band and the mean rows, per metric."""
    rows = []
    for method, per_scene in scores.items():
        scenes = {**per_scene, "all": None}
        for scene, score in scenes.items():
            parts = list(per_scene.values()) if scene == "all" else [score]
            for res, bands in STACKS.items():
                for metric in BAND_METRICS:
                    values = np.concatenate([p.stacked((metric, res)) for p in parts])  # (patches, bands)
                    for i, band in enumerate(bands):
                        rows.append(_row(method, scene, band, metric, values[:, i].mean()))
                    rows.append(_row(method, scene, f"mean_{res}", metric, values.mean()))
                sam = np.concatenate([p.stacked(("SAM", res)) for p in parts])
                rows.append(_row(method, scene, f"mean_{res}", "SAM", sam.mean()))
    return rows


def _row(method, scene, band, metric, value) -> dict:
    return {"method": method, "scene": scene, "band": band, "metric": metric, "value": float(value)}


def nest(rows: list[dict]) -> dict:
    tree: dict = {}
    for row in rows:
        tree.setdefault(row["method"], {}).setdefault(row["scene"], {}).setdefault(row["band"], {})[row["metric"]] = row["value"]
    return tree


def read_metrics_csv(path: Path) -> list[dict]:
    """Rows of a long-format metrics CSV (``method, scene, band, metric, value``)."""
    hint = "expected a CSV with the header 'method,scene,band,metric,value' (the format of metrics.csv)"
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != COLUMNS:
                raise InputError(f"{path}, line 1: {hint}")
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    rows.append({**{k: row[k].strip() for k in COLUMNS[:4]}, "value": float(row["value"])})
                except (ValueError, AttributeError) as exc:
                    raise InputError(f"{path}, line {line}: {row} has no numeric value ({exc}); {hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the reference table ({exc}); {hint}") from exc
    if not rows:
        raise InputError(f"{path}: the reference table has no rows; {hint}")
    unknown = sorted({r["metric"] for r in rows} - set(METRIC_NAMES))
    if unknown:
        raise InputError(f"{path}: unknown metrics {unknown}; use {', '.join(METRIC_NAMES)}")
    return rows


def compare(rows: list[dict], reference: list[dict]) -> list[dict]:
    """Reference values beside ours (method ``crmss``, same scene, band and metric), and the difference."""
    ours = {(r["scene"], r["band"], r["metric"]): r["value"] for r in rows if r["method"] == "crmss"}
    table = []
    for ref in reference:
        key = (ref["scene"], ref["band"], ref["metric"])
        mine = ours.get(key, math.nan)
        table.append({"reference_method": ref["method"], "scene": key[0], "band": key[1], "metric": key[2],
                      "reference": ref["value"], "crmss": mine, "difference": mine - ref["value"]})
    return table


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def report(rows, comparison, run_config, model_file, generator, subset, data, size10, reference, figure_files) -> str:
    values = {(r["method"], r["scene"], r["band"], r["metric"]): r["value"] for r in rows}
    scenes = sorted({r["scene"] for r in rows} - {"all"})
    lines = [
        f"# CR-MSS evaluation: `{subset}` subset of `{data}`",
        "",
        f"Model: `{model_file}` ({generator.count_params():,} parameters); crmss {__version__}. "
        f"{len(scenes)} scenes, {size10} px patches at 10 m.",
        "",
        "Conventions: reflectance = value / 10000 clipped to [0, 1], data range 1. PSNR (dB), SSIM "
        "(scikit-image's structural_similarity defaults: 7 x 7 uniform window, K1 0.01, K2 0.03), RMSE and MAE per "
        "band; SAM (degrees) over the bands of a stack, averaged over pixels. Every value is computed per patch, then "
        "averaged over the patches of a scene, or of all scenes for `all`; `mean_10m` and `mean_20m` average the bands. "
        "Methods: `crmss` (the generator), `cloudy_input` (the cloudy patch unchanged), `dark_channel_prior` (He et al. "
        "2011, adapted to the S2 stacks: crmss/classical.py).",
        "",
        "## All scenes",
        "",
    ]
    for metric in METRIC_NAMES:
        bands = [f"mean_{r}" for r in STACKS] if metric == "SAM" else [*BANDS_10M, "mean_10m", *BANDS_20M, "mean_20m"]
        lines += [f"### {metric}", "", "| band | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
        lines += ["| " + band + " | " + " | ".join(f"{values[(m, 'all', band, metric)]:.4f}" for m in METHODS) + " |" for band in bands]
        lines.append("")
    lines += ["## Per scene (band means)", "", "| scene | resolution | metric | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 3) + "|"]
    for scene in scenes:
        for res in STACKS:
            for metric in METRIC_NAMES:
                cells = " | ".join(f"{values[(m, scene, f'mean_{res}', metric)]:.4f}" for m in METHODS)
                lines.append(f"| {scene} | {res} | {metric} | {cells} |")
    lines.append("")
    if comparison:
        lines += [f"## Beside the reference table `{reference}`", "",
                  "| reference method | scene | band | metric | reference | crmss | difference |", "|---" * 7 + "|"]
        lines += [f"| {c['reference_method']} | {c['scene']} | {c['band']} | {c['metric']} | {c['reference']:.4f} | "
                  f"{c['crmss']:.4f} | {c['difference']:+.4f} |" for c in comparison]
        lines.append("")
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figure_files] + [""]
    lines += ["## The run's configuration", "", "```json", json.dumps(run_config.get("options", {}), indent=1), "```", ""]
    return "\n".join(lines)
