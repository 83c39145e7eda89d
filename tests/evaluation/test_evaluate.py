"""test.py / crmss test: metrics against independent computations, the baseline, the outputs."""

import csv
import dataclasses
import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
from osgeo import gdal
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from conftest import run_cli
from crmss.core.bands import ALL_BANDS, BANDS_10M, BANDS_20M
from crmss.core.errors import InputError
from crmss.core.options import EvaluateOptions
from crmss.dataset.clouds import add_thin_cloud, block_mean, fractal_noise
from crmss.dataset.spectra import CANOPY, LAI, to_toa
from crmss.dataset.synthetic import Scene
from crmss.evaluation import classical
from crmss.evaluation.classical import dark_channel_prior, haze_optimised_transform
from crmss.evaluation.evaluate import evaluate
from crmss.evaluation.metrics import band_metrics, class_metrics, cloud_mask, spectral_angle


def test_metrics_of_known_cases():
    rng = np.random.default_rng(0)
    clear = rng.uniform(0.05, 0.5, (2, 32, 32, 4)).astype(np.float32)
    same = band_metrics(clear, clear)
    assert (
        np.all(np.isinf(same["PSNR"]))
        and np.allclose(same["SSIM"], 1)
        and not same["RMSE"].any()
        and not same["MAE"].any()
    )
    assert np.allclose(spectral_angle(clear, clear), 0, atol=1e-3)
    offset = band_metrics(clear + 0.01, clear)
    np.testing.assert_allclose(offset["RMSE"], 0.01, rtol=1e-4)
    np.testing.assert_allclose(offset["MAE"], 0.01, rtol=1e-4)
    np.testing.assert_allclose(offset["PSNR"], 40.0, atol=1e-3)  # -20 log10(0.01)
    assert np.allclose(spectral_angle(clear * 1.7, clear), 0, atol=1e-3)  # a scaled spectrum: SAM 0
    a = np.zeros((1, 4, 4, 2), np.float32)
    b = a.copy()
    a[..., 0], b[..., 1] = 1, 1
    np.testing.assert_allclose(spectral_angle(a, b), 90.0, rtol=1e-6)


def test_metrics_agree_with_scikit_image_on_random_data():
    rng = np.random.default_rng(1)
    reference = rng.random((3, 64, 48, 6)).astype(np.float32)
    predicted = np.clip(reference + rng.normal(0, 0.08, reference.shape), 0, 1).astype(np.float32)
    ours = band_metrics(predicted, reference)
    for i in range(3):
        for b in range(6):
            p, r = predicted[i, ..., b].astype(np.float64), reference[i, ..., b].astype(np.float64)
            assert ours["SSIM"][i, b] == pytest.approx(
                structural_similarity(r, p, data_range=1), abs=1e-4
            )
            assert ours["PSNR"][i, b] == pytest.approx(
                peak_signal_noise_ratio(r, p, data_range=1), abs=1e-3
            )
            assert ours["RMSE"][i, b] == pytest.approx(np.sqrt(np.mean((p - r) ** 2)), rel=1e-4)
    cosines = (
        np.sum(predicted * reference, -1)
        / np.linalg.norm(predicted, axis=-1)
        / np.linalg.norm(reference, axis=-1)
    )
    np.testing.assert_allclose(
        spectral_angle(predicted, reference),
        np.degrees(np.arccos(np.clip(cosines, -1, 1))).mean((1, 2)),
        rtol=1e-3,
    )


def test_dark_channel_prior_removes_much_of_a_thin_cloud_and_leaves_clear_scenes_alone():
    scene = Scene(size=768, seed=4, cloud_cover=0.9, max_thickness=1.0)

    def stack(kind, bands):
        return np.stack([getattr(scene, kind)(b) for b in bands], -1)[None]

    clear10, clear20 = (
        stack("clear", ("B02", "B03", "B04", "B08")),
        stack("clear", ("B05", "B06", "B07", "B8A", "B11", "B12")),
    )
    cloudy10, cloudy20 = (
        stack("cloudy", ("B02", "B03", "B04", "B08")),
        stack("cloudy", ("B05", "B06", "B07", "B8A", "B11", "B12")),
    )
    fixed10, fixed20 = (np.asarray(x) for x in dark_channel_prior(cloudy10, cloudy20))
    before, after = (
        band_metrics(cloudy10, clear10)["PSNR"][0],
        band_metrics(fixed10, clear10)["PSNR"][0],
    )
    assert np.all(after[:3] > before[:3] + 3), (before, after)  # the visible bands gain several dB
    assert fixed20.shape == cloudy20.shape and 0 <= fixed20.min() and fixed20.max() <= 1
    untouched, _ = dark_channel_prior(clear10, clear20)
    # DCP also stretches clear scenes a little
    assert band_metrics(np.asarray(untouched), clear10)["PSNR"][0].min() > 25


