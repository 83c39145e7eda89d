"""Evaluation figures (matplotlib; each a PNG and, beside it, a vector PDF for papers): sample
patches, per-band bars, predicted vs clear.

* ``samples.png``: per sample patch one row in true colour (B04, B03, B02), one in false colour
  (B12, B8A, B04, 20 m), each cloudy | every method | clear with one stretch per row (the 2nd
  and 98th percentiles of the clear patch), and one row of difference maps, each panel minus
  the clear patch in reflectance (the mean of B02, B03 and B04), on one symmetric scale per
  sample with its colourbar; a method without a 20 m output says so in its false-colour panel;
* ``bands_psnr_ssim.png``: PSNR and SSIM per band and method over all scenes and pixels, the
  legend above the bars;
* ``<model>_vs_clear.png``: 2-D histograms of the first model's reflectance against the clear
  one per band;
* ``learning_curves.png`` (``crmss reproduce``): validation PSNR per epoch of the trained models
  beside the cloudy input and the classical methods, one panel per stack, and below it the
  models' checkerboard per epoch; whole epochs on the axis.

Each is a matplotlib ``Figure`` saved straight to PNG, without pyplot: no backend is chosen and
no window opens, whatever the caller's matplotlib set-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..core.bands import BANDS_10M, BANDS_20M
from .results import where


def write_figures(
    folder: Path,
    results: pd.DataFrame,
    methods: list[str],
    samples: list[dict],
    histograms: dict,
    model: str | None,
) -> list[Path]:
    """Write the figures into ``folder``; return their paths. ``results``: the results table
    (crmss/evaluation/results.py); ``methods`` in the tables' order (the cloudy input last);
    ``model``: the method whose histograms are given, if any."""
    files = [_bars(folder / "bands_psnr_ssim.png", results, methods)]
    if model:
        files.append(_histograms(folder / f"{model}_vs_clear.png", histograms, model))
    if samples:
        panels = [
            ("cloudy_input", "cloudy"),
            *((m, m) for m in methods if m != "cloudy_input"),
            ("clear", "clear"),
        ]
        files.insert(0, _samples(folder / "samples.png", samples, panels))
    return files


def _composite(images: tuple[np.ndarray, np.ndarray | None], colour: str) -> np.ndarray | None:
    """True colour from the 10 m stack; false colour B12, B8A and B04 (averaged to 20 m)."""
    ten, twenty = images
    if colour == "true":
        return ten[..., [2, 1, 0]]
    if twenty is None:  # a Vis/NIR model: no 20 m output
        return None
    red = ten[..., 2].reshape(twenty.shape[0], 2, twenty.shape[1], 2).mean(axis=(1, 3))
    return np.dstack([twenty[..., 5], twenty[..., 3], red])


def _samples(path: Path, samples: list[dict], panels: list[tuple[str, str]]) -> Path:
    fig = Figure(figsize=(2.6 * len(panels), 7.8 * len(samples)), layout="constrained")
    axes = fig.subplots(3 * len(samples), len(panels), squeeze=False)
    for index, sample in enumerate(samples):
        rows = axes[3 * index : 3 * index + 3]
        for row, colour in zip(rows, ("true", "false")):
            _colour_row(row, sample, panels, colour)
        _difference_row(fig, rows[2], sample, panels)
        for row, label in zip(rows, ("B04 B03 B02", "B12 B8A B04", "minus clear")):
            row[0].set_ylabel(f"{sample['pair']} #{sample['window']}\n{label}", fontsize=9)
    for ax, (_, title) in zip(axes[0], panels):
        ax.set_title(title, fontsize=11)
    return _save(fig, path, 80)


def _colour_row(row, sample: dict, panels: list[tuple[str, str]], colour: str) -> None:
    """True or false colour composites of a sample, stretched alike (the clear patch's 2nd and
    98th percentiles per band)."""
    reference = _composite(sample["clear"], colour)
    assert reference is not None  # the clear patch has both stacks
    low, high = np.percentile(reference, (2, 98), axis=(0, 1))
    for ax, (key, _) in zip(row, panels):
        composite = _composite(sample[key], colour)
        if composite is None:
            ax.text(0.5, 0.5, "no 20 m output", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.imshow(np.clip((composite - low) / np.maximum(high - low, 1e-6), 0, 1))
        ax.set_xticks([])
        ax.set_yticks([])


def _difference_row(fig: Figure, row, sample: dict, panels: list[tuple[str, str]]) -> None:
    """Each panel's visible bands minus the clear patch's (their mean, in reflectance), on one
    symmetric scale: the 99th percentile of the cloudy input's difference; the clear panel's
    place holds the colourbar."""
    clear = sample["clear"][0][..., :3].mean(axis=-1)
    differences = {key: sample[key][0][..., :3].mean(axis=-1) - clear for key, _ in panels[:-1]}
    limit = max(float(np.percentile(np.abs(differences["cloudy_input"]), 99)), 1e-3)
    for ax, (key, _) in zip(row, panels):
        ax.set_xticks([])
        ax.set_yticks([])
        if key == "clear":
            ax.set_axis_off()
            continue
        image = ax.imshow(differences[key], cmap="RdBu_r", vmin=-limit, vmax=limit)
    label = "minus clear, reflectance\n(mean of B02, B03, B04)"
    fig.colorbar(image, ax=row[-1], location="left", fraction=0.5, label=label)


def _bars(path: Path, results: pd.DataFrame, methods: list[str]) -> Path:
    bands = list(BANDS_10M + BANDS_20M)
    values = where(results, scene="all", pixels="all").set_index(["method", "band", "metric"])[
        "value"
    ]
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(methods)
    for ax, metric in zip(axes, ("PSNR", "SSIM")):
        for i, method in enumerate(methods):
            ax.bar(
                np.arange(len(bands)) + i * width,
                [values.get((method, b, metric), np.nan) for b in bands],
                width,
                label=method,
            )
        ax.set_ylabel(f"{metric}{' (dB)' if metric == 'PSNR' else ''}")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(methods), 6))
    axes[1].set_xticks(np.arange(len(bands)) + 0.4 - width / 2, bands)
    axes[0].set_title("All scenes, per band")
    return _save(fig, path, 80)


def _histograms(path: Path, histograms: dict, model: str) -> Path:
    fig = Figure(figsize=(15, 6.4), layout="constrained")
    axes = fig.subplots(2, 5)
    for ax, band in zip(axes.ravel(), BANDS_10M + BANDS_20M):
        counts = histograms[band]
        # bins of 0.006
        ax.imshow(np.log1p(counts.T), origin="lower", extent=(0, 0.6, 0, 0.6), cmap="viridis")
        ax.plot([0, 0.6], [0, 0.6], color="white", linewidth=0.6)
        ax.set_title(band, fontsize=10)
        ax.set_xlabel("clear reflectance", fontsize=8)
        ax.set_ylabel(f"{model} reflectance", fontsize=8)
    fig.suptitle(f"{model} against clear, all patches (log counts)")
    return _save(fig, path, 80)


def plot_learning_curves(path: Path, curves: pd.DataFrame) -> Path:
    """One column per stack (10 m, 20 m): PSNR in dB against the epoch for every method of
    ``curves`` (a DataFrame: method, epoch, stack, psnr and, if known, checkerboard), the methods
    given at two epochs only (the ends of a constant line) dashed; below, where the models'
    checkerboard is known, its dB above the truth's per epoch."""
    stacks = list(dict.fromkeys(curves["stack"]))
    # one per method in every panel
    colours = {method: f"C{i}" for i, method in enumerate(dict.fromkeys(curves["method"]))}
    checkered = "checkerboard" in curves and curves["checkerboard"].notna().any()
    rows = 2 if checkered else 1
    figure = Figure(figsize=(6 * len(stacks), 4 * rows), layout="constrained")
    axes = figure.subplots(rows, len(stacks), squeeze=False)
    for column, stack in enumerate(stacks):
        ax = axes[0, column]
        for method, line in curves[curves["stack"] == stack].groupby("method", sort=False):
            constant = len(line) == 2 and line["psnr"].nunique() == 1
            style = "--" if constant else "-o"
            ax.plot(line["epoch"], line["psnr"], style, color=colours[method], markersize=3,
                    label=method)  # fmt: skip
        ax.set(
            title=f"{stack} bands: validation PSNR (mean over bands)",
            xlabel="epoch",
            ylabel="PSNR (dB)",
        )
        _epochs_and_legend(ax)
        if checkered:
            _plot_checkerboard(axes[1, column], curves[curves["stack"] == stack], colours)
    return _save(figure, path, 110)


def _plot_checkerboard(ax, curves: pd.DataFrame, colours: dict[str, str]) -> None:
    """The models' checkerboard per epoch of one stack, 0 dB (the truth's) marked."""
    for method, line in curves.dropna(subset=["checkerboard"]).groupby("method", sort=False):
        ax.plot(line["epoch"], line["checkerboard"], "-o", color=colours[method], markersize=3,
                label=method)  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8, linestyle=":", label="the truth's")
    ax.set(
        title=f"{curves['stack'].iloc[0]} bands: checkerboard of the output",
        xlabel="epoch",
        ylabel="power at Nyquist above the truth's (dB)",
    )
    _epochs_and_legend(ax)


def _epochs_and_legend(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _save(figure: Figure, path: Path, dpi: int) -> Path:
    """``figure`` as the PNG ``path`` and a vector PDF beside it; returns the PNG's path."""
    figure.savefig(path, dpi=dpi)
    figure.savefig(path.with_suffix(".pdf"))
    return path
