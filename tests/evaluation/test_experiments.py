"""The paper's experiments: several methods in one evaluation, the Vis/NIR ablation, the
simulated testing set and the merged tables."""

import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import run_cli
from crmss.core.bands import BANDS_10M, BANDS_20M, CLOUD_REFLECTANCE
from crmss.core.options import CloudParameters, EvaluateOptions, SimulateOptions
from crmss.dataset.clouds import block_mean
from crmss.dataset.simulate import cloud_over, simulate
from crmss.evaluation.evaluate import evaluate
from crmss.nn.model import build_generator


@pytest.fixture(scope="module")
def visnir(trained, tmp_path_factory):
    """An (untrained) width-8 Vis/NIR generator as a bare .keras file: another method to compare."""
    path = tmp_path_factory.mktemp("visnir") / "visnir.keras"
    build_generator(8, bands="visnir").save(path)
    return path


@pytest.fixture(scope="module")
def simulated(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("simulated") / "sim"
    simulate(SimulateOptions(trained / "data", out, clouds=CloudParameters(seed=5), progress=False))
    return out


def _rows(folder):
    with (folder / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_several_models_share_one_evaluation_and_a_visnir_model_has_no_20m_cells(
    trained, visnir, tmp_path
):
    single = evaluate(
        EvaluateOptions(
            trained / "data",
            [trained / "run"],
            tmp_path / "single",
            methods=(),
            figures=0,
            progress=False,
        )
    )
    several = evaluate(
        EvaluateOptions(
            trained / "data",
            [f"full={trained / 'run'}", f"visnir={visnir}"],
            tmp_path / "several",
            figures=1,
            progress=False,
        ),
    )
    key = ["scene", "pixels", "band", "metric"]
    ours = several[several["method"] == "full"].set_index(key)["value"]
    alone = single[single["method"] == "crmss"].set_index(key)["value"]
    assert ours.to_dict() == alone.to_dict()  # a model scores the same alone and beside others
    assert list(several["method"].unique()) == [
        "full",
        "visnir",
        "dark_channel_prior",
        "hot",
        "cloudy_input",
    ]
    bands = set(several.loc[several["method"] == "visnir", "band"])
    assert bands == {*BANDS_10M, "mean_10m"}  # scored on the 10 m bands only
    assert (tmp_path / "several/predictions/test/visnir/10m").is_dir() and not (
        tmp_path / "several/predictions/test/visnir/20m"
    ).exists()
    report = (tmp_path / "several/report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| method | B02"))
    visnir_row = next(line for line in report.splitlines() if line.startswith("| visnir |"))
    # empty 20 m cells (6 bands and the mean), not zeros
    assert visnir_row.count("–") == 7 and "B12" in header
    info = json.loads((tmp_path / "several/evaluation.json").read_text())
    assert (
        info["methods"]["visnir"]["stacks"] == ["10m"] and info["methods"]["full"]["bands"] == "all"
    )
    assert 0 < info["cloud_fraction"]["all"] < 1 and (tmp_path / "several/samples.png").exists()


def test_evaluation_at_bfloat16_is_recorded_and_scores_as_float32_does(trained, tmp_path):
    runs = {}
    for precision in ("float32", "bfloat16"):
        options = EvaluateOptions(
            trained / "data",
            [trained / "run"],
            tmp_path / precision,
            methods=(),
            figures=0,
            precision=precision,
        )
        results = evaluate(dataclasses.replace(options, progress=False))
        runs[precision] = (
            results[results["method"] == "crmss"]
            .set_index(["scene", "pixels", "band", "metric"])["value"]
            .to_dict()
        )
        info = json.loads((tmp_path / precision / "evaluation.json").read_text())
        assert info["precision"] == f"{precision} (as requested)"
        assert (
            f"the models computed in {precision} (as requested)"
            in (tmp_path / precision / "report.md").read_text()
        )
    psnr = [
        key for key in runs["float32"] if key[2:] in (("mean_10m", "PSNR"), ("mean_20m", "PSNR"))
    ]
    assert psnr and all(abs(runs["float32"][k] - runs["bfloat16"][k]) < 0.2 for k in psnr)  # dB
    assert runs["float32"] != runs["bfloat16"]  # computed in bfloat16 indeed


def test_the_cloud_model_of_the_simulated_set():
    rng = np.random.default_rng(1)
    clear10 = rng.uniform(0.02, 0.4, (64, 64, 4)).astype(np.float32)
    clear20 = rng.uniform(0.02, 0.4, (32, 32, 6)).astype(np.float32)
    parameters = CloudParameters(thickness=(0.5, 0.5), cover=(0.5, 0.5))
    cloudy10, cloudy20, tau = cloud_over(clear10, clear20, np.random.default_rng(7), parameters)
    assert (tau == 0).mean() == pytest.approx(0.5, abs=0.1) and tau.max() == pytest.approx(
        0.5, rel=1e-5
    )
    # no change where the thickness is 0
    assert np.array_equal(cloudy10[tau == 0], clear10[tau == 0])
    again = cloud_over(clear10, clear20, np.random.default_rng(7), parameters)
    # deterministic by seed
    assert all(np.array_equal(a, b) for a, b in zip((cloudy10, cloudy20, tau), again))
    # the 20 m bands see the 10 m thickness averaged 2 x 2: recover it from B12's transmittance
    rho = CLOUD_REFLECTANCE["B12"]
    conditioned = np.abs(clear20[..., 5] - rho) > 0.1
    t = (cloudy20[..., 5] - rho) / (clear20[..., 5] - rho)
    np.testing.assert_allclose(
        (-np.log(t) / (0.55 / 2.19))[conditioned], block_mean(tau, 2)[conditioned], atol=1e-4
    )
    change = {b: np.abs(cloudy20[..., i] - clear20[..., i]).mean() for i, b in enumerate(BANDS_20M)}
    change.update(
        {b: np.abs(cloudy10[..., i] - clear10[..., i]).mean() for i, b in enumerate(BANDS_10M)}
    )
    # SWIR least affected
    assert min(change, key=change.get) == "B12" and change["B02"] > 2 * change["B11"]


def test_simulated_set_is_a_prepared_tree_made_deterministically(trained, simulated, tmp_path):
    manifest = json.loads((simulated / "manifest.json").read_text())
    assert manifest["simulation"]["seed"] == 5 and manifest["simulation"]["thickness"] == [0.1, 1.0]
    source = json.loads((trained / "data/manifest.json").read_text())["pairs"]
    assert {k: v["windows"] for k, v in manifest["pairs"].items()} == {
        k: v["windows"] for k, v in source.items() if v["subset"] == "test"
    }
    # the truth: the real clear patches, unchanged
    for clear in (simulated / "test/clear").rglob("*.tif"):
        assert clear.read_bytes() == (trained / "data" / clear.relative_to(simulated)).read_bytes()
    cloudy = sorted((simulated / "test/cloudy/10m").rglob("*.tif"))[0]
    real = trained / "data" / cloudy.relative_to(simulated)
    a, b = gdal.Open(str(cloudy)), gdal.Open(str(real))
    assert a.GetGeoTransform() == b.GetGeoTransform() and a.GetProjection() == b.GetProjection()

    simulate(
        SimulateOptions(
            trained / "data", tmp_path / "again", clouds=CloudParameters(seed=5), progress=False
        )
    )
    other = simulate(
        SimulateOptions(
            trained / "data", tmp_path / "other", clouds=CloudParameters(seed=6), progress=False
        )
    )
    assert other["simulation"]["seed"] == 6
    assert (tmp_path / "again" / cloudy.relative_to(simulated)).read_bytes() == cloudy.read_bytes()
    assert (tmp_path / "other" / cloudy.relative_to(simulated)).read_bytes() != cloudy.read_bytes()


def test_simulate_refuses_bad_input_and_writes_nothing(trained, simulated, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep").write_text("mine")
    run = run_cli("simulate", "--data", trained / "data", "--out", existing)
    assert (
        run.returncode == 2
        and "exists and is not an empty folder; nothing is overwritten" in run.stderr
    )
    assert [p.name for p in existing.iterdir()] == ["keep"]
    run = run_cli("simulate", "--data", simulated, "--out", tmp_path / "twice")
    assert run.returncode == 2 and "is itself a simulated set" in run.stderr
    run = run_cli(
        "simulate", "--data", trained / "data", "--out", tmp_path / "s", "--thickness", "1", "0.5"
    )
    assert (
        run.returncode == 2 and "--thickness 1 0.5: the minimum exceeds the maximum" in run.stderr
    )
    run = run_cli(
        "simulate", "--data", trained / "data", "--out", tmp_path / "s", "--cover", "0", "1"
    )
    assert run.returncode == 2 and "give a finite number in (0, 1]" in run.stderr
    assert (
        "Traceback" not in run.stderr
        and not (tmp_path / "twice").exists()
        and not (tmp_path / "s").exists()
    )


def test_report_merges_the_real_and_the_simulated_evaluations_with_the_ablation_table(
    trained, visnir, simulated, tmp_path
):
    evaluate(
        EvaluateOptions(
            trained / "data",
            [f"crmss={trained / 'run'}"],
            tmp_path / "real_all",
            figures=0,
            progress=False,
        )
    )
    evaluate(
        EvaluateOptions(
            trained / "data",
            [f"crmss_visnir={visnir}"],
            tmp_path / "real_visnir",
            methods=("hot",),
            figures=0,
            progress=False,
        ),
    )
    evaluate(
        EvaluateOptions(simulated, [trained / "run"], tmp_path / "sim", figures=0, progress=False)
    )
    assert "(simulated testing set)" in (tmp_path / "sim/report.md").read_text()
    reference = tmp_path / "reference.csv"
    reference.write_text(
        "method,scene,pixels,band,metric,value,evaluation\ncrmss,all,all,mean_10m,PSNR,30,simulated\n"
    )
    run = run_cli(
        "report",
        f"real={tmp_path / 'real_all'}",
        f"real={tmp_path / 'real_visnir'}",
        f"simulated={tmp_path / 'sim'}",
        "--out",
        tmp_path / "tables",
        "--reference",
        reference,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = (tmp_path / "tables/report.md").read_text()
    assert "## real\n" in report and "## simulated (simulated testing set)" in report
    real = report.split("## simulated")[0]
    assert (
        "### Ablation: with and without the VRE/SWIR bands"
    ) in real and "crmss_visnir (without VRE/SWIR) PSNR" in real
    assert "Ablation" not in report.split("## simulated")[1]
    rows = _rows(tmp_path / "tables")
    assert {r["evaluation"] for r in rows} == {"real", "simulated"}
    assert {r["method"] for r in rows if r["evaluation"] == "real"} == {
        "crmss",
        "crmss_visnir",
        "dark_channel_prior",
        "hot",
        "cloudy_input",
    }
    ours = next(
        float(r["value"])
        for r in rows
        if (r["evaluation"], r["method"], r["scene"], r["pixels"], r["band"], r["metric"])
        == ("simulated", "crmss", "all", "all", "mean_10m", "PSNR")
    )
    with (tmp_path / "tables/reference_comparison.csv").open() as handle:
        (comparison,) = list(csv.DictReader(handle))
    assert comparison["evaluation"] == "simulated" and float(
        comparison["difference"]
    ) == pytest.approx(ours - 30)
    tex = (tmp_path / "tables/tables.tex").read_text()
    assert (
        tex.count("\\begin{tabular}") == 2 * 3 * 5
        and "\\toprule" in tex
        and "\\textbf{" in tex
        and "crmss\\_visnir" in tex
    )

    # a report folder may be written again
    again = run_cli("report", str(tmp_path / "sim"), "--out", tmp_path / "tables")
    assert again.returncode == 0 and "## " in (tmp_path / "tables/report.md").read_text()


def test_report_refuses_bad_input(trained, tmp_path):
    evaluate(
        EvaluateOptions(
            trained / "data",
            [trained / "run"],
            tmp_path / "a",
            methods=(),
            figures=0,
            progress=False,
        )
    )
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for args, message in (
        ([tmp_path / "a", tmp_path / "b"], "method 'crmss' is also in"),
        ([tmp_path / "a/predictions"], "not the results of 'crmss test' (no evaluation.json)"),
        (
            [tmp_path / "a", "--out", tmp_path / "a"],
            "exists and holds other files; nothing is overwritten",
        ),
    ):
        out = [] if "--out" in args else ["--out", tmp_path / "tables"]
        run = run_cli("report", *args, *out)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, (
            run.stderr
        )
    reference = tmp_path / "ref.csv"
    reference.write_text(
        "method,scene,band,metric,value,evaluation\ncrmss,all,mean_10m,PSNR,30,elsewhere\n"
    )
    run = run_cli(
        "report", f"real={tmp_path / 'a'}", "--out", tmp_path / "tables", "--reference", reference
    )
    assert (
        run.returncode == 2
        and "unknown evaluation 'elsewhere'; the evaluations are real" in run.stderr
    )
    assert not (tmp_path / "tables").exists() or not any((tmp_path / "tables").iterdir())


def test_report_on_a_full_disk_says_so_and_leaves_no_partial_table(trained, small_disk, tmp_path):
    evaluate(
        EvaluateOptions(
            trained / "data",
            [trained / "run"],
            tmp_path / "a",
            methods=(),
            figures=0,
            progress=False,
        )
    )
    size = sum(len(r) for r in (tmp_path / "a/metrics.csv").read_text().splitlines())
    disk = small_disk(size / 3e6)  # room for the marker and report.md, not for metrics.csv
    run = run_cli("report", tmp_path / "a", "--out", disk.path / "tables")
    assert (
        run.returncode == 2
        and f"{disk.path / 'tables'}: the disk is full" in run.stderr
        and "Traceback" not in run.stderr
    ), run.stderr
    # nothing cut short
    assert not [p.name for p in (disk.path / "tables").iterdir() if p.name.startswith(".tmp")]
    disk.resize(64)
    again = run_cli("report", tmp_path / "a", "--out", disk.path / "tables")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (disk.path / "tables/metrics.csv").read_text().count("\n") > 100
