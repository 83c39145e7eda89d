"""The tables of evaluations: ``metrics.csv`` read and written, comparisons with a reference
table, ``report.md`` and ``tables.tex`` (booktabs), and ``crmss report``, which merges several
evaluations (the real and the simulated testing set, runs with and without VRE/SWIR) into one
set of tables with the ablation table.

A table is methods x bands for one metric and one class of pixels (all, cloud-affected,
clear), over all scenes; the best value of each column is marked (bold): the highest PSNR and
SSIM, the lowest RMSE, MAE and SAM. A method without a stack (a Vis/NIR model at 20 m) has
empty cells there. Reference values are shown only as the reference table gives them, never as
the paper's.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path

from .bands import BANDS_10M, BANDS_20M
from .errors import InputError
from .files import LOCK, output_folder, replaced_atomically
from .options import ReportOptions, named_path
from .schemas import EVALUATION, read_json

logger = logging.getLogger(__name__)

COLUMNS = ["method", "scene", "pixels", "band", "metric", "value"]
METRIC_NAMES = ("PSNR", "SSIM", "RMSE", "MAE", "SAM")
HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "RMSE": False, "MAE": False, "SAM": False}
UNITS = {"PSNR": "dB", "SSIM": "", "RMSE": "reflectance", "MAE": "reflectance", "SAM": "degrees"}
PIXELS = {"all": "all pixels", "cloud": "cloud-affected pixels", "clear": "clear pixels"}
#: the do-nothing baseline, as the tables name it
BASELINE = "cloudy_input"
BAND_ROWS = (*BANDS_10M, "mean_10m", *BANDS_20M, "mean_20m")
#: marks a folder written by ``crmss report``, which the next report may replace
REPORT_MARKER = ".crmss-report"


def columns_of(metric: str) -> list[str]:
    """The band columns of a metric's table: every band and the means, or the means for SAM."""
    return ["mean_10m", "mean_20m"] if metric == "SAM" else list(BAND_ROWS)


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_metrics_csv(path: Path, methods: list[str] | None = None, extra: tuple[str, ...] = (), scenes: set[str] | None = None) -> list[dict]:
    """Rows of a long-format metrics CSV (``method, scene, [pixels,] band, metric, value``;
    without ``pixels`` every row is on all pixels). ``methods``: the methods rows may name
    (others are refused); ``scenes``: the scenes they may name besides ``all``; ``extra``:
    optional further columns kept as they are. Every row is checked: a known pixel class,
    metric and band, a number within the metric's range (PSNR may be +inf, of identical
    images; nothing else may be infinite or NaN), no row twice."""
    hint = "expected a CSV with the header 'method,scene,pixels,band,metric,value' (pixels optional; the format of metrics.csv)"
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [f.strip() for f in reader.fieldnames or []]
            required = [c for c in COLUMNS if c != "pixels"]
            if not set(required) <= set(header) or set(header) - set(COLUMNS) - set(extra):
                raise InputError(f"{path}, line 1: {hint}")
            rows, seen = [], {}
            for line, row in enumerate(reader, start=2):
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                try:
                    value = float(row["value"])
                except ValueError as exc:
                    raise InputError(f"{path}, line {line}: {row['value']!r} is not a number; {hint}") from exc
                record = {
                    "method": row["method"],
                    "scene": row["scene"],
                    "pixels": row.get("pixels") or "all",
                    "band": row["band"],
                    "metric": row["metric"],
                    "value": value,
                }
                record.update({k: row[k] for k in extra if row.get(k)})
                _check_row(path, line, record, methods, scenes)
                key = (*(record.get(k) for k in extra), *_key(record))
                if key in seen:
                    raise InputError(
                        f"{path}, line {line}: the same {', '.join(map(str, filter(None, key)))} as line {seen[key]}; give each value once"
                    )
                seen[key] = line
                rows.append(record)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the table ({exc}); {hint}") from exc
    if not rows:
        raise InputError(f"{path}: the table has no rows; {hint}")
    return rows


#: the values each metric can take (PSNR: +inf for identical images)
METRIC_RANGE = {"PSNR": (0.0, math.inf), "SSIM": (-1.0, 1.0), "RMSE": (0.0, 1.0), "MAE": (0.0, 1.0), "SAM": (0.0, 180.0)}


