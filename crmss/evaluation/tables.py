"""The renderings of results tables (crmss/evaluation/results.py): methods x bands tables in
Markdown and
LaTeX (booktabs, ``tables.tex``), the comparison with a reference table, and the two reports:
``crmss test``'s ``report.md`` and ``crmss report``'s merged one with the ablation table.

A table is methods x bands for one metric and one class of pixels (all, cloud-affected,
clear), over all scenes: a pivot of the results. The best value of each column is marked
(bold): the highest PSNR and SSIM, the lowest RMSE, MAE and SAM. A method without a stack (a
Vis/NIR model at 20 m) has empty cells there. Reference values are shown only as the reference
table gives them, never as the paper's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.bands import BANDS_10M, STACKS
from .results import BASELINE, HIGHER_IS_BETTER, METRIC_NAMES, PIXELS, UNITS, columns_of, where

#: how the reports describe the classical methods (crmss/evaluation/classical.py)
CLASSICAL_TEXT = {
    "dark_channel_prior": "the dark channel prior (He, Sun and Tang 2011), adapted to the S2 "
    "stacks (crmss/evaluation/classical.py)",
    "hot": "the haze-optimised transform (Zhang, Guindon and Cihlar 2002) with dark-object "
    "subtraction by HOT level (crmss/evaluation/classical.py)",
}


def method_table(
    results: pd.DataFrame, methods: list[str], metric: str, pixels: str, scene: str = "all"
) -> pd.DataFrame:
    """Methods (rows, in the order given) x ``columns_of(metric)``: the values over ``scene``,
    NaN where a method has none."""
    chosen = where(results, metric=metric, pixels=pixels, scene=scene)
    return chosen.pivot(index="method", columns="band", values="value").reindex(
        index=methods, columns=columns_of(metric)
    )


def best_cells(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Whether each cell of a :func:`method_table` holds the best value of its column."""
    return table.eq(table.max() if HIGHER_IS_BETTER[metric] else table.min())


def number(value: float, metric: str) -> str:
    """A value as the tables show it: 2 decimals for PSNR and SAM, 4 for the others, inf as inf."""
    return (
        "inf"
        if math.isinf(value)
        else f"{value:.2f}"
        if metric in ("PSNR", "SAM")
        else f"{value:.4f}"
    )


