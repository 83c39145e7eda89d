"""Results as one tidy table, and ``metrics.csv``, the file that holds it.

A results table is a pandas DataFrame with one row per value and the columns ``method, scene,
pixels, band, metric, value`` (``crmss report`` puts ``evaluation`` first): scene a pair key or
``all``; pixels ``all``, ``cloud`` (cloud-affected) or ``clear``; band an ESA name, ``mean_10m``
or ``mean_20m``; metric PSNR (dB), SSIM, RMSE, MAE (reflectance) or SAM (degrees, on the mean
rows only). ``crmss.evaluate`` and ``crmss.report`` return one; the tables, the reports and
the figures are built from it. ``metrics.csv`` is the same table as CSV; every file read as one
(``--reference`` tables too) is checked row by row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.bands import BANDS_10M, BANDS_20M
from ..core.errors import InputError
from ..core.options import EvaluateOptions
from ..core.validation import argument

COLUMNS = ["method", "scene", "pixels", "band", "metric", "value"]
#: the columns that name a value
KEY = COLUMNS[:5]
METRIC_NAMES = ("PSNR", "SSIM", "RMSE", "MAE", "SAM")
HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "RMSE": False, "MAE": False, "SAM": False}
UNITS = {"PSNR": "dB", "SSIM": "", "RMSE": "reflectance", "MAE": "reflectance", "SAM": "degrees"}
PIXELS = {"all": "all pixels", "cloud": "cloud-affected pixels", "clear": "clear pixels"}
#: the values each metric can take (PSNR: +inf for identical images)
METRIC_RANGE = {
    "PSNR": (0.0, math.inf),
    "SSIM": (-1.0, 1.0),
    "RMSE": (0.0, 1.0),
    "MAE": (0.0, 1.0),
    "SAM": (0.0, 180.0),
}
#: the do-nothing baseline, as the tables name it
BASELINE = "cloudy_input"
BAND_ROWS = (*BANDS_10M, "mean_10m", *BANDS_20M, "mean_20m")
HINT = (
    "expected a CSV with the header 'method,scene,pixels,band,metric,value' (pixels optional; "
    "the format of metrics.csv)"
)


def columns_of(metric: str) -> list[str]:
    """The band columns of a metric's table: every band and the means, or the means for SAM."""
    return ["mean_10m", "mean_20m"] if metric == "SAM" else list(BAND_ROWS)


def results_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """A results table from row mappings with the keys of :data:`COLUMNS` (and any others before
    them)."""
    frame = pd.DataFrame(list(rows))
    return frame if not frame.empty else pd.DataFrame(columns=COLUMNS)


def where(frame: pd.DataFrame, **values: str) -> pd.DataFrame:
    """The rows of ``frame`` whose columns hold the ``values`` given, e.g. ``where(results,
    scene="all", pixels="all")``."""
    chosen = np.logical_and.reduce([frame[column] == value for column, value in values.items()])
    return frame[chosen]