def _check_row(path: Path, line: int, row: dict, methods: list[str] | None, scenes: set[str] | None) -> None:
    where = f"{path}, line {line}"
    if row["pixels"] not in PIXELS:
        raise InputError(f"{where}: pixels {row['pixels']!r} is not one of {', '.join(PIXELS)}")
    if row["metric"] not in METRIC_NAMES:
        raise InputError(f"{where}: unknown metric {row['metric']!r}; use {', '.join(METRIC_NAMES)}")
    if row["band"] not in columns_of(row["metric"]):
        raise InputError(f"{where}: {row['metric']} has no band {row['band']!r}; use {', '.join(columns_of(row['metric']))}")
    low, high = METRIC_RANGE[row["metric"]]
    value = row["value"]
    if not low <= value <= high:  # NaN compares false
        raise InputError(f"{where}: {row['metric']} {value} is not a value the metric takes; give a number in [{low:g}, {high:g}]")
    if scenes is not None and row["scene"] not in scenes | {"all"}:
        raise InputError(f"{where}: unknown scene {row['scene']!r}; the scenes are all, {', '.join(sorted(scenes - {'all'}))}")
    if methods is not None and row["method"] not in methods:
        raise InputError(
            f"{where}: unknown method {row['method']!r}; the evaluation's methods are {', '.join(methods)}: name the reference's "
            "rows after them (a model is named with --model NAME=RUN)"
        )


def compare(rows: list[dict], reference: list[dict]) -> list[dict]:
    """Each reference value beside ours (the same method, scene, pixels, band and metric; NaN
    where we have none) and the difference, ours minus the reference."""
    ours = {_key(r): r["value"] for r in rows}
    table = []
    for ref in reference:
        mine = ours.get(_key(ref), math.nan)
        table.append({**{k: ref[k] for k in COLUMNS[:5]}, "reference": ref["value"], "ours": mine, "difference": mine - ref["value"]})
    return table


def _key(row: dict) -> tuple:
    return row["method"], row["scene"], row["pixels"], row["band"], row["metric"]


# ---- tables -------------------------------------------------------------------------------


def method_table(rows: list[dict], methods: list[str], metric: str, pixels: str, scene: str = "all") -> list[list]:
    """Rows ``[method, value or None, ...]`` over ``columns_of(metric)``, with the best value of
    each column as a (value, True) pair: the content both report formats render."""
    values = {(r["method"], r["band"]): r["value"] for r in rows if r["metric"] == metric and r["pixels"] == pixels and r["scene"] == scene}
    columns = columns_of(metric)
    best = {}
    for band in columns:
        present = [values[m, band] for m in methods if (m, band) in values and not math.isnan(values[m, band])]
        if present:
            best[band] = max(present) if HIGHER_IS_BETTER[metric] else min(present)
    return [
        [method] + [(values[method, b], values[method, b] == best.get(b)) if (method, b) in values else None for b in columns] for method in methods
    ]


def _number(value: float, metric: str) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}" if metric in ("PSNR", "SAM") else f"{value:.4f}"


def markdown_table(rows, methods, metric, pixels, scene="all", label="method") -> list[str]:
    """A Markdown methods x bands table, the best of each column in bold, empty cells as –."""
    columns = columns_of(metric)
    lines = [f"| {label} | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
    for method, *cells in method_table(rows, methods, metric, pixels, scene):
        text = ["–" if c is None else (f"**{_number(c[0], metric)}**" if c[1] else _number(c[0], metric)) for c in cells]
        lines.append(f"| {method} | " + " | ".join(text) + " |")
    return lines


def latex_table(rows, methods, metric, pixels, caption: str, scene="all") -> list[str]:
    """The same table as LaTeX (booktabs), ready to paste."""
    columns = columns_of(metric)
    head = " & ".join(_latex(c.replace("mean_", "mean ")) for c in columns)
    lines = [
        "\\begin{table}[ht]",
        "\\centering",
        f"\\caption{{{_latex(caption)}}}",
        "\\small",
        f"\\begin{{tabular}}{{l{'r' * len(columns)}}}",
        "\\toprule",
        f"Method & {head} \\\\",
        "\\midrule",
    ]
    for method, *cells in method_table(rows, methods, metric, pixels, scene):
        text = ["--" if c is None else (f"\\textbf{{{_number(c[0], metric)}}}" if c[1] else _number(c[0], metric)) for c in cells]
        lines.append(f"{_latex(method)} & " + " & ".join(text) + " \\\\")
    return lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]


def _latex(text: str) -> str:
    return re.sub(r"([_&%#$])", r"\\\1", text)


def metric_title(metric: str, pixels: str) -> str:
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    better = "higher is better" if HIGHER_IS_BETTER[metric] else "lower is better"
    return f"{metric}{unit}, {PIXELS[pixels]}, {better}"


