"""crmss predict: grids, no-data, radiometry, seams, kills and failures on synthetic products."""

import logging
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

import crmss
from conftest import SIZE, cloudy_product, make_level_2a, run_cli
from crmss.core.bands import BANDS_10M, BANDS_20M
from crmss.core.errors import InputError
from crmss.core.files import file_sha256
from crmss.core.options import PredictOptions
from crmss.dataset.synthetic import write_pair
from crmss.inference.blending import blend_weights, ramp, tile_starts
from crmss.inference.predict import predict_products
from crmss.io.cog import overview_factors
from crmss.io.open import open_product
from crmss.nn.precision import choose_precision


def outputs(folder):
    """The outputs in ``folder``: 10 m, 20 m and the cloud weights (``--mask haze``, the default),
    those present."""
    return {res: path for res in ("10m", "20m", "mask") for path in folder.glob(f"*_CR_{res}.tif")}


def read(path):
    return gdal.Open(str(path)).ReadAsArray()


def test_tiles_cover_the_scene_with_even_offsets_and_blending_ramps():
    assert tile_starts(10980, 1024, 128) == list(range(0, 10980 - 1024, 896)) + [9956]
    assert tile_starts(780, 1024, 128) == [0] and tile_starts(780, 256, 0) == [0, 256, 512, 524]
    for starts in (tile_starts(10980, 1024, 128), tile_starts(1000, 256, 64)):
        assert all(s % 2 == 0 for s in starts)
    weights = ramp(512, 128)
    assert (
        weights.min() > 0
        and weights.max() == 1
        and weights[0] == weights[-1] == pytest.approx(0.5 / 128)
    )
    assert np.all(weights[128:-128] == 1) and np.all(np.diff(weights[:128]) > 0)
    assert np.all(ramp(64, 0) == 1)
    for length, size, overlap in (
        (10980, 1024, 128),
        (1000, 256, 64),
        (780, 256, 0),
        (780, 1024, 128),
    ):
        starts = tile_starts(length, size, overlap)
        weights = blend_weights(length, starts, size, overlap)
        total = np.zeros(length + size)
        for start, w in zip(starts, weights):
            total[start : start + size] += w
        # a partition of unity over the scene
        np.testing.assert_allclose(total[:length], 1, rtol=1e-6)
        assert np.all(weights > 0)


def test_overview_levels_reach_one_cog_block():
    # down to 344 px, as GDAL's COG driver
    assert overview_factors(10980, 10980) == [2, 4, 8, 16, 32]
    assert (
        overview_factors(5490, 5490) == [2, 4, 8, 16]
        and overview_factors(780, 600) == [2]
        and overview_factors(512, 512) == []
    )


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory, products, trained):
    """Outputs of the unzipped cloudy product (tile 512, overlap 128)."""
    out = tmp_path_factory.mktemp("predicted")
    predict_products(
        PredictOptions(
            [cloudy_product(products(0))],
            trained / "run",
            out,
            tile=512,
            overlap=128,
            progress=False,
        )
    )
    return out


def test_outputs_are_cogs_on_the_input_grid_with_nodata_carried(cleaned, products):
    product = open_product(cloudy_product(products(0)))
    files = outputs(cleaned)
    for res, bands in (
        ("10m", ("B02", "B03", "B04", "B08")),
        ("20m", ("B05", "B06", "B07", "B8A", "B11", "B12")),
    ):
        ds, source = gdal.Open(str(files[res])), gdal.Open(product.band_files[bands[0]])
        assert (ds.RasterXSize, ds.RasterYSize) == (source.RasterXSize, source.RasterYSize)
        assert (
            ds.GetGeoTransform() == source.GetGeoTransform()
            and ds.GetProjection() == source.GetProjection()
        )
        assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == list(
            bands
        )
        assert (
            ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
            and ds.GetRasterBand(1).GetNoDataValue() == 0
        )
        # COG overviews down to one 512 px block
        assert ds.GetRasterBand(1).GetOverviewCount() >= (ds.RasterXSize > 512)
        assert "no radiometric offset" in ds.GetMetadataItem("CRMSS_SCALE")
        nodata = np.any([read(product.band_files[b]) == 0 for b in bands], axis=0)
        pixels = ds.ReadAsArray()
        assert nodata.any() and np.all(pixels[:, nodata] == 0) and np.all(pixels[:, ~nodata] >= 1)
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "osgeo_utils.samples.validate_cloud_optimized_geotiff",
                str(files[res]),
            ],
            capture_output=True,
            text=True,
        )
        assert "is a valid cloud optimized GeoTIFF" in check.stdout, check.stdout + check.stderr