def pipe_table(header: list[str], rows: list[list[str]], numeric: bool = True) -> list[str]:
    """A Markdown table (numbers right-aligned after the first column where ``numeric``).

    Written here rather than with ``DataFrame.to_markdown``, whose tabulate pads every cell to
    its column's width: these tables are read as text, diffed and grepped line by line."""
    rule = "|---" + ("|---:" if numeric else "|---") * (len(header) - 1) + "|"
    return [
        "| " + " | ".join(header) + " |",
        rule,
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown_table(
    results: pd.DataFrame,
    methods: list[str],
    metric: str,
    pixels: str,
    scene: str = "all",
    label: str = "method",
) -> list[str]:
    """A Markdown methods x bands table, the best of each column in bold, empty cells as –."""
    table = method_table(results, methods, metric, pixels, scene)
    text = table.map(lambda v: "–" if math.isnan(v) else number(v, metric))
    text = text.mask(best_cells(table, metric), "**" + text + "**")
    return pipe_table(
        [label, *table.columns],
        [[method, *cells] for method, cells in zip(text.index, text.to_numpy().tolist())],
    )


def latex_table(
    results: pd.DataFrame,
    methods: list[str],
    metric: str,
    pixels: str,
    caption: str,
    scene: str = "all",
) -> str:
    """The same table as LaTeX (booktabs, ``\\small``), ready to paste: pandas' Styler, the best
    of each column in bold."""
    table = method_table(results, methods, metric, pixels, scene)
    columns = [c.replace("mean_", "mean ") for c in table.columns]
    frame = table.set_axis(columns, axis=1).reset_index(names="Method")
    styler = frame.style.hide(axis="index").format(escape="latex", subset=["Method"])
    styler = styler.format(lambda v: number(v, metric), subset=columns, na_rep="--")
    highlight = styler.highlight_max if HIGHER_IS_BETTER[metric] else styler.highlight_min
    styler = highlight(subset=columns, props="textbf:--rwrap;").set_table_styles(
        [{"selector": "small", "props": ":;"}], overwrite=False
    )
    layout = {
        "position": "ht",
        "position_float": "centering",
        "hrules": True,
        "column_format": "l" + "r" * len(columns),
    }
    return styler.to_latex(caption=latex_text(caption), **layout)


def latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters that names and labels may hold escaped."""
    return re.sub(r"([_&%#$])", r"\\\1", text)


def metric_title(metric: str, pixels: str) -> str:
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    better = "higher is better" if HIGHER_IS_BETTER[metric] else "lower is better"
    return f"{metric}{unit}, {PIXELS[pixels]}, {better}"


def present_tables(results: pd.DataFrame) -> Iterator[tuple[str, str]]:
    """(pixels, metric) of every table that ``results`` fill, in the reports' order."""
    present = set(zip(results["pixels"], results["metric"]))
    yield from (
        (pixels, metric)
        for pixels in PIXELS
        for metric in METRIC_NAMES
        if (pixels, metric) in present
    )


def latex_document(sections: list[tuple[str, pd.DataFrame, list[str]]]) -> str:
    """``tables.tex``: for every (title, results, methods) section, one table per class of pixels
    and metric."""
    tables = [
        latex_table(results, methods, metric, pixels, f"{title}: {metric_title(metric, pixels)}")
        for title, results, methods in sections
        for pixels, metric in present_tables(results)
    ]
    return "\n".join(
        [
            "% Tables written by crmss; needs \\usepackage{booktabs}. Bold: the best "
            "value of each column.",
            "",
            *tables,
        ]
    )


def comparison_lines(comparison: pd.DataFrame, reference: Path | None) -> list[str]:
    """The reference comparison as a Markdown section; its columns are the comparison's (an
    ``evaluation`` column first where ``crmss report`` adds one)."""
    forms = {"reference": "{:.4f}", "ours": "{:.4f}", "difference": "{:+.4f}"}

    def cell(value, column: str) -> str:
        if isinstance(value, float) and math.isnan(value):
            return "–"
        return (
            "inf"
            if isinstance(value, float) and math.isinf(value)
            else forms.get(column, "{}").format(value)
        )

    rows = [
        [cell(value, column) for column, value in row.items()]
        for row in comparison.to_dict("records")
    ]
    return [
        f"## Beside the reference table `{reference}`",
        "",
        "Values of the reference table as given, ours beside them, and ours minus the reference.",
        "",
        *pipe_table(list(comparison.columns), rows, numeric=False),
        "",
    ]


# ---- crmss test: report.md and tables.tex ---------------------------------------------------


def evaluation_title(info: dict) -> str:
    """What an evaluation's tables.tex calls it: the subset, the data's folder and whether it is
    simulated."""
    return f"{info['subset']} subset of {Path(info['data']).name}" + (
        " (simulated)" if info["simulation"] else ""
    )


def evaluation_report(
    results: pd.DataFrame,
    info: dict,
    comparison: pd.DataFrame | None,
    reference: Path | None,
    figure_files: list[Path],
) -> str:
    """report.md of ``crmss test``: what was evaluated, the methods x bands tables on all,
    cloud-affected and clear pixels, per-scene band means with the cloud-affected fraction, the
    reference comparison, the figures and each model's configuration."""
    methods = list(info["methods"])
    lines = _evaluation_header(info, len(set(results["scene"]) - {"all"}))
    for pixels in PIXELS:
        lines += [f"## {PIXELS[pixels].capitalize()}", ""]
        for metric in METRIC_NAMES:
            lines += (
                [f"### {metric_title(metric, pixels)}", ""]
                + markdown_table(results, methods, metric, pixels)
                + [""]
            )
    lines += _per_scene(results, methods, info["cloud_fraction"])
    if comparison is not None:
        lines += comparison_lines(comparison, reference)
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figure_files] + [""]
    for name, method in info["methods"].items():
        if method["kind"] == "model" and method["options"]:
            lines += [
                f"## Training configuration of `{name}`",
                "",
                "```json",
                json.dumps(method["options"], indent=1),
                "```",
                "",
            ]
    return "\n".join(lines)