def write_metrics_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV: a header, one line per row, floats as Python writes them, NaN as
    ``nan``, lines ending in CRLF (as Python's csv module writes them)."""
    frame.to_csv(path, index=False, lineterminator="\r\n", na_rep="nan")


def read_metrics_csv(
    path: Path,
    methods: list[str] | None = None,
    extra: tuple[str, ...] = (),
    scenes: set[str] | None = None,
) -> pd.DataFrame:
    """The results table of a long-format metrics CSV (``method, scene, [pixels,] band, metric,
    value``; without ``pixels`` every row is on all pixels). ``methods``: the methods rows may
    name (others are refused); ``scenes``: the scenes they may name besides ``all``; ``extra``:
    optional further columns, kept as text ("" where a row leaves them empty). Every row is
    checked: a known pixel class, metric and band, a number within the metric's range (PSNR may
    be +inf, of identical images; nothing else may be infinite or NaN), no value twice. The
    first bad row raises InputError naming its line."""
    table = _read_text_table(path)
    header = list(table.columns)
    if not set(KEY) - {"pixels"} <= set(header) or set(header) - set(COLUMNS) - set(extra):
        raise InputError(f"{path}, line 1: {HINT}")
    if table.empty:
        raise InputError(f"{path}: the table has no rows; {HINT}")
    if "pixels" not in table:
        table["pixels"] = ""
    table["pixels"] = table["pixels"].where(table["pixels"] != "", "all")
    parsed = table["value"].map(_number)
    not_numbers = parsed.isna() & (table["value"].str.lower() != "nan")
    numbers = parsed.astype(float)
    _refuse_first(
        path,
        table,
        _row_checks(table, numbers, not_numbers, methods, scenes, [c for c in extra if c in table]),
    )
    present = [c for c in extra if c in table]
    return table.assign(value=numbers.astype(float))[[*KEY, "value", *present]]


def _read_text_table(path: Path) -> pd.DataFrame:
    """Every cell of a CSV as text, stripped of surrounding blanks; InputError where it cannot be
    read as CSV."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}, line 1: {HINT}") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read the table ({exc}); {HINT}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda column: column.str.strip())


def _number(text: str) -> float:
    """``text`` as Python reads a float (so values go through a file and back unchanged), NaN
    where it is none."""
    try:
        return float(text)
    except ValueError:
        return math.nan


#: rows that fail a check, and the message for one of them
Check = tuple[pd.Series, Callable[[pd.Series], str]]


def _row_checks(
    table: pd.DataFrame,
    numbers: pd.Series,
    not_numbers: pd.Series,
    methods: list[str] | None,
    scenes: set[str] | None,
    extra: list[str],
) -> list[Check]:
    """(bad rows, message of a row) per check, in the order a row is checked."""
    low = table["metric"].map(lambda m: METRIC_RANGE.get(m, (0, 0))[0])
    high = table["metric"].map(lambda m: METRIC_RANGE.get(m, (0, 0))[1])
    allowed = table["metric"].map(lambda m: set(columns_of(m)))
    key = [*extra, *KEY]
    # a value's first line
    first = (
        pd.Series(table.index, index=table.index)
        .groupby([table[c] for c in key], sort=False)
        .transform("first")
    )
    checks: list[Check] = [
        (not_numbers, lambda row: f"{row['value']!r} is not a number; {HINT}"),
        (
            ~table["pixels"].isin(list(PIXELS)),
            lambda row: f"pixels {row['pixels']!r} is not one of {', '.join(PIXELS)}",
        ),
        (
            ~table["metric"].isin(METRIC_NAMES),
            lambda row: f"unknown metric {row['metric']!r}; use {', '.join(METRIC_NAMES)}",
        ),
        (
            ~pd.Series([b in a for b, a in zip(table["band"], allowed)], index=table.index),
            lambda row: (
                f"{row['metric']} has no band {row['band']!r}; use "
                f"{', '.join(columns_of(row['metric']))}"
            ),
        ),
        (
            ~((low <= numbers) & (numbers <= high)),
            lambda row: (
                f"{row['metric']} {float(row['value'])} is not a value the metric takes; "
                f"give a number in [{METRIC_RANGE[row['metric']][0]:g}, "
                f"{METRIC_RANGE[row['metric']][1]:g}]"
            ),
        ),
    ]
    if scenes is not None:
        checks.append(
            (
                ~table["scene"].isin(scenes | {"all"}),
                lambda row: (
                    f"unknown scene {row['scene']!r}; the scenes are all, "
                    f"{', '.join(sorted(scenes - {'all'}))}"
                ),
            )
        )
    if methods is not None:
        checks.append(
            (
                ~table["method"].isin(methods),
                lambda row: (
                    f"unknown method {row['method']!r}; the evaluation's methods are "
                    f"{', '.join(methods)}: name the reference's "
                    "rows after them (a model is named with "
                    f"{argument('models', 'NAME=RUN', EvaluateOptions)})"
                ),
            )
        )
    checks.append(
        (
            first != first.index,
            lambda row: (
                f"the same {', '.join(filter(None, (row[c] for c in key)))} as line "
                f"{first[row.name] + 2}; give each value once"
            ),
        )
    )
    return checks


def _refuse_first(path: Path, table: pd.DataFrame, checks: list[Check]) -> None:
    """Raise the first failed check of the first row that fails one, naming its line."""
    bad = np.logical_or.reduce([mask.to_numpy() for mask, _ in checks])
    if bad.any():
        index = int(np.argmax(bad))
        row = table.iloc[index]
        message = next(describe for mask, describe in checks if mask.iloc[index])
        raise InputError(f"{path}, line {index + 2}: {message(row)}")


def compare(results: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each reference value beside ours (the same method, scene, pixels, band and metric; NaN
    where we have none) and the difference, ours minus the reference, in the reference's order:
    columns ``method, scene, pixels, band, metric, reference, ours, difference``."""
    ours = results[[*KEY, "value"]].rename(columns={"value": "ours"})
    table = (
        reference[[*KEY, "value"]]
        .rename(columns={"value": "reference"})
        .merge(ours, on=KEY, how="left")
    )
    return table.assign(difference=table["ours"] - table["reference"])