def test_overviews_average_valid_pixels_only(cleaned):
    ds = gdal.Open(str(outputs(cleaned)["10m"]))
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
    full, overview = (
        ds.GetRasterBand(1).ReadAsArray(),
        ds.GetRasterBand(1).GetOverview(0).ReadAsArray(),
    )
    blocks = (
        full.reshape(SIZE // 2, 2, SIZE // 2, 2)
        .swapaxes(1, 2)
        .reshape(SIZE // 2, SIZE // 2, 4)
        .astype(float)
    )
    valid = blocks > 0
    assert np.array_equal(overview == 0, ~valid.any(axis=-1))
    mixed = valid.any(axis=-1) & ~valid.all(axis=-1)  # blocks on the no-data border
    assert mixed.sum() > 10
    lowest = np.where(valid, blocks, np.inf).min(axis=-1)
    assert np.all(overview[mixed] >= np.floor(lowest[mixed]))  # no zeros averaged in


def test_deflate_output_holds_the_same_pixels(cleaned, products, trained, tmp_path):
    options = PredictOptions(
        [cloudy_product(products(0))],
        trained / "run",
        tmp_path,
        tile=512,
        overlap=128,
        compress="deflate",
        progress=False,
    )
    predict_products(options)
    for res, path in outputs(tmp_path).items():
        assert gdal.Open(str(path)).GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))


@pytest.mark.parametrize("layout", [dict(baseline="04.00"), dict(zipped=True)])
def test_baseline_04_and_zipped_products_give_the_same_output(
    cleaned, products, trained, tmp_path, layout
):
    predict_products(
        PredictOptions(
            [cloudy_product(products(0, **layout))],
            trained / "run",
            tmp_path,
            tile=512,
            overlap=128,
            progress=False,
        )
    )
    for res, path in outputs(tmp_path).items():
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))


@pytest.mark.parametrize("mission", ["S2B", "S2C"])
def test_other_missions_at_a_recent_baseline_give_the_same_output(
    cleaned, pairs, trained, tmp_path, mission
):
    """The same scene as a recent S2B/S2C product (baseline 05.11, offset -1000, zipped), sensed
    after the satellite's launch."""
    names = [
        f"{mission}{name[3:]}".replace("_2016", "_2025")
        for name in (pairs[0].clear, pairs[0].cloudy)
    ]
    cloudy, _ = write_pair(
        tmp_path / "in", *names, size=SIZE, seed=7, baseline="05.11", zipped=True
    )
    assert cloudy.name.startswith(f"{mission}_MSIL1C_") and "_N0511_" in cloudy.name
    predict_products(
        PredictOptions(
            [cloudy], trained / "run", tmp_path / "out", tile=512, overlap=128, progress=False
        )
    )
    for res, path in outputs(tmp_path / "out").items():
        assert path.name == f"{cloudy.stem}_CR_{res}.tif"
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))


def _seam_ratio(image, borders, valid):
    """Mean |difference| of neighbouring pixels across the tile borders over the mean elsewhere,
    between the ``valid`` pixels of ``image`` (bands, rows, cols)."""
    # between columns c and c + 1
    diff = np.abs(np.diff(image.astype(np.float64), axis=2)).mean(axis=0)
    ok = valid[:, 1:] & valid[:, :-1]
    at = [c - 1 for c in borders]
    across = diff[:, at][ok[:, at]].mean()
    others = np.ones(diff.shape[1], bool)
    others[at] = False
    return across / diff[:, others][ok[:, others]].mean()