def latex_document(sections: list[tuple[str, list[dict], list[str]]]) -> str:
    """``tables.tex``: for every (title, rows, methods) section, one table per class of pixels and metric."""
    lines = ["% Tables written by crmss; needs \\usepackage{booktabs}. Bold: the best value of each column.", ""]
    for title, rows, methods in sections:
        for pixels, metric in present_tables(rows):
            lines += latex_table(rows, methods, metric, pixels, f"{title}: {metric_title(metric, pixels)}")
    return "\n".join(lines)


def comparison_lines(comparison: list[dict], reference: Path) -> list[str]:
    """The reference comparison as a Markdown section; its columns are those of the rows (an
    ``evaluation`` column first where ``crmss report`` adds one)."""
    columns = list(comparison[0]) if comparison else [*COLUMNS[:5], "reference", "ours", "difference"]
    numbers = {"reference": "{:.4f}", "ours": "{:.4f}", "difference": "{:+.4f}"}
    lines = [
        f"## Beside the reference table `{reference}`",
        "",
        "Values of the reference table as given, ours beside them, and ours minus the reference.",
        "",
        "| " + " | ".join(columns) + " |",
        "|---" * len(columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c[k], numbers.get(k, "{}")) for k in columns) + " |" for c in comparison]
    return lines + [""]


def _cell(value, form: str) -> str:
    """A comparison cell: ``form`` filled, or – where ours is missing (NaN), inf as inf."""
    if isinstance(value, float) and math.isnan(value):
        return "–"
    return "inf" if isinstance(value, float) and math.isinf(value) else form.format(value)


def present_tables(rows: list[dict]):
    """(pixels, metric) of every table that ``rows`` fill, in the reports' order."""
    for pixels in PIXELS:
        for metric in METRIC_NAMES:
            if any(r["pixels"] == pixels and r["metric"] == metric for r in rows):
                yield pixels, metric


# ---- crmss report ------------------------------------------------------------------------------


def merge_evaluations(options: ReportOptions) -> Path:
    """``crmss report``: the tables of several evaluations (``options.results``: folders of
    ``crmss test``, each also as ``LABEL=RESULTS``) in ``out/report.md``, ``out/tables.tex``
    and ``out/metrics.csv`` (with an ``evaluation`` column). Evaluations of the same data and
    subset are one section (their models side by side); a section with models trained with and
    without VRE/SWIR gets the ablation table. Returns ``out``."""
    out, reference = Path(options.out), options.reference
    evaluations = [_read_evaluation(str(text)) for text in options.results]
    sections: dict[tuple, dict] = {}
    for evaluation in evaluations:
        info = evaluation["info"]
        key = (info["data"], info["subset"], info["cloud_threshold"])
        section = sections.setdefault(key, {"label": None, "info": info, "rows": [], "methods": {}, "sources": []})
        if evaluation["label"] and section["label"] not in (None, evaluation["label"]):
            raise InputError(
                f"{evaluation['path']}: evaluates the same data as {section['sources'][0]}, labelled {section['label']!r}; "
                "give evaluations of the same data one label"
            )
        section["label"] = evaluation["label"] or section["label"]
        section["sources"].append(str(evaluation["path"]))
        for method, about in info["methods"].items():
            if method in section["methods"]:
                if about["kind"] == "model":
                    raise InputError(
                        f"{evaluation['path']}: method {method!r} is also in {section['methods'][method]['from']} "
                        "on the same data; name the models apart (test.py --model NAME=RUN)"
                    )
                continue  # the classical methods and the cloudy input are the same on the same data
            section["methods"][method] = {**about, "from": str(evaluation["path"])}
            section["rows"] += [r for r in evaluation["rows"] if r["method"] == method]
    for section in sections.values():
        section["label"] = section["label"] or f"{Path(section['info']['data']).name}/{section['info']['subset']}"
    labels = [s["label"] for s in sections.values()]
    if len(set(labels)) < len(labels):
        raise InputError(f"evaluations of different data share a label ({', '.join(labels)}); label them apart: LABEL=RESULTS")
    reference_rows = None
    if reference:
        known = sorted({m for s in sections.values() for m in s["methods"]})
        scenes = {r["scene"] for s in sections.values() for r in s["rows"]}
        reference_rows = read_metrics_csv(Path(reference), known, extra=("evaluation",), scenes=scenes)
        unknown = sorted({r["evaluation"] for r in reference_rows if "evaluation" in r} - set(labels))
        if unknown:
            raise InputError(f"{reference}: unknown evaluation {unknown[0]!r}; the evaluations are {', '.join(labels)}")
    return _write_merged(out, list(sections.values()), reference, reference_rows)