def test_the_guided_filters_box_mean_by_pooling_equals_the_float64_running_sums(monkeypatch):
    """JAX computes no float64 by default: there the box mean pools in float32 instead."""
    image = np.random.default_rng(3).random((2, 200, 130, 1)).astype(np.float32)
    exact = np.asarray(classical._box(image, 30))
    monkeypatch.setattr(classical, "has_float64", lambda: False)
    pooled = np.asarray(classical._box(image, 30))
    assert pooled.shape == exact.shape and pooled.dtype == exact.dtype
    np.testing.assert_allclose(pooled, exact, rtol=1e-5)
    # at the corners only the pixels inside the image count
    np.testing.assert_allclose(pooled[:, 0, 0, 0], image[:, :31, :31, 0].mean((1, 2)), rtol=1e-5)


def test_cli_writes_predictions_metrics_report_and_figures(trained, tmp_path):
    reference = tmp_path / "paper.csv"
    # no pixels column: all
    reference.write_text(
        "method,scene,band,metric,value\ncrmss,all,mean_10m,PSNR,30.5\ncrmss,all,B02,SSIM,0.9\n"
    )
    out = tmp_path / "results"
    # float32: the predictions are compared with the float32 generator below (auto may pick bfloat16
    # on another CPU)
    args = [
        "--data",
        trained / "data",
        "--model",
        trained / "run",
        "--out",
        out,
        "--reference",
        reference,
        "--precision",
        "float32",
    ]
    run = run_cli("test", *args, "--no-progress")
    assert run.returncode == 0, run.stderr[-3000:]
    assert all(m in run.stdout for m in ("crmss", "dark_channel_prior", "hot", "cloudy_input"))

    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["method", "scene", "pixels", "band", "metric", "value"]
    # methods x (scene + all) x (mean rows + bands x metrics + SAM)
    for pixels in ("all", "cloud", "clear"):
        assert sum(r["pixels"] == pixels for r in rows) == 4 * 2 * (2 * 4 + 10 * 4 + 2), pixels
    value = {
        (r["method"], r["scene"], r["band"], r["metric"]): float(r["value"])
        for r in rows
        if r["pixels"] == "all"
    }
    nested = json.loads((out / "metrics.json").read_text())
    assert nested["crmss"]["all"]["all"]["B8A"]["SSIM"] == pytest.approx(
        value[("crmss", "all", "B8A", "SSIM")]
    )

    # the do-nothing baseline, recomputed independently from the patch files with scikit-image
    manifest = json.loads((trained / "data/manifest.json").read_text())
    windows = manifest["pairs"]["R064_T37UCQ"]["windows"]
    psnr, ssim = [], []
    for k in windows:
        cloudy, clear = (
            gdal.Open(str(trained / f"data/test/{kind}/20m/R064_T37UCQ/{k}.tif")).ReadAsArray()[4]
            / 10000
            for kind in ("cloudy", "clear")
        )
        psnr.append(peak_signal_noise_ratio(clear, cloudy, data_range=1))
        ssim.append(structural_similarity(clear, cloudy, data_range=1))
    assert value[("cloudy_input", "R064_T37UCQ", "B11", "PSNR")] == pytest.approx(
        np.mean(psnr), abs=1e-3
    )
    assert value[("cloudy_input", "all", "B11", "SSIM")] == pytest.approx(np.mean(ssim), abs=1e-4)
    bands = [value[("crmss", "all", b, "PSNR")] for b in ("B02", "B03", "B04", "B08")]
    assert value[("crmss", "all", "mean_10m", "PSNR")] == pytest.approx(np.mean(bands))

    # predictions: georeferenced like their input patch, uint16 reflectance x 10000, the generator's
    # output
    generator = keras.saving.load_model(trained / "run/generator.keras")
    k = windows[0]
    source = gdal.Open(str(trained / f"data/test/cloudy/10m/R064_T37UCQ/{k}.tif"))
    prediction = gdal.Open(str(out / f"predictions/test/crmss/10m/R064_T37UCQ/{k}.tif"))
    assert (
        prediction.GetGeoTransform() == source.GetGeoTransform()
        and prediction.GetProjection() == source.GetProjection()
    )
    assert (
        prediction.GetRasterBand(1).GetDescription() == "B02"
        and prediction.GetRasterBand(1).DataType == gdal.GDT_UInt16
    )
    x10 = np.moveaxis(source.ReadAsArray(), 0, -1)[None] / 10000
    x20 = (
        np.moveaxis(
            gdal.Open(str(trained / f"data/test/cloudy/20m/R064_T37UCQ/{k}.tif")).ReadAsArray(),
            0,
            -1,
        )[None]
        / 10000
    )
    y10, _ = generator([x10.astype(np.float32), x20.astype(np.float32)])
    expected = np.rint(np.moveaxis(np.asarray(y10)[0], -1, 0) * 10000)
    assert np.abs(prediction.ReadAsArray().astype(float) - expected).max() <= 1
    assert len(list((out / "predictions/test/crmss/20m/R064_T37UCQ").iterdir())) == len(windows)

    report = (out / "report.md").read_text()
    assert (
        "## All pixels" in report
        and "## Cloud-affected pixels" in report
        and "R064_T37UCQ" in report
        and "parameters" in report
    )
    assert (
        "Beside the reference table" in report
        and (out / "tables.tex").read_text().count("\\begin{tabular}") == 3 * 5
    )
    with (out / "reference_comparison.csv").open() as handle:
        comparison = list(csv.DictReader(handle))
    assert float(comparison[0]["difference"]) == pytest.approx(
        value[("crmss", "all", "mean_10m", "PSNR")] - 30.5
    )
    for figure in ("samples.png", "bands_psnr_ssim.png", "crmss_vs_clear.png"):
        assert (out / figure).stat().st_size > 10_000 and figure in report
        vector = (out / figure).with_suffix(".pdf").read_bytes()
        assert vector.startswith(b"%PDF") and len(vector) > 10_000  # for a paper, beside the PNG
    assert not list(tmp_path.glob(".results.partial-*"))