def test_blended_tiles_show_no_seams_where_naive_tiles_do(products, trained, tmp_path):
    """Seams measured on what the network changed (output - input, the raw output: no mask),
    where the scene's own edges cancel out and a tile's edge shows (measured: 1.15 across the
    naive tiles' borders, 1.04 across the same lines blended)."""
    product = [cloudy_product(products(0))]
    for name, overlap in (("naive", 0), ("blended", 128)):
        predict_products(
            PredictOptions(
                product,
                trained / "run",
                tmp_path / name,
                tile=256,
                overlap=overlap,
                progress=False,
                mask="none",
            )
        )
    borders = [256, 512]  # the naive tiles' borders, in both directions, inside the valid area
    given = np.moveaxis(open_product(product[0]).read(BANDS_10M), -1, 0) * 10000

    def both_axes(folder, lines):
        output = read(outputs(folder)["10m"])
        change, valid = output - given, np.all(output > 0, axis=0)
        return (
            _seam_ratio(change, lines, valid)
            + _seam_ratio(np.swapaxes(change, 1, 2), lines, valid.T)
        ) / 2

    naive = both_axes(tmp_path / "naive", borders)
    blended = both_axes(tmp_path / "blended", borders)
    blended_own = both_axes(tmp_path / "blended", [128, 256, 384, 512])
    assert naive > 1.1, naive
    assert blended <= 1.1 and blended_own <= 1.1, (blended, blended_own)


def test_tile_larger_than_the_scene_and_no_overlap_are_valid(products, trained, tmp_path):
    predict_products(
        PredictOptions(
            [cloudy_product(products(0))],
            trained / "run",
            tmp_path,
            tile=2048,
            overlap=0,
            progress=False,
        )
    )
    assert read(outputs(tmp_path)["10m"]).shape == (4, SIZE, SIZE)


KILLER = """
import os, signal, sys
import crmss.inference.runner
real, calls = crmss.inference.runner.TileRunner.weighted, [0]
def call_then_die(self, *args):
    calls[0] += 1
    if calls[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *args)
crmss.inference.runner.TileRunner.weighted = call_then_die
from crmss.cli import console
console(["predict", *sys.argv[1:]])
"""


def test_a_killed_run_leaves_no_output_and_a_rerun_finishes(products, trained, cleaned, tmp_path):
    args = [
        str(cloudy_product(products(0))),
        "--model",
        str(trained / "run"),
        "--out",
        str(tmp_path),
        "--tile",
        "512",
        "--batch-size",
        "1",
    ]
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], capture_output=True, text=True)
    assert killed.returncode == -9
    left = sorted(p.name for p in tmp_path.iterdir())
    # partial files and the lock only, nothing at a final name
    assert left and all(name.startswith(".") for name in left), left
    again = run_cli("predict", *args, "--no-progress")
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in outputs(cleaned).values()
    )
    for res, path in outputs(tmp_path).items():
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))
    skipped = run_cli("predict", *args, "--no-progress")
    assert skipped.returncode == 0 and "skipped" in skipped.stdout
    stated = gdal.Info(str(outputs(tmp_path)["10m"]), format="json")["metadata"][""]
    assert (
        stated["CRMSS_MODEL_SHA256"] == file_sha256(trained / "run" / "generator.keras")
        and stated["CRMSS_TILE"] == "512"
    )
    before = {res: path.read_bytes() for res, path in outputs(tmp_path).items()}
    other = [*args[:-4], "--tile", "256", "--batch-size", "1", "--no-progress"]
    refused = run_cli("predict", *other)
    assert (
        refused.returncode == 2
        and "made with another tile 512 (now 256); give --overwrite" in refused.stderr
    ), refused.stderr[-2000:]
    assert {res: path.read_bytes() for res, path in outputs(tmp_path).items()} == before
    replaced = run_cli("predict", *other, "--overwrite")
    assert (
        replaced.returncode == 0 and "replaced (--overwrite)" in replaced.stdout + replaced.stderr
    ), replaced.stderr[-2000:]
    assert (
        gdal.Info(str(outputs(tmp_path)["20m"]), format="json")["metadata"][""]["CRMSS_TILE"]
        == "256"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in outputs(cleaned).values()
    )


PUBLISH_THEN_DIE = """
import os, signal, sys
import crmss.io.cog
real, calls = crmss.io.cog.StreamedCOG.publish, [0]
def publish_then_die(self):
    real(self)
    calls[0] += 1
    if calls[0] == 1:  # the 10 m COG is at its final name, the 20 m one not yet
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
crmss.io.cog.StreamedCOG.publish = publish_then_die
from crmss.cli import console
console(["predict", *sys.argv[2:]])
"""