def _read_evaluation(text: str) -> dict:
    label, path = named_path(text)
    info_file = path / "evaluation.json"
    if not info_file.is_file():
        raise InputError(f"{path}: not the results of 'crmss test' (no evaluation.json); give RESULTS folders written by 'crmss test'")
    info = read_json(info_file, EVALUATION, "it was not written by this crmss: evaluate again with 'crmss test'")
    rows = read_metrics_csv(path / "metrics.csv", list(info["methods"]), scenes=set(info["cloud_fraction"]))
    return {"label": label, "path": path, "info": info, "rows": rows}


def _write_merged(out: Path, sections: list[dict], reference, reference_rows) -> Path:
    lines = [
        "# CR-MSS experiments: merged tables",
        "",
        "Written by `crmss report` from the evaluations below. Bold: the best value of each column within a table. "
        "Metrics and conventions as in each evaluation's report.md.",
        "",
    ]
    files, merged_rows, latex_sections = {}, [], []
    for section in sections:
        methods, rows, info = list(section["methods"]), section["rows"], section["info"]
        simulated = " (simulated testing set)" if info.get("simulation") else ""
        lines += [
            f"## {section['label']}{simulated}",
            "",
            f"`{info['subset']}` subset of `{info['data']}`, {info.get('patches', '?')} patch pairs; cloud-affected pixels: "
            f"{100 * info['cloud_fraction']['all']:.1f}% at 10 m (threshold {info['cloud_threshold']}). From "
            + ", ".join(f"`{s}`" for s in section["sources"])
            + ".",
            "",
        ]
        for pixels, metric in present_tables(rows):
            lines += [f"### {metric_title(metric, pixels)}", ""] + markdown_table(rows, methods, metric, pixels) + [""]
        lines += ablation_lines(section)
        latex_sections.append((f"{section['label']}{simulated}", rows, methods))
        merged_rows += [{"evaluation": section["label"], **r} for r in rows]
    if reference_rows:
        comparison = []
        for section in sections:
            wanted = [r for r in reference_rows if r.get("evaluation", section["label"]) == section["label"] and r["method"] in section["methods"]]
            comparison += [{"evaluation": section["label"], **c} for c in compare(section["rows"], wanted)]
        lines += comparison_lines(comparison, reference)
        files["reference_comparison.csv"] = comparison
    files.update({"report.md": "\n".join(lines), "tables.tex": latex_document(latex_sections), "metrics.csv": merged_rows})
    with output_folder(out, "report", "the tables"):
        marker = out / REPORT_MARKER
        if any(p.name != LOCK for p in out.iterdir()) and not marker.exists():
            raise InputError(f"{out}: exists and holds other files; nothing is overwritten: choose a new --out for the tables")
        marker.write_text("written by crmss report; the next report into this folder replaces its tables\n")
        for name, content in files.items():  # each table is whole or absent
            with replaced_atomically(out / name) as tmp:
                if isinstance(content, str):
                    Path(tmp).write_text(content)
                else:
                    write_metrics_csv(Path(tmp), content)
    logger.info(f"tables of {len(sections)} evaluation(s) in {out}: {', '.join(files)}")
    return out


def ablation_lines(section: dict) -> list[str]:
    """The ablation table of a section: each 10 m band, PSNR and SSIM on all pixels, of every
    model trained with VRE/SWIR (bands all) and without (visnir); nothing without both kinds."""
    models = {m: a for m, a in section["methods"].items() if a["kind"] == "model"}
    full = [m for m, a in models.items() if a["stacks"] == ["10m", "20m"]]
    visnir = [m for m, a in models.items() if a["stacks"] == ["10m"]]
    if not full or not visnir:
        return []
    values = {(r["method"], r["band"], r["metric"]): r["value"] for r in section["rows"] if r["scene"] == "all" and r["pixels"] == "all"}
    chosen = full + visnir
    head = " | ".join(f"{m} ({'with' if m in full else 'without'} VRE/SWIR) {metric}" for m in chosen for metric in ("PSNR", "SSIM"))
    lines = [
        "### Ablation: with and without the VRE/SWIR bands (10 m bands, all pixels)",
        "",
        f"| band | {head} |",
        "|---" + "|---:" * (2 * len(chosen)) + "|",
    ]
    for band in (*BANDS_10M, "mean_10m"):
        cells = [_number(values[m, band, metric], metric) if (m, band, metric) in values else "–" for m in chosen for metric in ("PSNR", "SSIM")]
        lines.append(f"| {band} | " + " | ".join(cells) + " |")
    return lines + [""]
