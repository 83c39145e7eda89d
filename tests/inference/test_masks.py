"""Cloud-aware output: clear pixels keep their input exactly, cloud takes the network's output,
the weights written beside the outputs, recorded, and read from a raster the user gives."""

import shutil
import sys

import numpy as np
import pytest
from osgeo import gdal, osr

import crmss
import crmss.evaluation.results
from conftest import cloudy_product, run_cli
from crmss.core.bands import BANDS_10M, BANDS_20M, RESOLUTION
from crmss.core.errors import InputError
from crmss.core.options import PredictOptions
from crmss.dataset.cloud_masks import (
    MASK_FACTOR,
    RAMP_M,
    S2CLOUDLESS_BANDS,
    CloudWeights,
    blend_clear,
    feathered,
    haze_mask,
    s2cloudless_mask,
)
from crmss.inference.masks import scene_weights
from crmss.inference.predict import predict_products
from crmss.io.open import open_product


def _read(path):
    return gdal.Open(str(path)).ReadAsArray()


def _output(folder, suffix):
    return next(folder.glob(f"*_CR_{suffix}.tif"))


def test_haze_is_fmasks_hot_test_on_blue_and_red():
    # vegetation (Zhu and Woodcock's clear land: blue low, red lower), water, thin cloud over both
    pixels = np.array(
        [[[0.04, 0.06, 0.03, 0.35], [0.06, 0.05, 0.03, 0.02], [0.20, 0.21, 0.17, 0.40]]],
        np.float32,
    )
    assert haze_mask(pixels[..., 0], pixels[..., 2]).tolist() == [[False, False, True]]


def test_the_weights_ramp_from_cloud_to_clear_and_blend_keeps_clear_pixels_exactly():
    cloudy = np.zeros((1, 12), bool)
    cloudy[0, :3] = True
    weights = feathered(cloudy, 40.0)
    assert weights[0, :3].tolist() == [1, 1, 1] and weights[0, -1] == 0
    assert np.all(np.diff(weights[0]) <= 0) and weights[0, 3] == pytest.approx(1 - 40 / RAMP_M)
    output = np.full((2, 3, 2), 3000, np.uint16)
    given = np.full((2, 3, 2), 1000, np.uint16)
    output[1, 2] = given[1, 2] = 0  # no data
    w = np.array([[0, 0.5, 1], [0, 1, 1]], np.float32)
    blended = blend_clear(output, given, w)
    assert blended[..., 0].tolist() == [[1000, 2000, 3000], [1000, 3000, 0]]
    floats = blend_clear(output / 1e4, given / 1e4, w)
    assert floats[0, :, 0] == pytest.approx([0.1, 0.2, 0.3])