def test_a_kill_between_the_two_cogs_leaves_no_lone_output(products, trained, cleaned, tmp_path):
    """SIGTERM (or Ctrl-C) between the two renames: the first is taken back at once. SIGKILL
    there cannot be caught: the journal it leaves makes the next run take the lone COG away
    before anything else, and redo the product."""
    args = [
        str(cloudy_product(products(0))),
        "--model",
        str(trained / "run"),
        "--out",
        str(tmp_path),
        "--tile",
        "512",
        "--no-progress",
    ]
    terminated = subprocess.run(
        [sys.executable, "-c", PUBLISH_THEN_DIE, "SIGTERM", *args], capture_output=True, text=True
    )
    assert (
        terminated.returncode == 143
        and "terminated; run the same command again" in terminated.stderr
    ), terminated.stderr[-2000:]
    # no output, no journal, no temporary file, no lock
    assert [p.name for p in tmp_path.iterdir()] == []
    killed = subprocess.run(
        [sys.executable, "-c", PUBLISH_THEN_DIE, "SIGKILL", *args], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL
    names = {p.name for p in tmp_path.iterdir()}
    lone = {n for n in names if not n.startswith(".")}
    assert (
        len(lone) == 1
        and lone.pop().endswith("_CR_10m.tif")
        and any(n.endswith(".publishing") for n in names)
    )
    again = run_cli("predict", *args)
    assert again.returncode == 0 and "skipped" not in again.stdout, again.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in outputs(cleaned).values()
    )
    for res, path in outputs(tmp_path).items():
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))