def _refused(run, *words):
    assert run.returncode == 2, run.stdout + run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


def test_bad_inputs_are_refused_and_nothing_is_overwritten(trained, tmp_path):
    data, model = trained / "data", trained / "run"
    empty_run = tmp_path / "norun"
    empty_run.mkdir()
    _refused(
        run_cli("test", "--data", data, "--model", empty_run, "--out", tmp_path / "r1"),
        "generator.keras: no trained generator",
    )

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "metrics.csv").write_text("keep me")
    _refused(
        run_cli("test", "--data", data, "--model", model, "--out", existing),
        "exists and is not an empty folder",
    )
    assert (existing / "metrics.csv").read_text() == "keep me"

    broken = shutil.copytree(data, tmp_path / "broken")
    victim = sorted((broken / "test/cloudy/20m/R064_T37UCQ").iterdir())[-1]
    victim.unlink()
    _refused(
        run_cli("test", "--data", broken, "--model", model, "--out", tmp_path / "r2"),
        f"{victim}: a patch listed in",
    )

    odd = shutil.copytree(data, tmp_path / "odd")
    for res, size in (("10m", 240), ("20m", 120)):
        for kind in ("cloudy", "clear"):
            for patch in (odd / f"test/{kind}/{res}/R064_T37UCQ").iterdir():
                gdal.Translate(str(patch) + ".tmp.tif", str(patch), srcWin=[0, 0, size, size])
                shutil.move(str(patch) + ".tmp.tif", patch)
    _refused(
        run_cli("test", "--data", odd, "--model", model, "--out", tmp_path / "r3"),
        "must be a multiple of 32 px",
    )

    reference = tmp_path / "ref.csv"
    for text, message in (
        (
            "scene;psnr\nall;30\n",
            "line 1: expected a CSV with the header 'method,scene,pixels,band,metric,value'",
        ),
        (
            "method,scene,band,metric,value\nCR-MSS,all,mean_10m,PSNR,30\n",
            "line 2: unknown method 'CR-MSS'; the evaluation's methods are crmss, "
            "dark_channel_prior, hot, cloudy_input",
        ),
        (
            "method,scene,pixels,band,metric,value\ncrmss,all,cloudy,B02,PSNR,30\n",
            "line 2: pixels 'cloudy' is not one of all, cloud, clear",
        ),
        (
            "method,scene,pixels,band,metric,value\ncrmss,all,all,B02,SAM,3\n",
            "line 2: SAM has no band 'B02'",
        ),
    ):
        reference.write_text(text)
        _refused(
            run_cli(
                "test",
                "--data",
                data,
                "--model",
                model,
                "--out",
                tmp_path / "r4",
                "--reference",
                reference,
            ),
            f"{reference}, {message}",
        )

    other = tmp_path / "rgb.keras"  # a model of another interface
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs)).save(other)
    _refused(
        run_cli("test", "--data", data, "--model", model, other, "--out", tmp_path / "r5"),
        f"{other}: takes [(None, None, None, 3)]",
        "give a CR-MSS generator",
    )
    _refused(
        run_cli(
            "test", "--data", data, "--model", f"a={model}", f"a={model}", "--out", tmp_path / "r6"
        ),
        "the name 'a' is taken",
    )
    _refused(
        run_cli("test", "--data", data, "--model", f"hot={model}", "--out", tmp_path / "r7"),
        "the name 'hot' is taken",
    )
    _refused(
        run_cli(
            "test",
            "--data",
            data,
            "--model",
            model,
            "--out",
            tmp_path / "r8",
            "--cloud-threshold",
            "1",
        ),
        "give a finite number in [0, 1)",
    )
    assert not any((tmp_path / f"r{i}").exists() for i in range(1, 9))