def test_weights_interpolate_to_both_grids_and_arrays_mark_any_cloudy_block():
    mask = np.zeros((16, 16), bool)
    mask[:4, :4] = True  # one block of the weights' grid
    clouds = CloudWeights.of_arrays(mask, np.zeros((16, 16, 4), np.float32))
    assert clouds.coarse.shape == (16 // MASK_FACTOR,) * 2 and clouds.coarse[0, 0] == 1
    ten, twenty = clouds.rows(1, 0, 16, 16), clouds.rows(2, 0, 8, 8)
    assert ten.shape == (16, 16) and twenty.shape == (8, 8)
    assert ten[:4, :4].min() == 1 and twenty[:2, :2].min() == 1  # all of a cloud-affected block
    assert ten[-1, -1] == 0 and 0 < ten[5, 5] < 1
    assert clouds.rows(1, 4, 2, 16).tolist() == ten[4:6].tolist()  # rows of a strip
    assert CloudWeights.of_arrays("none", np.zeros((4, 4, 4))) is None


@pytest.fixture(scope="module")
def masked(tmp_path_factory, products, trained):
    """The cloudy product predicted with each --mask: none and haze."""
    root = tmp_path_factory.mktemp("masked")
    for mask in ("none", "haze"):
        predict_products(
            PredictOptions(
                [cloudy_product(products(0))],
                trained / "run",
                root / mask,
                tile=512,
                overlap=128,
                mask=mask,
                progress=False,
            )
        )
    return root


def test_clear_pixels_keep_their_input_and_cloud_takes_the_raw_output(masked, products):
    product = open_product(cloudy_product(products(0)))
    weights = _read(_output(masked / "haze", "mask"))
    assert 0 < (weights > 0).mean() < 1 and weights.max() == 100
    for res, bands, scale in (("10m", BANDS_10M, 1), ("20m", BANDS_20M, 2)):
        given = np.stack([_read(product.band_files[b]) for b in bands])
        raw, kept = _read(_output(masked / "none", res)), _read(_output(masked / "haze", res))
        size = MASK_FACTOR // scale  # the pixels of this grid that a weights' pixel covers
        # far from cloud (a whole weights' pixel of 0 and its neighbours): the input exactly
        around = np.kron(
            _max3(weights) == 0,
            np.ones((size, size), bool),
        )[: given.shape[1], : given.shape[2]] & (given > 0).all(axis=0)
        assert around.any() and np.array_equal(kept[:, around], given[:, around]), res
        inside = np.kron(_min3(weights) == 100, np.ones((size, size), bool))[
            : given.shape[1], : given.shape[2]
        ]
        assert inside.any() and np.array_equal(kept[:, inside], raw[:, inside]), res
        assert np.array_equal(kept == 0, raw == 0)
    ds = gdal.Open(str(_output(masked / "haze", "mask")))
    source = gdal.Open(product.band_files["B02"])
    assert ds.GetGeoTransform()[1] == source.GetGeoTransform()[1] * MASK_FACTOR
    assert ds.GetProjection() == source.GetProjection()
    assert ds.GetMetadataItem("CRMSS_MASK").startswith("haze (Fmask's HOT test")
    assert _read(_output(masked / "haze", "10m")).shape[1:] == (
        ds.RasterYSize * MASK_FACTOR,
        ds.RasterXSize * MASK_FACTOR,
    )
    assert (
        gdal.Open(str(_output(masked / "none", "10m")))
        .GetMetadataItem("CRMSS_MASK")
        .startswith("none")
    )
    assert not list((masked / "none").glob("*_CR_mask.tif"))


def _max3(a):
    """The largest of each pixel's 3 x 3 neighbourhood."""
    padded = np.pad(a, 1, mode="edge")
    return np.max(
        [padded[i : i + a.shape[0], j : j + a.shape[1]] for i in range(3) for j in range(3)], 0
    )


def _min3(a):
    """The smallest of each pixel's 3 x 3 neighbourhood."""
    padded = np.pad(a, 1, mode="edge")
    return np.min(
        [padded[i : i + a.shape[0], j : j + a.shape[1]] for i in range(3) for j in range(3)], 0
    )


def test_a_mask_raster_in_another_coordinate_system_is_resampled_and_recorded(
    masked, products, trained, tmp_path
):
    product = open_product(cloudy_product(products(0)))
    grid = product.grid()
    # the western half cloud-affected, written in geographic coordinates (EPSG:4326)
    half = np.zeros((grid.height // 4, grid.width // 4), np.uint8)
    half[:, : half.shape[1] // 2] = 2  # OmniCloudMask's class of thin cloud
    utm = gdal.GetDriverByName("MEM").Create("", half.shape[1], half.shape[0], 1, gdal.GDT_Byte)
    utm.SetGeoTransform(grid.geotransform_at(4))
    utm.SetProjection(grid.projection)
    utm.WriteArray(half)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    gdal.Warp(str(tmp_path / "ocm.tif"), utm, dstSRS=wgs84.ExportToWkt(), resampleAlg="near")
    out = tmp_path / "out"
    run = run_cli(
        "predict", cloudy_product(products(0)), "--model", trained / "run", "--out", out,
        "--tile", "512", "--mask", tmp_path / "ocm.tif", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    weights = _read(_output(out, "mask"))[2:-2]  # the reprojected raster's edges may miss a row
    cols = weights.shape[1]
    assert weights[:, : cols // 2 - 3].min() == 100 and weights[:, cols // 2 + 3 :].max() == 0
    given = np.stack([_read(product.band_files[b]) for b in BANDS_10M])
    kept, east = _read(_output(out, "10m")), slice(grid.width // 2 + 64, None)
    assert np.array_equal(kept[:, :, east], given[:, :, east])
    stated = gdal.Open(str(_output(out, "10m"))).GetMetadata()
    assert stated["CRMSS_MASK"].startswith("raster with SHA-256 ")
    assert stated["CRMSS_MASK_FILE"] == str(tmp_path / "ocm.tif")
    # made with another mask: refused, then replaced with --overwrite, the mask file gone
    again = run_cli(
        "predict", cloudy_product(products(0)), "--model", trained / "run", "--out", out,
        "--tile", "512", "--mask", "none", "--no-progress",
    )  # fmt: skip
    assert again.returncode == 2 and "made with another mask" in again.stderr
    replaced = run_cli(
        "predict", cloudy_product(products(0)), "--model", trained / "run", "--out", out,
        "--tile", "512", "--mask", "none", "--overwrite", "--no-progress",
    )  # fmt: skip
    assert replaced.returncode == 0 and not list(out.glob("*_CR_mask.tif"))
    assert np.array_equal(_read(_output(out, "10m")), _read(_output(masked / "none", "10m")))


def test_an_scl_band_counts_its_cloud_classes_and_a_mask_elsewhere_is_refused(
    products, trained, tmp_path
):
    product = open_product(cloudy_product(products(0)))
    grid = product.grid()
    scl = np.full((grid.height // 2, grid.width // 2), 4, np.uint8)  # vegetation
    scl[: scl.shape[0] // 2] = 9  # cloud, high probability
    path = tmp_path / "T50TMK_20160413T031107_SCL_20m.tif"
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), scl.shape[1], scl.shape[0], 1, gdal.GDT_Byte
    )
    ds.SetGeoTransform(grid.geotransform_at(2))
    ds.SetProjection(grid.projection)
    ds.WriteArray(scl)
    ds = None
    out = tmp_path / "out"
    options = dict(tile=512, progress=False, mask=str(path))
    predict_products(PredictOptions([cloudy_product(products(0))], trained / "run", out, **options))
    weights = _read(_output(out, "mask"))
    rows = weights.shape[0]
    assert weights[: rows // 2 - 3].min() == 100 and weights[rows // 2 + 3 :].max() == 0
    # a mask of another place
    far = tmp_path / "far.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(far), 10, 10, 1, gdal.GDT_Byte)
    x0, *rest = grid.geotransform
    ds.SetGeoTransform((x0 + 1e6, *rest))
    ds.SetProjection(grid.projection)
    ds = None
    with pytest.raises(InputError, match="far.tif: the mask raster covers none of the product"):
        predict_products(
            PredictOptions(
                [cloudy_product(products(0))], trained / "run", tmp_path / "o2", mask=str(far),
                progress=False,
            )
        )  # fmt: skip
    with pytest.raises(
        InputError, match="mask='cloud.tif': give none, haze, s2cloudless or the path"
    ):
        PredictOptions(["x"], trained / "run", tmp_path, mask="cloud.tif")


def test_clean_keeps_what_its_mask_calls_clear(trained, products):
    product = open_product(cloudy_product(products(0)))
    x10, x20 = product.read(BANDS_10M), product.read(BANDS_20M)
    generator = crmss.load_generator(trained / "run")
    raw = crmss.clean(generator, x10, x20, tile=512, mask="none")
    clear = crmss.clean(generator, x10, x20, tile=512, mask=np.zeros(x10.shape[:2], bool))
    valid10, valid20 = (x10 > 0).all(-1), (x20 > 0).all(-1)
    assert np.array_equal(clear[0][valid10], np.rint(x10 * 1e4)[valid10] / 1e4)
    assert np.array_equal(clear[1][valid20], np.rint(x20 * 1e4)[valid20] / 1e4)
    everywhere = crmss.clean(generator, x10, x20, tile=512, mask=np.ones(x10.shape[:2], bool))
    assert np.array_equal(everywhere[0], raw[0]) and np.array_equal(everywhere[1], raw[1])
    with pytest.raises(InputError, match=r"clean: mask is an array of bool \(3, 3\)"):
        crmss.clean(generator, x10, x20, mask=np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="clean: mask='scl.tif'"):
        crmss.clean(generator, x10, x20, mask="scl.tif")
    with pytest.raises(InputError, match="reads B01, B09 and B10 too, which x10 and x20 do not"):
        crmss.clean(generator, x10, x20, mask="s2cloudless")


def test_crmss_test_scores_the_blended_output_where_asked(trained, tmp_path):
    """--mask haze: the model's clear pixels score at least as its raw output's, every value of
    the classical methods and the input unchanged, and the report says what was scored."""
    results = {}
    for mask in ("none", "haze"):
        out = tmp_path / mask
        run = run_cli(
            "test", "--data", trained / "data", "--model", trained / "run", "--out", out,
            "--mask", mask, "--methods", "hot", "--figures", "0", "--no-progress",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        frame = crmss.evaluation.results.read_metrics_csv(out / "metrics.csv")
        results[mask] = frame.set_index(["method", "scene", "pixels", "band", "metric"])["value"]
    raw, kept = results["none"], results["haze"]
    others = [m for m in raw.index.get_level_values("method").unique() if m != "crmss"]
    assert raw.loc[others].equals(kept.loc[others])
    clear = ("crmss", "all", "clear")
    for band in ("mean_10m", "mean_20m"):
        assert kept.loc[(*clear, band, "PSNR")] >= raw.loc[(*clear, band, "PSNR")]
    assert not raw.loc["crmss"].equals(kept.loc["crmss"])
    report = (tmp_path / "haze" / "report.md").read_text()
    assert "scored as `crmss predict` writes them (`--mask haze`)" in report
    assert "crmss predict" not in (tmp_path / "none" / "report.md").read_text()
    with pytest.raises(InputError, match="mask='raster.tif': unknown; choose one of none, haze"):
        crmss.EvaluateOptions(
            data=trained / "data",
            models=(str(trained / "run"),),
            out=tmp_path / "x",
            mask="raster.tif",
        )


def _raster(path, array, grid, scale, nodata=None):
    """``array`` written as a GeoTIFF on ``grid`` coarsened ``scale`` times."""
    types = {np.uint8: gdal.GDT_Byte, np.float32: gdal.GDT_Float32}
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), array.shape[1], array.shape[0], 1, types[array.dtype.type]
    )
    ds.SetGeoTransform(grid.geotransform_at(scale))
    ds.SetProjection(grid.projection)
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds.GetRasterBand(1).WriteArray(array)
    ds = None
    return path


def test_mask_rasters_count_any_cloudy_pixel_a_clear_one_is_clear_probabilities_from_half(
    products, tmp_path
):
    from crmss.io.raster import mask_on_grid

    grid = open_product(cloudy_product(products(0))).grid()
    size = (grid.height, grid.width)
    sparse = np.zeros(size, np.uint8)
    sparse[::4, ::4] = 1  # one 10 m pixel in every block of the weights' grid
    assert mask_on_grid(str(_raster(tmp_path / "sparse.tif", sparse, grid, 1)), grid, 4).all()
    clear = _raster(tmp_path / "clear.tif", np.zeros(size, np.uint8), grid, 1, nodata=0)
    assert not mask_on_grid(str(clear), grid, 4).any()  # all clear, no-data 0: still covered
    probability = np.zeros(size, np.float32)
    probability[:, : grid.width // 2] = 0.6
    probability[:, grid.width // 2 :] = 0.4
    cloudy = mask_on_grid(str(_raster(tmp_path / "p.tif", probability, grid, 1)), grid, 4)
    half = grid.width // 2 // 4  # the weights' column holding the boundary: cloud-affected
    assert cloudy[:, : half + 1].all() and not cloudy[:, half + 1 :].any()


def test_outputs_made_with_another_mask_are_refused_whether_or_not_weights_were_written(
    masked, products, trained, tmp_path
):
    """Raw outputs (--mask none, or an older crmss) have no weights file beside them: the
    default --mask haze refuses them all the same, and replaces them with --overwrite."""
    import shutil

    out = shutil.copytree(masked / "none", tmp_path / "out")
    args = ["predict", cloudy_product(products(0)), "--model", trained / "run", "--out", out]
    refused = run_cli(*args, "--tile", "512", "--no-progress")
    assert refused.returncode == 2 and "made with another mask none" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (masked / "none").iterdir()
    )
    replaced = run_cli(*args, "--tile", "512", "--overwrite", "--no-progress")
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    for suffix in ("10m", "20m", "mask"):
        assert np.array_equal(_read(_output(out, suffix)), _read(_output(masked / "haze", suffix)))


def _on_weights_grid(path: str, grid, band: str, offset: int) -> np.ndarray:
    """``band``'s file warped by GDAL onto the weights' 40 m grid of ``grid``, as s2cloudless is
    run on coarse pixels: 10 m and 20 m bands averaged, 60 m ones their nearest pixel; float32
    reflectance, the DNs' ``offset`` (RADIO_ADD_OFFSET) added first, valid pixels kept >= 1."""
    source = gdal.Open(path)
    dn = source.ReadAsArray().astype(np.float32)
    dn = np.where(dn > 0, np.maximum(dn + offset, 1), 0)
    shifted = gdal.GetDriverByName("MEM").Create("", dn.shape[1], dn.shape[0], 1, gdal.GDT_Float32)
    shifted.SetGeoTransform(source.GetGeoTransform())
    shifted.SetProjection(source.GetProjection())
    shifted.WriteArray(dn)
    x0, dx, _, y0, _, dy = grid.geotransform_at(MASK_FACTOR)
    rows, cols = -(-grid.height // MASK_FACTOR), -(-grid.width // MASK_FACTOR)
    warped = gdal.Warp(
        "", shifted, format="MEM", outputBounds=(x0, y0 + rows * dy, x0 + cols * dx, y0),
        xRes=dx, yRes=-dy, srcNodata=0, dstNodata=0, outputType=gdal.GDT_Float32,
        resampleAlg="near" if RESOLUTION[band] == 60 else "average",
    )  # fmt: skip
    return warped.ReadAsArray() / np.float32(10000)


@pytest.mark.parametrize("baseline", ["02.01", "05.10"])
def test_s2cloudless_reads_its_ten_bands_as_gdal_resamples_them_and_finds_the_cloud(
    products, trained, tmp_path, baseline
):
    """The ten bands as GDAL reads and resamples them, offsets of baseline 04.00 on removed
    (ESA's harmonisation, which s2cloudless asks for), through s2cloudless: the weights
    predict writes; the cloud found, nothing on the pair's cloud-free product."""
    product = open_product(cloudy_product(products(0, baseline=baseline)))
    grid = product.grid()
    offset = -1000 if baseline >= "04.00" else 0
    bands = np.stack(
        [_on_weights_grid(product.band_files[b], grid, b, offset) for b in S2CLOUDLESS_BANDS], -1
    )
    expected = CloudWeights.from_mask(s2cloudless_mask(bands), "s2cloudless").percent()
    run = run_cli(
        "predict", product.path, "--model", trained / "run", "--out", tmp_path, "--tile", "512",
        "--mask", "s2cloudless", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert np.array_equal(_read(_output(tmp_path, "mask")), expected)
    stated = gdal.Open(str(_output(tmp_path, "10m"))).GetMetadata()
    assert stated["CRMSS_MASK"].startswith("s2cloudless (threshold 0.4")
    assert "CRMSS_MASK_FILE" not in stated
    assert 0.2 < float(stated["CRMSS_CLOUD_FRACTION"]) < 1
    (clear,) = [p for p in products(0, baseline=baseline).iterdir() if p != product.path]
    clear_product = open_product(clear)
    weights = scene_weights("s2cloudless", clear_product, clear_product.grid())
    assert weights is not None and weights.cloudy_fraction() == 0


def test_a_60m_band_off_the_products_grid_is_refused_naming_it(products, trained, tmp_path):
    """B09, which only s2cloudless reads, replaced by the 20 m B05: refused as a damaged band of
    the CR-MSS ten is, nothing written."""
    safe = shutil.copytree(cloudy_product(products(0)), tmp_path / cloudy_product(products(0)).name)
    (b09,) = safe.glob("GRANULE/*/IMG_DATA/*_B09.jp2")
    shutil.copyfile(next(safe.glob("GRANULE/*/IMG_DATA/*_B05.jp2")), b09)
    run = run_cli(
        "predict", safe, "--model", trained / "run", "--out", tmp_path / "out", "--mask",
        "s2cloudless", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert f"{b09}: B09 is 390 x 390 px" in run.stderr and "must lie on the 60 m grid" in (
        run.stderr
    )
    assert not list((tmp_path / "out").glob("*.tif"))


def test_s2cloudless_missing_is_refused_naming_the_extra(products, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "s2cloudless", None)  # import s2cloudless: ImportError
    with pytest.raises(InputError, match=r"pip install 'crmss\[s2cloudless\]'"):
        PredictOptions([cloudy_product(products(0))], trained / "run", tmp_path, mask="s2cloudless")
    run = run_cli(
        "predict", cloudy_product(products(0)), "--model", trained / "run", "--out",
        tmp_path / "out", "--mask", "s2cloudless",
    )  # fmt: skip
    assert run.returncode == 2 and "--mask s2cloudless needs s2cloudless" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()
    # installed, but a module it imports is not: the message says so, not "not installed"
    for name in [n for n in sys.modules if n.split(".")[0] == "s2cloudless"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(InputError, match=r"which cannot be imported \(import of cv2 halted"):
        PredictOptions([cloudy_product(products(0))], trained / "run", tmp_path, mask="s2cloudless")
