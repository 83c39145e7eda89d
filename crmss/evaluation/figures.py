"""Evaluation figures (matplotlib, PNG): sample patches, per-band bars, predicted vs clear.

* ``samples.png``: per sample patch one row in true colour (B04, B03, B02) and one in false
  colour (B12, B8A, B04, 20 m), each row cloudy | every method | clear with one stretch per row
  (the 2nd and 98th percentiles of the clear patch); blank where a method has no 20 m output;
* ``bands_psnr_ssim.png``: PSNR and SSIM per band and method over all scenes and pixels;
* ``<model>_vs_clear.png``: 2-D histograms of the first model's reflectance against the clear
  one per band;
* ``learning_curves.png`` (``crmss reproduce``): validation PSNR per epoch of the trained models
  beside the cloudy input and the classical methods, one panel per stack.

Each is a matplotlib ``Figure`` saved straight to PNG, without pyplot: no backend is chosen and
no window opens, whatever the caller's matplotlib set-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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
    fig = Figure(figsize=(3 * len(panels), 6 * len(samples)))
    axes = fig.subplots(2 * len(samples), len(panels), squeeze=False)
    for index, sample in enumerate(samples):
        for offset, colour in enumerate(("true", "false")):
            row = axes[2 * index + offset]
            reference = _composite(sample["clear"], colour)
            if reference is None:
                continue  # never: the clear patch has both stacks
            low, high = np.percentile(reference, (2, 98), axis=(0, 1))
            for ax, (key, title) in zip(row, panels):
                composite = _composite(sample[key], colour)
                if composite is not None:
                    ax.imshow(np.clip((composite - low) / np.maximum(high - low, 1e-6), 0, 1))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{title}" if index == 0 and offset == 0 else "", fontsize=10)
            label = "B04 B03 B02" if colour == "true" else "B12 B8A B04"
            row[0].set_ylabel(f"{sample['pair']} #{sample['window']}\n{label}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def _bars(path: Path, results: pd.DataFrame, methods: list[str]) -> Path:
    bands = list(BANDS_10M + BANDS_20M)
    values = where(results, scene="all", pixels="all").set_index(["method", "band", "metric"])[
        "value"
    ]
    fig = Figure(figsize=(10, 6))
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
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(np.arange(len(bands)) + 0.4 - width / 2, bands)
    fig.suptitle("All scenes, per band")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def _histograms(path: Path, histograms: dict, model: str) -> Path:
    fig = Figure(figsize=(15, 6.4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def plot_learning_curves(path: Path, curves: pd.DataFrame) -> Path:
    """One panel per stack (10 m, 20 m): PSNR in dB against the epoch for every method of
    ``curves`` (a DataFrame: method, epoch, stack, psnr); the methods given at two epochs only
    (the ends of a constant line) are drawn dashed."""
    stacks = list(dict.fromkeys(curves["stack"]))
    # one per method in every panel
    colours = {method: f"C{i}" for i, method in enumerate(dict.fromkeys(curves["method"]))}
    figure = Figure(figsize=(6 * len(stacks), 4))
    axes = figure.subplots(1, len(stacks), squeeze=False)
    for ax, stack in zip(axes[0], stacks):
        for method, line in curves[curves["stack"] == stack].groupby("method", sort=False):
            constant = len(line) == 2 and line["psnr"].nunique() == 1
            ax.plot(
                line["epoch"],
                line["psnr"],
                "--" if constant else "-o",
                color=colours[method],
                markersize=3,
                label=method,
            )
        ax.set(
            title=f"{stack} bands: validation PSNR (mean over bands)",
            xlabel="epoch",
            ylabel="PSNR (dB)",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path