def test_failing_products_are_reported_and_the_others_finish(products, trained, tmp_path):
    broken = shutil.copytree(
        cloudy_product(products(0)), tmp_path / "in" / cloudy_product(products(0)).name
    )
    band = next(broken.rglob("*_B11.jp2"))
    band.write_bytes(band.read_bytes()[: band.stat().st_size * 2 // 3])
    level2a = make_level_2a(
        shutil.copytree(
            cloudy_product(products(0)),
            tmp_path / "l2a" / cloudy_product(products(0)).name.replace("L1C", "L2A"),
        )
    )
    good = next(p for p in products(0).iterdir() if "20160403" in p.name)
    run = run_cli(
        "predict",
        broken,
        level2a,
        good,
        "--model",
        trained / "run",
        "--out",
        tmp_path / "out",
        "--tile",
        "512",
        "--no-progress",
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        "_B11.jp2: cannot decode the image"
    ) in run.stderr and "the other products are done" in run.stderr
    assert f"{level2a}: is a S2MSI2A product; crmss needs Level-1C" in run.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"{good.stem}_CR_{r}.tif" for r in ("10m", "20m", "mask"))


def test_bad_options_are_refused(products, trained, tmp_path):
    product = cloudy_product(products(0))
    assert (
        "multiple of 32"
        in run_cli(
            "predict", product, "--model", trained / "run", "--out", tmp_path, "--tile", "100"
        ).stderr
    )
    run = run_cli("predict", product, "--model", tmp_path / "nothing", "--out", tmp_path / "o")
    assert (
        run.returncode == 2
        and f"--model {tmp_path / 'nothing'}: no such file or folder" in run.stderr
    )
    (tmp_path / "empty").mkdir()
    run = run_cli("predict", product, "--model", tmp_path / "empty", "--out", tmp_path / "o")
    assert (
        run.returncode == 2
        and "no trained generator" in run.stderr
        and not (tmp_path / "o").exists()
    )


def test_a_metadata_file_a_folder_inside_the_safe_and_a_safe_zip_name_the_product(
    cleaned, products, trained, tmp_path
):
    safe = cloudy_product(products(0))
    zipped = cloudy_product(products(0, zipped=True))
    renamed = shutil.copy(zipped, tmp_path / f"{zipped.stem}.SAFE.zip")  # a common download name
    for name, path, cwd in (
        ("mtd", safe / "MTD_MSIL1C.xml", None),
        ("dot", ".", safe),
        ("safezip", renamed, None),
    ):
        out = tmp_path / name
        run = run_cli(
            "predict",
            path,
            "--model",
            trained / "run",
            "--out",
            out,
            "--tile",
            "512",
            "--no-progress",
            cwd=cwd,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        for res, reference in outputs(cleaned).items():
            assert np.array_equal(read(out / reference.name), read(reference)), (name, res)


def test_bucket_tile_folders_give_the_same_output_named_by_their_product(
    cleaned, products, trained, tmp_path
):
    compact = products(0, bucket=True) / "tiles/50/T/MK/2016/4/13/0"
    pdmc = products(0, bucket=True, naming="long") / "tiles/50/T/MK/2016/4/13/0"
    run = run_cli(
        "predict",
        compact,
        pdmc / "metadata.xml",
        "--model",
        trained / "run",
        "--out",
        tmp_path,
        "--tile",
        "512",
        "--no-progress",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    pdmc_name = open_product(pdmc).name
    for res, reference in outputs(cleaned).items():
        assert np.array_equal(read(tmp_path / reference.name), read(reference)), res
        # one tile folder of a product of two tiles: the output names the tile
        assert np.array_equal(
            read(tmp_path / f"{pdmc_name}_T50TMK_CR_{res}.tif"), read(reference)
        ), res


def test_a_visnir_model_writes_the_10m_output_alone_and_says_so(
    products, cleaned, tmp_path, caplog
):
    from crmss.nn.model import build_generator

    run = tmp_path / "run"
    run.mkdir()
    build_generator(8, bands="visnir").save(run / "generator.keras")
    caplog.set_level(logging.INFO, logger="crmss")
    written = predict_products(
        PredictOptions(
            [cloudy_product(products(0))], run, tmp_path / "out", tile=512, progress=False
        )
    )
    lines = caplog.messages
    assert [p.name for p in written] == [
        outputs(cleaned)["10m"].name,
        outputs(cleaned)["mask"].name,
    ] and not list((tmp_path / "out").glob("*_CR_20m.tif"))
    assert lines[-1].endswith("(a Vis/NIR model: no 20 m output)")
    peak = re.search(
        r": wrote \S+_CR_10m\.tif and \S+_CR_mask\.tif in \d+ s, peak memory of the process "
        r"(\d+\.\d) "
        r"GB",
        lines[-1],
    )
    assert peak and 0.1 < float(peak[1]) < 64, lines[-1]
    image, reference = read(written[0]), read(outputs(cleaned)["10m"])
    # the same grid and no-data
    assert image.shape == reference.shape and np.array_equal(image == 0, reference == 0)


def test_stacks_10m_writes_the_10m_output_alone_with_the_pixels_of_both(
    products, trained, cleaned, tmp_path
):
    args = [
        cloudy_product(products(0)),
        "--model",
        trained / "run",
        "--out",
        tmp_path,
        "--tile",
        "512",
        "--no-progress",
    ]
    run = run_cli("predict", *args, "--stacks", "10m")
    assert run.returncode == 0 and "(--stacks 10m)" in run.stdout, run.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        outputs(cleaned)["10m"].name,
        outputs(cleaned)["mask"].name,
    ]
    assert np.array_equal(
        read(tmp_path / outputs(cleaned)["10m"].name), read(outputs(cleaned)["10m"])
    )
    refused = run_cli("predict", *args, "--stacks", "20m")
    assert (
        refused.returncode == 2
        and "--stacks 20m: unknown; choose one of all, 10m" in refused.stderr
    )


TWO_DEVICES = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from crmss.cli import console
console(["predict", *sys.argv[1:]])
"""


def test_two_logical_devices_give_the_outputs_of_one(products, trained, cleaned, tmp_path):
    args = [
        cloudy_product(products(0)),
        "--model",
        trained / "run",
        "--out",
        tmp_path,
        "--tile",
        "512",
        "--devices",
        "CPU:0,CPU:1",
    ]
    run = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, *map(str, args), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "on CPU:0, CPU:1" in run.stdout
    for res, path in outputs(tmp_path).items():
        # tiles dealt to two devices, summed in one order
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))
    precision = gdal.Open(str(outputs(cleaned)["10m"])).GetMetadataItem("CRMSS_PRECISION")
    assert precision == str(choose_precision("auto", ["CPU:0"])) and precision.startswith(
        ("float32 (auto", "bfloat16 (auto")
    )


def test_devices_the_machine_lacks_are_refused(products, trained, tmp_path):
    args = [cloudy_product(products(0)), "--model", trained / "run", "--out", tmp_path / "out"]
    absent = run_cli("predict", *args, "--devices", "GPU:0")
    assert (
        absent.returncode == 2
        and "--devices GPU:0: no GPU:0 here; this machine has CPU:0" in absent.stderr
    )
    malformed = run_cli("predict", *args, "--devices", "gpu0")
    assert (
        malformed.returncode == 2
        and "give 'all' or device names separated by commas" in malformed.stderr
    )
    assert not (tmp_path / "out").exists()


def test_bfloat16_stays_far_below_the_models_own_error(products, trained):
    """Fidelity bound of reduced precision on a small trained model (width 8, one epoch;
    BENCHMARKS.md has the
    figures of a width-64 model): its bfloat16 outputs differ from float32's by much less than
    float32's from the truth."""

    def psnr(a, b):
        return 10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2))

    cloudy, clear = (
        open_product(p)
        for p in (
            cloudy_product(products(0)),
            next(p for p in products(0).iterdir() if "20160403" in p.name),
        )
    )
    generator = crmss.load_generator(trained / "run")
    x = [cloudy.read(BANDS_10M), cloudy.read(BANDS_20M)]
    truth = [clear.read(BANDS_10M), clear.read(BANDS_20M)]
    reference = crmss.clean(generator, *x, tile=512, precision="float32")
    reduced = crmss.clean(generator, *x, tile=512, precision="bfloat16")
    for y32, y16, y in zip(reference, reduced, truth):
        valid = np.all(y > 0, axis=-1) & np.all(y32 > 0, axis=-1)
        assert not np.array_equal(y16, y32)  # it did compute in bfloat16
        assert psnr(y16[valid], y32[valid]) > 45
        assert psnr(y16[valid], y32[valid]) > psnr(y32[valid], y[valid]) + 15