def _evaluation_header(info: dict, scenes: int) -> list[str]:
    """report.md's title, the methods evaluated and the conventions."""
    about = []
    for name, method in info["methods"].items():
        if method["kind"] == "model":
            bands = (
                "Vis/NIR only (no VRE/SWIR: no 20 m output)"
                if method["bands"] == "visnir"
                else "all ten bands"
            )
            about.append(
                f"`{name}`: `{method['source']}`, {method['parameters']:,} parameters, {bands}"
            )
    about += [
        f"`{m}`: {CLASSICAL_TEXT[m]}"
        for m, a in info["methods"].items()
        if a["kind"] == "classical"
    ]
    about.append(f"`{BASELINE}`: the cloudy patch unchanged")
    simulated = info["simulation"]
    lines = [
        f"# CR-MSS evaluation: `{info['subset']}` subset of "
        f"`{info['data']}`" + (" (simulated testing set)" if simulated else ""),
        "",
        f"crmss {info['crmss_version']}; {scenes} scenes, {info['patches']} patch pairs of "
        f"{info['patch_size']} px at 10 m; "
        f"the models computed in {info['precision']}.",
        "",
        "Methods:",
        "",
        *[f"* {line}" for line in about],
        "",
        "Conventions: reflectance = value / 10000 clipped to [0, 1], data range 1. PSNR (dB), SSIM "
        "(scikit-image's structural_similarity defaults: 7 x 7 uniform window, K1 0.01, K2 0.03), "
        "RMSE and MAE per "
        "band; SAM (degrees) over the bands of a stack, averaged over pixels. Every value is "
        "computed per patch, then "
        "averaged over the patches of a scene, or of all scenes for `all`; `mean_10m` and "
        "`mean_20m` average the bands. "
        "Bold: the best value of each column.",
        "",
        "Cloud-affected pixels: at 10 m where B02 of the cloudy patch exceeds B02 of the clear "
        "patch by more than "
        f"{info['cloud_threshold']} reflectance, at 20 m where any of the four 10 m pixels is; "
        "the clear pixels are the others. "
        f"{100 * info['cloud_fraction']['all']:.1f}% of the 10 m pixels are cloud-affected. A "
        "patch without a pixel of a "
        "class gives no value for it.",
        "",
    ]
    if info.get("mask", "none") != "none":
        lines += [
            "The models' outputs are scored as `crmss predict` writes them (`--mask "
            f"{info['mask']}`): the network's output where the cloudy patch's thin-cloud measure "
            "finds cloud, blended into the cloudy input elsewhere; the classical methods as they "
            "are.",
            "",
        ]
    if simulated:
        lines += [
            "Simulated thin cloud over the clear patches (crmss simulate): "
            f"{json.dumps(simulated)}.",
            "",
        ]
    return lines


