"""Results tables and their renderings: metrics.csv and tables.tex byte for byte as crmss wrote
them before results were DataFrames (tests/data/tables: the demo's two evaluations, their
tables.tex and the merged tables.tex of 'crmss report', as written by crmss 0.1.0 at 27d31ce)."""

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import crmss
from crmss.core.errors import InputError
from crmss.evaluation.results import COLUMNS, read_metrics_csv, where, write_metrics_csv
from crmss.evaluation.tables import evaluation_title, latex_document, markdown_table

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "tables"
#: sha256 of the merged metrics.csv that 'crmss report real=... simulated=...' wrote from them
MERGED_METRICS_SHA256 = "dcd69e66edbbbaa345db96ffd1e4293a73979a00ab215d3a1b295b6e93df07ce"


def _evaluation(label: str) -> tuple[dict, pd.DataFrame]:
    info = json.loads((GOLDEN / label / "evaluation.json").read_text())
    return info, read_metrics_csv(
        GOLDEN / label / "metrics.csv", list(info["methods"]), scenes=set(info["cloud_fraction"])
    )


@pytest.mark.parametrize("label", ["real", "simulated"])
def test_an_evaluation_writes_metrics_csv_and_tables_tex_as_before(label, tmp_path):
    info, results = _evaluation(label)
    assert list(results.columns) == COLUMNS and results["value"].dtype == float
    write_metrics_csv(tmp_path / "metrics.csv", results)
    assert (tmp_path / "metrics.csv").read_bytes() == (GOLDEN / label / "metrics.csv").read_bytes()
    tex = latex_document([(evaluation_title(info), results, list(info["methods"]))])
    assert tex == (GOLDEN / label / "tables.tex").read_text()


def test_report_merges_into_the_same_metrics_csv_and_tables_tex_and_returns_them(tmp_path):
    folders = {
        label: shutil.copytree(GOLDEN / label, tmp_path / label) for label in ("real", "simulated")
    }
    merged = crmss.report(
        crmss.ReportOptions(
            tuple(f"{label}={path}" for label, path in folders.items()), tmp_path / "tables"
        )
    )
    assert (
        hashlib.sha256((tmp_path / "tables/metrics.csv").read_bytes()).hexdigest()
        == MERGED_METRICS_SHA256
    )
    assert (tmp_path / "tables/tables.tex").read_text() == (
        GOLDEN / "merged/tables.tex"
    ).read_text()
    assert list(merged.columns) == ["evaluation", *COLUMNS] and set(merged["evaluation"]) == {
        "real",
        "simulated",
    }
    psnr = where(
        merged, evaluation="real", scene="all", pixels="all", band="mean_10m", metric="PSNR"
    ).set_index("method")["value"]
    assert (
        psnr["crmss"]
        == _evaluation("real")[1].set_index(["method", "scene", "pixels", "band", "metric"])[
            "value"
        ]["crmss", "all", "all", "mean_10m", "PSNR"]
    )


def test_a_markdown_table_marks_the_best_of_each_column_and_leaves_missing_cells_empty():
    _, results = _evaluation("real")
    lines = markdown_table(results, ["crmss", "crmss_visnir", "cloudy_input"], "RMSE", "all")
    assert lines[0].startswith("| method | B02 | B03 | B04 | B08 | mean_10m | B05") and lines[
        1
    ].startswith("|---|---:|")
    visnir = next(line for line in lines if line.startswith("| crmss_visnir |"))
    assert visnir.count("–") == 7  # no 20 m output: six bands and their mean
    # B02: the lowest RMSE in bold, once per column at least
    cells = [line.split(" | ")[1] for line in lines[2:]]
    assert sum(cell.startswith("**") for cell in cells) >= 1


def test_a_reference_row_that_is_not_a_number_is_refused_with_its_line(tmp_path):
    bad = tmp_path / "reference.csv"
    bad.write_text(
        "method,scene,pixels,band,metric,value\ncrmss,all,all,B02,PSNR,30\ncrmss,all,all,B03,PSNR,thirty\n"
    )
    with pytest.raises(InputError, match=r"line 3: 'thirty' is not a number"):
        read_metrics_csv(bad)
    bad.write_text(
        "method,scene,pixels,band,metric,value\ncrmss,all,all,B02,PSNR,30\ncrmss,all,,B02,PSNR,31\n"
    )
    with pytest.raises(
        InputError,
        match=r"line 3: the same crmss, all, all, B02, PSNR as line 2; "
        r"give each value once",
    ):
        read_metrics_csv(bad)