def test_hot_removes_most_of_a_known_haze_and_leaves_the_clear_half_alone():
    """Vegetation-soil mixtures (on one clear line, as HOT assumes) under a uniform haze layer
    of optical thickness 0.3 over the right half (the single-layer model of
    crmss/dataset/clouds.py)."""
    rng = np.random.default_rng(0)
    soil = np.clip(0.5 + 0.3 * fractal_noise(128, (32, 8), rng), 0, 1)
    # TOA reflectance of a green canopy (LAI 3) and of its bare soil (LAI 0: half wet)
    canopy, bare = CANOPY["green"][LAI.index(3.0)], CANOPY["green"][0]
    clear = {
        b: to_toa((1 - soil) * canopy[ALL_BANDS.index(b)] + soil * bare[ALL_BANDS.index(b)], b)
        for b in BANDS_10M + BANDS_20M
    }
    tau = np.zeros((128, 128), np.float32)
    tau[:, 64:] = 0.3
    c10 = np.stack([clear[b] for b in BANDS_10M], -1)[None].astype(np.float32)
    c20 = np.stack([block_mean(clear[b], 2) for b in BANDS_20M], -1)[None].astype(np.float32)
    k10 = np.stack([add_thin_cloud(c10[0, ..., i], tau, b) for i, b in enumerate(BANDS_10M)], -1)[
        None
    ]
    k20 = np.stack(
        [add_thin_cloud(c20[0, ..., i], block_mean(tau, 2), b) for i, b in enumerate(BANDS_20M)], -1
    )[None]
    h10, h20 = haze_optimised_transform(k10, k20)
    assert h10.shape == k10.shape and h20.shape == k20.shape and 0 <= h10.min() and h20.max() <= 1
    before = np.abs(k10[0, :, 64:, :3] - c10[0, :, 64:, :3]).mean(axis=(0, 1))
    after = np.abs(h10[0, :, 64:, :3] - c10[0, :, 64:, :3]).mean(axis=(0, 1))
    # B02, B03, B04: most of the haze is gone (measured: 83 %, 80 % and 64 % of it; red least,
    # where the bare soil is brighter than the haze's own red)
    assert np.all(before > 0.09) and np.all(after < 0.4 * before), (before, after)
    assert (
        np.abs(h10[0, :, :64] - c10[0, :, :64]).max() < 1e-6
        and np.abs(h20[0, :, :32] - c20[0, :, :32]).max() < 1e-6
    )
    # B05 (measured: 69 % of its haze gone)
    assert (
        np.abs(h20[0, :, 32:, 0] - c20[0, :, 32:, 0]).mean()
        < 0.4 * np.abs(k20[0, :, 32:, 0] - c20[0, :, 32:, 0]).mean()
    )