def gdal_decode(encoded: list[bytes]) -> list[np.ndarray]:
    """What nvImageCodec returns for JPEG2000 files' bytes, decoded here by GDAL."""
    arrays = []
    for number, data in enumerate(encoded):
        name = f"/vsimem/gpu-decode-{number}.jp2"
        gdal.FileFromMemBuffer(name, data)
        arrays.append(gdal.Open(name).ReadAsArray())
        gdal.Unlink(name)
    return arrays


def failing_decode(encoded: list[bytes]) -> list[np.ndarray]:
    raise RuntimeError("nvImageCodec could not decode file 1 of 10 on the GPU")


@pytest.mark.parametrize(
    "decode, warning",
    [
        # the GPU route itself: whole bands decoded in one batch, strips cut from them
        (gdal_decode, None),
        (
            failing_decode,
            "its bands cannot be decoded on the GPU (nvImageCodec could not decode file 1 of 10",
        ),
        (
            lambda encoded: [a[:-2] for a in gdal_decode(encoded)],
            "B02 decoded on the GPU as uint16 (778, 780), but its header says uint16 (780, 780)",
        ),
    ],
)
def test_the_gpu_decoder_route_writes_the_gdal_outputs_or_falls_back_to_gdal(
    products, trained, cleaned, tmp_path, monkeypatch, caplog, decode, warning
):
    """No GPU here: the GPU decoder is replaced by GDAL's own decoding (or by one that fails, or
    gives a wrong size)."""
    import crmss.inference.predict
    import crmss.inference.sources

    monkeypatch.setattr(crmss.inference.predict, "resolve_decoder", lambda requested: "gpu")
    monkeypatch.setattr(crmss.inference.sources, "decode_jp2", decode)
    with caplog.at_level(logging.WARNING, logger="crmss"):
        predict_products(
            PredictOptions(
                [cloudy_product(products(0))],
                trained / "run",
                tmp_path,
                tile=512,
                overlap=128,
                progress=False,
            )
        )
    for res, path in outputs(tmp_path).items():
        assert np.array_equal(read(path), read(outputs(cleaned)[res]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if warning is None:
        assert not warnings
    else:
        assert any(warning in w and w.endswith("with GDAL") for w in warnings), warnings


def test_the_gpu_decoder_is_refused_where_there_is_none(products, trained, tmp_path):
    args = [
        cloudy_product(products(0)),
        "--model",
        trained / "run",
        "--out",
        tmp_path / "out",
        "--decoder",
        "gpu",
    ]
    run = run_cli("predict", *args)
    message = (
        "--decoder gpu: nvImageCodec is not installed (pip install 'crmss[gpu]') or finds "
        "no GPU here; use --decoder gdal"
    )
    assert run.returncode == 2 and message in run.stderr
    with pytest.raises(
        InputError,
        match=r"decoder='gpu': nvImageCodec is not installed .* use "
        r"decoder='gdal'",
    ):
        crmss.predict(
            crmss.PredictOptions(
                [cloudy_product(products(0))], trained / "run", tmp_path / "out", decoder="gpu"
            )
        )
    assert not (tmp_path / "out").exists()