def _per_scene(
    results: pd.DataFrame, methods: list[str], cloud_fraction: dict[str, float]
) -> list[str]:
    """The per-scene table: band means of every metric on all pixels, per scene and resolution."""
    means = (
        where(results, pixels="all")
        .pivot(index=["scene", "band", "metric"], columns="method", values="value")
        .reindex(columns=methods)
    )
    rows = []
    for scene in sorted(set(results["scene"]) - {"all"}):
        for res in STACKS:
            for metric in METRIC_NAMES:
                key = (scene, f"mean_{res}", metric)
                values = (
                    means.loc[key] if key in means.index else pd.Series(math.nan, index=methods)
                )
                cells = ["–" if math.isnan(v) else f"{v:.4f}" for v in values]
                rows.append([scene, f"{100 * cloud_fraction[scene]:.1f}%", res, metric, *cells])
    return [
        "## Per scene (band means, all pixels)",
        "",
        *pipe_table(["scene", "cloud-affected", "resolution", "metric", *methods], rows, False),
        "",
    ]


# ---- crmss report: the merged report.md ------------------------------------------------------


@dataclass
class Section:
    """One evaluated data set of ``crmss report``: its label, the evaluation record of its first
    source, the results of its methods, the methods (name -> evaluation.json's entry, with
    ``from``: the source) and the RESULTS folders merged into it."""

    label: str
    info: dict
    results: pd.DataFrame
    methods: dict[str, dict]
    sources: list[str]

    @property
    def title(self) -> str:
        return f"{self.label}{' (simulated testing set)' if self.info.get('simulation') else ''}"


def merged_report(
    sections: list[Section], comparison: pd.DataFrame | None, reference: Path | None
) -> str:
    """report.md of ``crmss report``: per section, its tables and its ablation table; then the
    reference comparison."""
    lines = [
        "# CR-MSS experiments: merged tables",
        "",
        "Written by `crmss report` from the evaluations below. Bold: the best value of each "
        "column within a table. "
        "Metrics and conventions as in each evaluation's report.md.",
        "",
    ]
    for section in sections:
        info = section.info
        lines += [
            f"## {section.title}",
            "",
            f"`{info['subset']}` subset of `{info['data']}`, {info.get('patches', '?')} patch "
            "pairs; cloud-affected pixels: "
            f"{100 * info['cloud_fraction']['all']:.1f}% at 10 m (threshold "
            f"{info['cloud_threshold']}); models scored "
            + (
                "as `crmss predict` writes them (`--mask " + info["mask"] + "`)"
                if info.get("mask", "none") != "none"
                else "on their raw output"
            )
            + ". From "
            + ", ".join(f"`{s}`" for s in section.sources)
            + ".",
            "",
        ]
        for pixels, metric in present_tables(section.results):
            lines += (
                [f"### {metric_title(metric, pixels)}", ""]
                + markdown_table(section.results, list(section.methods), metric, pixels)
                + [""]
            )
        lines += ablation_lines(section)
    if comparison is not None:
        lines += comparison_lines(comparison, reference)
    return "\n".join(lines)


def ablation_lines(section: Section) -> list[str]:
    """The ablation table of a section: each 10 m band, PSNR and SSIM on all pixels, of every
    model trained with VRE/SWIR (bands all) and without (visnir); nothing without both kinds."""
    models = {m: a for m, a in section.methods.items() if a["kind"] == "model"}
    full = [m for m, a in models.items() if a["stacks"] == ["10m", "20m"]]
    visnir = [m for m, a in models.items() if a["stacks"] == ["10m"]]
    if not full or not visnir:
        return []
    values = where(section.results, scene="all", pixels="all").set_index(
        ["method", "band", "metric"]
    )["value"]
    chosen = [(m, metric) for m in full + visnir for metric in ("PSNR", "SSIM")]
    head = [f"{m} ({'with' if m in full else 'without'} VRE/SWIR) {metric}" for m, metric in chosen]
    rows = [
        [
            band,
            *(
                number(values[m, band, metric], metric)
                if (m, band, metric) in values.index
                else "–"
                for m, metric in chosen
            ),
        ]
        for band in (*BANDS_10M, "mean_10m")
    ]
    return [
        "### Ablation: with and without the VRE/SWIR bands (10 m bands, all pixels)",
        "",
        *pipe_table(["band", *head], rows),
        "",
    ]
