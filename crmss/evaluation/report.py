"""``crmss report``: several evaluations (the real and the simulated testing set, runs with and
without VRE/SWIR) merged into one results table and one set of tables with the ablation table.

Evaluations of the same data and subset are one section, their models side by side. Writes
``TABLES/report.md``, ``TABLES/tables.tex`` and ``TABLES/metrics.csv`` (the results with an
``evaluation`` column first), and ``reference_comparison.csv`` with ``--reference``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import InputError
from ..core.files import LOCK, output_folder, replaced_atomically
from ..core.options import EvaluateOptions, ReportOptions, named_path
from ..core.schemas import EVALUATION, read_json
from ..core.validation import argument
from .results import COLUMNS, compare, read_metrics_csv, write_metrics_csv
from .tables import Section, latex_document, merged_report

logger = logging.getLogger(__name__)

#: marks a folder written by ``crmss report``, which the next report may replace
REPORT_MARKER = ".crmss-report"


@dataclass(frozen=True)
class Evaluation:
    """The results folder of one ``crmss test``: its label (None where not given), its record and
    results."""

    label: str | None
    path: Path
    info: dict
    results: pd.DataFrame


def merge_evaluations(options: ReportOptions) -> pd.DataFrame:
    """Merge evaluations into one set of tables (``crmss report``).

    Args:
        options: the results folders of ``crmss test`` (each also as ``LABEL=RESULTS``), the
            output folder, a reference table to compare with (the fields of ``crmss report``).

    Returns:
        The merged results table: a DataFrame of columns ``evaluation, method, scene, pixels,
        band, metric, value``; ``report.md``, ``tables.tex`` and ``metrics.csv`` in ``options.out``.

    Raises:
        InputError: a folder that is not results of ``crmss test``, or a bad reference table.
    """
    out = Path(options.out)
    sections = _sections([_read_evaluation(str(text)) for text in options.results])
    comparison = _comparison(sections, Path(options.reference)) if options.reference else None
    merged = pd.concat([s.results.assign(evaluation=s.label) for s in sections], ignore_index=True)[
        ["evaluation", *COLUMNS]
    ]
    files: dict[str, str | pd.DataFrame] = {}
    if comparison is not None:
        files["reference_comparison.csv"] = comparison
    files["report.md"] = merged_report(sections, comparison, options.reference)
    files["tables.tex"] = latex_document([(s.title, s.results, list(s.methods)) for s in sections])
    files["metrics.csv"] = merged
    _write(out, files)
    logger.info(f"tables of {len(sections)} evaluation(s) in {out}: {', '.join(files)}")
    return merged


def _read_evaluation(text: str) -> Evaluation:
    label, path = named_path(text)
    info_file = path / "evaluation.json"
    if not info_file.is_file():
        raise InputError(
            f"{path}: not the results of 'crmss test' (no evaluation.json); give "
            "RESULTS folders written by 'crmss test'"
        )
    info = read_json(
        info_file, EVALUATION, "it was not written by this crmss: evaluate again with 'crmss test'"
    )
    results = read_metrics_csv(
        path / "metrics.csv", list(info["methods"]), scenes=set(info["cloud_fraction"])
    )
    return Evaluation(label, path, info, results)


def _sections(evaluations: list[Evaluation]) -> list[Section]:
    """The evaluations grouped by data, subset, cloud threshold and mask (evaluations of the raw
    output and of the blended one are sections apart), each group labelled (by the
    label given, else ``<data folder>/<subset>``); InputError for clashing labels or model names."""
    groups: dict[tuple, dict] = {}
    for evaluation in evaluations:
        info = evaluation.info
        group = groups.setdefault(
            (info["data"], info["subset"], info["cloud_threshold"], info.get("mask", "none")),
            {"label": None, "evaluations": []},
        )
        if evaluation.label and group["label"] not in (None, evaluation.label):
            raise InputError(
                f"{evaluation.path}: evaluates the same data as {group['evaluations'][0].path}, "
                f"labelled {group['label']!r}; "
                "give evaluations of the same data one label"
            )
        group["label"] = evaluation.label or group["label"]
        group["evaluations"].append(evaluation)
    sections = [_section(group["label"], group["evaluations"]) for group in groups.values()]
    labels = [s.label for s in sections]
    if len(set(labels)) < len(labels):
        raise InputError(
            f"evaluations of different data share a label ({', '.join(labels)}); "
            "label them apart: LABEL=RESULTS"
        )
    return sections


def _section(label: str | None, evaluations: list[Evaluation]) -> Section:
    """One section of evaluations of the same data: each model once; the classical methods and
    the cloudy input, the same on the same data, from the first evaluation that has them."""
    methods: dict[str, dict] = {}
    parts = []
    for evaluation in evaluations:
        for method, about in evaluation.info["methods"].items():
            if method in methods:
                if about["kind"] == "model":
                    raise InputError(
                        f"{evaluation.path}: method {method!r} is also in "
                        f"{methods[method]['from']} "
                        "on the same data; name the models apart "
                        f"({argument('models', 'NAME=RUN', EvaluateOptions)})"
                    )
                continue
            methods[method] = {**about, "from": str(evaluation.path)}
            parts.append(evaluation.results[evaluation.results["method"] == method])
    info = evaluations[0].info
    label = label or f"{Path(info['data']).name}/{info['subset']}"
    return Section(
        label,
        info,
        pd.concat(parts, ignore_index=True),
        methods,
        [str(e.path) for e in evaluations],
    )


def _comparison(sections: list[Section], reference: Path) -> pd.DataFrame:
    """The reference table (checked against the sections' methods, scenes and labels) beside
    ours, section by section; a reference row without an evaluation applies to every section."""
    known = sorted({m for s in sections for m in s.methods})
    scenes = {scene for s in sections for scene in s.results["scene"]}
    table = read_metrics_csv(reference, known, extra=("evaluation",), scenes=scenes)
    if "evaluation" not in table:
        table["evaluation"] = ""
    labels = [s.label for s in sections]
    unknown = sorted(set(table["evaluation"]) - {""} - set(labels))
    if unknown:
        raise InputError(
            f"{reference}: unknown evaluation {unknown[0]!r}; the evaluations are "
            f"{', '.join(labels)}"
        )
    parts = []
    for section in sections:
        wanted = table[
            table["evaluation"].isin(["", section.label])
            & table["method"].isin(list(section.methods))
        ]
        parts.append(compare(section.results, wanted).assign(evaluation=section.label))
    comparison = pd.concat(parts, ignore_index=True)
    return comparison[["evaluation", *comparison.columns[:-1]]]


def _write(out: Path, files: dict[str, str | pd.DataFrame]) -> None:
    """Write the ``files`` into ``out``, each whole or absent: a new folder, or one an earlier
    report wrote."""
    with output_folder(out, "report", "the tables"):
        marker = out / REPORT_MARKER
        if any(p.name != LOCK for p in out.iterdir()) and not marker.exists():
            raise InputError(
                f"{out}: exists and holds other files; nothing is overwritten: "
                f"choose a new {argument('out')} for the tables"
            )
        marker.write_text(
            "written by crmss report; the next report into this folder replaces its tables\n"
        )
        for name, content in files.items():
            with replaced_atomically(out / name) as tmp:
                if isinstance(content, str):
                    tmp.write_text(content)
                else:
                    write_metrics_csv(tmp, content)