def test_cloud_mask_and_masked_metrics_agree_with_numpy():
    rng = np.random.default_rng(3)
    clear = rng.uniform(0.05, 0.4, (2, 64, 64, 4)).astype(np.float32)
    cloudy = clear.copy()
    # a known cloud in B02 of patch 0 (odd right edge: 20 m pixels half covered)
    cloudy[0, 10:30, 20:41, 0] += 0.1
    cloudy[0, 10:30, 20:41, 1:] += 0.05
    predicted = np.clip(clear + rng.normal(0, 0.02, clear.shape), 0, 1).astype(np.float32)
    m10, m20 = cloud_mask(cloudy, clear)
    expected = np.zeros((2, 64, 64), bool)
    expected[0, 10:30, 20:41] = True
    assert np.array_equal(m10, expected) and m10.sum() == 20 * 21
    assert (
        np.array_equal(m20[0], expected[0].reshape(32, 2, 32, 2).any(axis=(1, 3)))
        and m20[0].sum() == 10 * 11
        and not m20[1].any()
    )
    assert not cloud_mask(cloudy, clear, threshold=0.2)[0].any()

    values = class_metrics(predicted, clear, {"cloud": m10, "clear": ~m10})
    for pixels, mask in (("cloud", m10), ("clear", ~m10)):
        for i in range(2):
            if not mask[i].any():  # patch 1 has no cloud: no value
                assert np.all(np.isnan(values[pixels]["PSNR"][i])) and np.isnan(
                    values[pixels]["SAM"][i]
                )
                continue
            # (pixels, bands)
            p, r = predicted[i][mask[i]].astype(np.float64), clear[i][mask[i]].astype(np.float64)
            np.testing.assert_allclose(values[pixels]["MAE"][i], np.abs(p - r).mean(0), rtol=1e-4)
            np.testing.assert_allclose(
                values[pixels]["RMSE"][i], np.sqrt(((p - r) ** 2).mean(0)), rtol=1e-4
            )
            np.testing.assert_allclose(
                values[pixels]["PSNR"][i], -10 * np.log10(((p - r) ** 2).mean(0)), rtol=1e-4
            )
            cosine = (p * r).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(r, axis=1)
            assert values[pixels]["SAM"][i] == pytest.approx(
                np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean(), rel=1e-3
            )
            # SSIM: scikit-image's SSIM map, averaged over the class inside the 3 px border
            for b in range(4):
                _, full = structural_similarity(
                    clear[i, ..., b].astype(np.float64),
                    predicted[i, ..., b].astype(np.float64),
                    data_range=1,
                    full=True,
                )
                inner = mask[i][3:-3, 3:-3]
                assert values[pixels]["SSIM"][i, b] == pytest.approx(
                    full[3:-3, 3:-3][inner].mean(), abs=1e-4
                )
    everything = band_metrics(predicted, clear)
    np.testing.assert_allclose(
        class_metrics(predicted, clear, {"all": None})["all"]["PSNR"], everything["PSNR"]
    )


def test_a_rerun_into_its_results_is_refused_or_replaces_them_with_overwrite(trained, tmp_path):
    """A notebook cell run twice: the second evaluate is refused naming overwrite; with
    overwrite=True it replaces the earlier results whole; a folder that is not results of
    'crmss test' is never replaced."""
    options = EvaluateOptions(
        data=trained / "data", models=(str(trained / "run"),), out=tmp_path / "results", methods=()
    )
    first = evaluate(options)
    (tmp_path / "results" / "mine.txt").write_text("from the first run")
    with pytest.raises(
        InputError,
        match="nothing is overwritten: choose a new out, or "
        "overwrite=True to replace the results of an earlier run",
    ):
        evaluate(options)
    again = evaluate(dataclasses.replace(options, overwrite=True))
    pd.testing.assert_frame_equal(first, again)
    assert (tmp_path / "results" / "metrics.csv").is_file() and not (
        tmp_path / "results" / "mine.txt"
    ).exists()
    # nothing set aside is left
    assert not [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".results.") and "-" in p.name
    ]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(
        InputError,
        match="holds no metrics.csv, so it is not the results of an "
        "earlier 'crmss test' and is not replaced",
    ):
        evaluate(dataclasses.replace(options, out=other, overwrite=True))
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
