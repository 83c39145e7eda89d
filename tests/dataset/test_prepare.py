"""`crmss prepare` end to end on synthetic L1C products (real JP2 files in .SAFE layouts)."""

import json
import logging
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from conftest import SIZE, make_level_2a, run_cli, run_console
from crmss import cli
from crmss.core.bands import ALL_BANDS, BANDS_10M, BANDS_20M, RESOLUTION
from crmss.core.options import PrepareOptions
from crmss.dataset.prepare import prepare
from crmss.dataset.splits import write_split
from crmss.dataset.synthetic import Geometry, Scene, to_dn, write_product
from crmss.io.open import open_product

KEY = "R075_T50TMK"
STACKS = {"10m": (BANDS_10M, 256), "20m": (BANDS_20M, 128)}


def read_tree(out: Path) -> dict:
    """relative path -> (pixels, geotransform, projection, band descriptions) of every patch."""
    tree = {}
    for path in sorted(out.rglob("*.tif")):
        ds = gdal.Open(str(path))
        descriptions = tuple(
            ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)
        )
        tree[path.relative_to(out).as_posix()] = (
            ds.ReadAsArray(),
            ds.GetGeoTransform(),
            ds.GetProjection(),
            descriptions,
        )
    return tree


def assert_same_tree(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name][0], b[name][0]), name
        assert a[name][1:] == b[name][1:], name


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, products, pairs):
    """The pair R075_T50TMK prepared from unzipped compact products: (out, manifest, products)."""
    out = tmp_path_factory.mktemp("prepared")
    split = out.parent / "split-0.csv"
    write_split(split, [pairs[0]])
    manifest = prepare(PrepareOptions(products(0), out / "data", split=split, progress=False))
    return out / "data", manifest, products(0)


def test_tree_manifest_values_and_georeferencing(prepared, pairs):
    out, manifest, folder = prepared
    record = manifest["pairs"][KEY]
    assert record["subset"] == "train" and record["number"] == 1
    assert (
        record["cloudy"]["listed"] == pairs[0].cloudy
        and record["clear"]["product"] == pairs[0].clear
    )
    assert (
        record["grid"]["window_rows"] == record["grid"]["window_cols"] == 3
        and record["grid"]["crs"] == "EPSG:32650"
    )
    kept = record["windows"]
    assert (
        kept
        and record["dropped"]["nodata"] == 9 - len(kept) > 0
        and record["dropped"]["not_requested"] == 0
    )
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert not (out / ".partial").exists()

    sources = {
        role: open_product(next(folder.glob(f"{getattr(pairs[0], role)}.SAFE")))
        for role in ("cloudy", "clear")
    }
    for role, product in sources.items():
        bands = {b: gdal.Open(product.band_files[b]) for b in BANDS_10M + BANDS_20M}
        for res, (names, size) in STACKS.items():
            folder_k = out / "train" / role / res / KEY
            assert sorted(int(p.stem) for p in folder_k.iterdir()) == kept
            for k in range(1, 10):
                row, col = divmod(k - 1, 3)
                source = np.stack(
                    [bands[b].ReadAsArray(col * size, row * size, size, size) for b in names]
                )
                if k not in kept:
                    continue
                ds = gdal.Open(str(folder_k / f"{k}.tif"))
                assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
                # the source DN, unchanged (baseline 02)
                assert np.array_equal(ds.ReadAsArray(), source)
                assert [
                    ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)
                ] == list(names)
                assert ds.GetRasterBand(1).GetNoDataValue() == 0
                x0, dx, _, y0, _, dy = bands[names[0]].GetGeoTransform()
                assert ds.GetGeoTransform() == pytest.approx(
                    (x0 + col * size * dx, dx, 0, y0 + row * size * dy, 0, dy)
                )
                assert (
                    ds.GetMetadataItem("CRMSS_WINDOW") == str(k)
                    and ds.GetMetadataItem("CRMSS_PRODUCT") == product.name
                )
    # patch k of 10 m and 20 m covers the same 2560 m x 2560 m
    for k in kept:
        a = gdal.Open(str(out / "train/clear/10m" / KEY / f"{k}.tif"))
        b = gdal.Open(str(out / "train/cloudy/20m" / KEY / f"{k}.tif"))
        ga, gb = a.GetGeoTransform(), b.GetGeoTransform()
        assert (ga[0], ga[3]) == (gb[0], gb[3]) and ga[1] * a.RasterXSize == gb[
            1
        ] * b.RasterXSize == 2560


def test_dropped_windows_are_exactly_those_with_nodata_in_any_stack(prepared, pairs):
    out, manifest, folder = prepared
    invalid = set()
    for name in (pairs[0].cloudy, pairs[0].clear):
        product = open_product(folder / f"{name}.SAFE")
        for band in BANDS_10M + BANDS_20M:
            pixels = gdal.Open(product.band_files[band]).ReadAsArray()
            size = 256 // (RESOLUTION[band] // 10)
            for k in range(1, 10):
                row, col = divmod(k - 1, 3)
                if (
                    pixels[row * size : (row + 1) * size, col * size : (col + 1) * size] == 0
                ).any():
                    invalid.add(k)
    assert manifest["pairs"][KEY]["windows"] == sorted(set(range(1, 10)) - invalid)


@pytest.mark.parametrize(
    "layout",
    [
        dict(zipped=True),
        dict(zipped=True, naming="long"),
        dict(baseline="05.10"),
        dict(bucket=True),
        dict(bucket=True, naming="long", baseline="04.00"),
    ],
)
def test_zipped_long_form_baseline_05_and_bucket_products_give_the_same_tree(
    tmp_path, prepared, products, split_of, layout
):
    out, manifest, _ = prepared
    result = prepare(
        PrepareOptions(products(0, **layout), tmp_path / "data", split=split_of(0), progress=False)
    )
    assert result["pairs"][KEY]["windows"] == manifest["pairs"][KEY]["windows"]
    assert_same_tree(read_tree(tmp_path / "data"), read_tree(out))
    record = result["pairs"][KEY]["cloudy"]
    if "baseline" in layout:
        assert record["baseline"] == layout["baseline"] and record["offsets"]["B02"] == -1000
    if layout.get("naming") == "long":
        assert record["product"].startswith("S2A_OPER_PRD_MSIL1C_PDMC_")
    assert record["naming"] == (
        "bucket" if layout.get("bucket") else layout.get("naming", "compact")
    )
    if layout.get("bucket"):  # a tile folder of the public bucket, found below the products folder
        assert record["path"].endswith("tiles/50/T/MK/2016/4/13/0")


def test_a_zero_in_any_one_band_of_any_one_stack_drops_the_window(tmp_path, pairs):
    scene, geometry, nodata = Scene(SIZE, seed=2), Geometry("50TMK", SIZE), False
    for role, name in (("clear", pairs[0].clear), ("cloudy", pairs[0].cloudy)):
        dns = {b: to_dn(getattr(scene, role)(b), nodata, 0) for b in ALL_BANDS}
        if role == "cloudy":
            dns["B12"][128 + 10, 128 + 20] = 0  # 20 m pixel in window 5
        else:
            dns["B03"][700, 5] = 0  # 10 m pixel in window 7
            dns["B01"][0, 0] = 0  # 60 m bands are not used: window 1 stays
            dns["B04"][779, 779] = 0  # beyond the last whole window: not used
        write_product(tmp_path / "p", name, dns, geometry, baseline="02.01")
    manifest = prepare(
        PrepareOptions(
            tmp_path / "p", tmp_path / "data", split=_split(tmp_path, pairs[0]), progress=False
        )
    )
    record = manifest["pairs"][KEY]
    assert record["windows"] == [1, 2, 3, 4, 6, 8, 9]
    assert record["nodata_windows_by_stack"] == {
        "cloudy_10m": 0,
        "cloudy_20m": 1,
        "clear_10m": 1,
        "clear_20m": 0,
    }


def _split(tmp_path, *pairs):
    path = tmp_path / "split.csv"
    write_split(path, list(pairs))
    return path


def test_windows_file_restricts_the_run(tmp_path, prepared, products, pairs):
    _, manifest, _ = prepared
    dropped = sorted(set(range(1, 10)) - set(manifest["pairs"][KEY]["windows"]))
    windows = tmp_path / "windows.csv"
    windows.write_text(f"pair,window\n{KEY},1\n{KEY},2\n{KEY},{dropped[0]}\n")
    split = _split(tmp_path, pairs[0], pairs[1])
    result = prepare(
        PrepareOptions(products(0), tmp_path / "data", split=split, windows=windows, progress=False)
    )
    record = result["pairs"][KEY]
    assert record["windows"] == [1, 2] and record["dropped"] == {"nodata": 1, "not_requested": 6}
    assert sorted(p.name for p in (tmp_path / "data/train/clear/10m" / KEY).iterdir()) == [
        "1.tif",
        "2.tif",
    ]
    # not named: skipped
    assert list(result["pairs"]) == [KEY] and pairs[1].key not in result["missing"]

    windows.write_text(f"pair,window\n{KEY},10\n")
    code, err = _main(
        [
            "prepare",
            "--products",
            products(0),
            "--out",
            tmp_path / "other",
            "--split",
            split,
            "--windows",
            windows,
        ]
    )
    assert code == 2 and "windows [10] of pair R075_T50TMK, which has windows 1..9" in err
    windows.write_text("k\n3\n")
    code, err = _main(
        [
            "prepare",
            "--products",
            products(0),
            "--out",
            tmp_path / "other",
            "--split",
            split,
            "--windows",
            windows,
        ]
    )
    assert code == 2 and f"{windows}, line 1: expected a CSV with the header 'pair,window'" in err


def _main(argv):
    """Run the CLI in-process; return (exit status, stderr text)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, err.getvalue()


def test_cli_skips_absent_pairs_reruns_nothing_and_refuses_other_options(tmp_path, products):
    out = tmp_path / "data"
    # the published list
    run = run_cli("prepare", "--products", products(0), "--out", out, "--no-progress")
    assert run.returncode == 0, run.stderr
    assert (
        "train: 1 pairs"
    ) in run.stdout and "35 pairs of the split list were not found" in run.stdout
    assert "R105_T43RGM: skipped, products not found" in run.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["pairs"]) == [KEY] and len(manifest["missing"]) == 35
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")}

    again = run_cli("prepare", "--products", products(0), "--out", out, "--no-progress")
    assert again.returncode == 0 and f"{KEY}: skipped (already prepared)" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")} == before

    windows = tmp_path / "w.csv"
    windows.write_text(f"pair,window\n{KEY},1\n")
    other = run_cli("prepare", "--products", products(0), "--out", out, "--windows", windows)
    assert (
        other.returncode == 2
        and f"--windows {windows} (made with no --windows)" in other.stderr
        and "Traceback" not in other.stderr
    )


KILLER = """
import os, signal, sys
import crmss.dataset.prepare
real, calls = crmss.dataset.prepare.write_geotiff, [0]
def write_then_die(*args, **kwargs):
    calls[0] += 1
    if calls[0] == {after}:
        os.kill(os.getpid(), signal.SIGKILL)
    real(*args, **kwargs)
crmss.dataset.prepare.write_geotiff = write_then_die
from crmss.cli import console
console(sys.argv[1:])
"""


def test_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path, products, pairs):
    folder = tmp_path / "products"
    for index in (0, 1):
        for product in products(index).iterdir():
            shutil.copytree(product, folder / product.name)
    split = _split(tmp_path, pairs[0], pairs[1])
    args = ["prepare", "--products", folder, "--split", split, "--workers", "1", "--no-progress"]
    reference = run_cli(*args, "--out", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    per_pair = 4 * len(
        json.loads((tmp_path / "reference/manifest.json").read_text())["pairs"][KEY]["windows"]
    )

    out = tmp_path / "data"
    script = KILLER.format(after=per_pair + 5)  # five patches into the second pair
    killed = subprocess.run(
        [sys.executable, "-c", script, *map(str, args), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9
    assert list(json.loads((out / "manifest.json").read_text())["pairs"]) == [KEY]
    assert (out / ".partial" / pairs[1].key).exists()
    assert not (out / "train/clear/10m" / pairs[1].key).exists()

    resumed = run_cli(*args, "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{KEY}: skipped (already prepared)" in resumed.stdout
    assert not (out / ".partial").exists()
    assert_same_tree(read_tree(out), read_tree(tmp_path / "reference"))


# --- bad input: exit status 2, one message naming the file and the fix, nothing partial -----


def _assert_refused(run, *words, out=None):
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    for word in words:
        assert word in run.stderr, run.stderr
    if out is not None:
        # a new --out: bad input leaves no folder behind
        assert not out.exists(), sorted(out.rglob("*"))


def _damaged_copy(tmp_path, products, damage):
    folder = shutil.copytree(products(0), tmp_path / "products")
    damage(folder)
    return folder


@pytest.mark.parametrize(
    "damage, words",
    [
        (
            lambda f: next(f.rglob("*20160413*_B05.jp2")).unlink(),
            ["band files B05 of tile T50TMK are missing", "download it again"],
        ),
        (
            lambda f: _truncate(next(f.rglob("*20160403*_B08.jp2"))),
            ["_B08.jp2: cannot decode the image", "truncated or corrupt"],
        ),
        (lambda f: _not_a_product(f), ["20160413T031626.zip: not a Sentinel-2 product"]),
        (
            lambda f: make_level_2a(next(f.glob("*20160413*.SAFE"))),
            ["is a S2MSI2A product; crmss needs Level-1C"],
        ),
    ],
    ids=["missing-band", "truncated-jp2", "zip-not-a-product", "level-2a"],
)
def test_bad_products_are_refused_cleanly(tmp_path, products, split_of, damage, words):
    folder = _damaged_copy(tmp_path, products, damage)
    out = tmp_path / "data"
    run = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"
    )
    _assert_refused(run, *words, out=out)


def test_a_pdmc_product_without_the_pairs_granule_is_refused_not_skipped(
    tmp_path, products, split_of
):
    """The pair's granule folder gone from a PDMC product whose metadata lists it: the pair is
    not 'skipped, products not found' (exit 0) but refused naming the product and the files."""
    folder = shutil.copytree(products(0, naming="long"), tmp_path / "products")
    cloudy = next(p for p in folder.iterdir() if "V20160413" in p.name)
    for granule in [g for g in (cloudy / "GRANULE").iterdir() if "T50TMK" in g.name]:
        shutil.rmtree(granule)
    out = tmp_path / "data"
    run = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"
    )
    _assert_refused(
        run,
        cloudy.name,
        "of tile T50TMK are missing (",
        "the product is incomplete: download it again",
        out=out,
    )


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _not_a_product(folder: Path) -> None:
    import zipfile

    safe = next(folder.glob("*20160413*.SAFE"))
    shutil.rmtree(safe)
    with zipfile.ZipFile(folder / (safe.stem + ".zip"), "w") as archive:
        archive.writestr("readme.txt", "a zip of something else")


def test_a_failed_pair_fixed_and_rerun_gives_the_manifest_of_an_uninterrupted_run(
    tmp_path, products, pairs
):
    folder = tmp_path / "products"
    for index in (0, 1):
        for product in products(index).iterdir():
            shutil.copytree(product, folder / product.name)
    split = _split(tmp_path, pairs[0], pairs[1])
    reference = run_cli(
        "prepare",
        "--products",
        folder,
        "--out",
        tmp_path / "reference",
        "--split",
        split,
        "--no-progress",
    )
    assert reference.returncode == 0, reference.stderr
    # pair 1's cloudy product: the first pair of the list fails
    band = next(folder.rglob("*20160413*_B11.jp2"))
    original = band.read_bytes()
    _truncate(band)
    out = tmp_path / "data"
    run = run_cli("prepare", "--products", folder, "--out", out, "--split", split, "--no-progress")
    _assert_refused(run, "_B11.jp2: cannot decode", "the other pairs are done")
    assert (
        run.stderr.count("cannot decode") == 1 and "cannot decode" not in run.stdout
    )  # reported once
    assert f"{KEY}: failed (reported at the end)" in run.stdout
    assert list(json.loads((out / "manifest.json").read_text())["pairs"]) == [pairs[1].key]
    assert not (out / ".partial").exists() and not list(out.rglob(f"{KEY}*"))

    band.write_bytes(original)
    fixed = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split, "--no-progress"
    )
    assert fixed.returncode == 0, fixed.stderr
    ignored = ("created", "updated")
    expected, got = (
        json.loads((o / "manifest.json").read_text()) for o in (tmp_path / "reference", out)
    )
    assert list(got["pairs"]) == [KEY, pairs[1].key]  # split-list order, not completion order
    assert {k: v for k, v in got.items() if k not in ignored} == {
        k: v for k, v in expected.items() if k not in ignored
    }
    assert_same_tree(read_tree(out), read_tree(tmp_path / "reference"))


def test_pair_on_different_grids_is_refused(tmp_path, products, pairs):
    from crmss.dataset.synthetic import write_pair

    folder = shutil.copytree(products(0), tmp_path / "products")
    shutil.rmtree(next(folder.glob("*20160413*.SAFE")))
    write_pair(tmp_path / "other", pairs[0].clear, pairs[0].cloudy, size=SIZE + 6)
    shutil.copytree(
        next((tmp_path / "other").glob("*20160413*.SAFE")), folder / f"{pairs[0].cloudy}.SAFE"
    )
    out = tmp_path / "data"
    run = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", _split(tmp_path, pairs[0])
    )
    _assert_refused(
        run, "the pair's products are not on one grid", "786 x 786 px", "780 x 780 px", out=out
    )


def test_bad_split_list_and_unwritable_output_are_refused(tmp_path, products, split_of):
    bad = tmp_path / "split.csv"
    bad.write_text("pair,cloudy,clear\n1,a,b\n")
    _assert_refused(
        run_cli("prepare", "--products", products(0), "--out", tmp_path / "d", "--split", bad),
        f"{bad}, line 1",
    )
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    run = run_cli(
        "prepare", "--products", products(0), "--out", blocker / "data", "--split", split_of(0)
    )
    _assert_refused(run, f"{blocker / 'data'}: the output folder cannot be written", "--out")
    _assert_refused(
        run_cli("prepare", "--products", tmp_path / "nothing", "--out", tmp_path / "d"),
        "nothing: no such folder",
    )


def test_full_disk_is_reported_before_writing_and_a_rerun_with_space_gives_the_same_tree(
    prepared, small_disk, split_of
):
    data, manifest, folder = prepared
    disk = small_disk(1)  # room for the manifest, not for one window of the pair
    out = disk.path / "data"
    run = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"
    )
    _assert_refused(
        run, f"{out}: the disk is full", f"pair {KEY} needs about", "run the same command again"
    )
    assert not out.exists()  # nothing prepared: no tree left behind
    disk.resize(64)
    again = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"
    )
    assert again.returncode == 0, again.stderr
    assert_same_tree(read_tree(out), read_tree(data))


def test_disk_filling_up_while_writing_leaves_no_partial_pair_and_never_hangs(
    prepared, small_disk, split_of
):
    data, manifest, folder = prepared
    # a few windows fit; the space check is told there is plenty, as when another program fills the
    # disk
    disk = small_disk(4)
    out = disk.path / "data"
    script = textwrap.dedent(f"""
        import shutil, sys
        import crmss.dataset.prepare
        plenty = shutil._ntuple_diskusage(2**40, 0, 2**40)
        crmss.dataset.prepare.shutil.disk_usage = lambda path: plenty
        from crmss.cli import console
        console(["prepare", "--products", {str(folder)!r}, "--out", {str(out)!r},
                 "--split", {str(split_of(0))!r}, "--no-progress"])
    """)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    _assert_refused(run, f"{out}: the disk is full", "finished pairs are kept, this one is redone")
    assert (
        not (out / ".partial").exists()
        and not list(out.rglob("*.tif"))
        and not list(out.rglob(".tmp-*"))
    )
    disk.resize(64)
    again = run_cli(
        "prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"
    )
    assert again.returncode == 0, again.stderr
    assert_same_tree(read_tree(out), read_tree(data))
    assert (
        json.loads((out / "manifest.json").read_text())["pairs"][KEY]["windows"]
        == manifest["pairs"][KEY]["windows"]
    )


def test_windows_file_with_a_non_numeric_window_is_refused(tmp_path, products, split_of):
    for bad in ("x", "²", "1.5", "-3", ""):
        windows = tmp_path / "w.csv"
        windows.write_text(f"pair,window\n{KEY},{bad}\n", encoding="utf-8")
        run = run_cli(
            "prepare",
            "--products",
            products(0),
            "--out",
            tmp_path / "d",
            "--split",
            split_of(0),
            "--windows",
            windows,
        )
        _assert_refused(run, f"{windows}, line 2", "a window number from 1")
        assert not (tmp_path / "d").exists()


def test_prepare_does_not_import_tensorflow(tmp_path, products, split_of):
    script = textwrap.dedent(f"""
        import sys
        from crmss.cli import main
        assert main(["prepare", "--products", {str(products(0))!r},
                     "--out", {str(tmp_path / "d")!r},
                     "--split", {str(split_of(0))!r}, "--no-progress"]) == 0
        loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        assert not loaded, "TensorFlow was imported"
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_two_runs_into_one_folder_take_turns_and_give_one_tree(prepared, tmp_path, split_of):
    from concurrent.futures import ThreadPoolExecutor

    data, manifest, folder = prepared
    out = tmp_path / "data"
    args = ["prepare", "--products", folder, "--out", out, "--split", split_of(0), "--no-progress"]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_console(*args), range(2)))  # two processes
    assert [run.returncode for run in runs] == [0, 0], [run.stderr[-2000:] for run in runs]
    assert (
        sum(f"{KEY}: skipped (already prepared)" in run.stdout for run in runs) == 1
    )  # the second waited for the first
    assert_same_tree(read_tree(out), read_tree(data))
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train"]


@pytest.mark.parametrize("baseline", ["02.07", "05.10"])
def test_saturated_pixels_stay_65535_at_every_baseline(
    tmp_path, products, split_of, prepared, baseline
):
    from crmss.dataset.windows import WindowGrid
    from crmss.io.raster import write_jp2

    data, manifest, _ = prepared
    folder = shutil.copytree(
        products(0, baseline=baseline) if baseline != "02.07" else products(0),
        tmp_path / "products",
    )
    k = manifest["pairs"][KEY]["windows"][0]
    for band in ("B03", "B11"):  # one band of each resolution of the cloudy product
        res = "10m" if band in BANDS_10M else "20m"
        col, row = WindowGrid.for_size(SIZE, SIZE).offset(k, res)
        path = next(folder.rglob(f"*20160413*/**/*_{band}.jp2"))
        pixels = gdal.Open(str(path)).ReadAsArray()
        # L1C's SATURATED marker, at any baseline
        pixels[row + 10 : row + 20, col + 30 : col + 33] = 65535
        geometry = Geometry("50TMK", SIZE)
        write_jp2(path, pixels, geometry.geotransform(RESOLUTION[band]), geometry.epsg)
    out = tmp_path / "data"
    prepare(PrepareOptions(folder, out, split=split_of(0), progress=False))
    for band in ("B03", "B11"):
        res = "10m" if band in BANDS_10M else "20m"
        name = f"train/cloudy/{res}/{KEY}/{k}.tif"
        index = STACKS[res][0].index(band)
        got, reference = (gdal.Open(str(tree / name)).ReadAsArray() for tree in (out, data))
        assert np.all(got[index, 10:20, 30:33] == 65535), band  # neither 64535 nor a reflectance
        got[index, 10:20, 30:33] = reference[index, 10:20, 30:33]
        assert np.array_equal(got, reference), band  # everything else as at baseline 02


def test_a_bad_product_fails_its_own_pair_only(tmp_path, products, pairs):
    folder = tmp_path / "products"
    for index in (0, 1):
        for product in products(index).iterdir():
            shutil.copytree(product, folder / product.name)
    band = next(folder.rglob("*20160413*_B05.jp2"))  # pair 1's cloudy product loses a band
    band.unlink()
    out = tmp_path / "data"
    run = run_cli(
        "prepare",
        "--products",
        folder,
        "--out",
        out,
        "--split",
        _split(tmp_path, pairs[0], pairs[1]),
        "--no-progress",
    )
    _assert_refused(run, "band files B05 of tile T50TMK are missing", "the other pairs are done")
    assert (
        f"{KEY}: failed (reported at the end)" in run.stdout
        and run.stderr.count("are missing") == 1
    )
    assert list(json.loads((out / "manifest.json").read_text())["pairs"]) == [pairs[1].key]


def test_products_named_safe_zip_are_found(tmp_path, prepared, products, split_of):
    data, _, _ = prepared
    folder = tmp_path / "products"
    folder.mkdir()
    for product in products(0, zipped=True).iterdir():
        shutil.copy(product, folder / f"{product.stem}.SAFE.zip")
    prepare(PrepareOptions(folder, tmp_path / "data", split=split_of(0), progress=False))
    assert_same_tree(read_tree(tmp_path / "data"), read_tree(data))


def test_one_pdmc_product_unpacked_and_zipped_side_by_side_is_used_once(
    tmp_path, products, split_of, pairs, caplog
):
    zipped = products(0, zipped=True, naming="long")
    folder = shutil.copytree(zipped, tmp_path / "products")
    reference = prepare(
        PrepareOptions(zipped, tmp_path / "reference", split=split_of(0), progress=False)
    )
    for archive in list(folder.glob("*.zip")):  # each product also unpacked beside its zip
        with zipfile.ZipFile(archive) as z:
            z.extractall(folder)
    caplog.set_level(logging.INFO, logger="crmss")
    manifest = prepare(PrepareOptions(folder, tmp_path / "data", split=split_of(0), progress=False))
    lines = caplog.messages
    assert any(
        "the same product is also there as" in line and line.endswith(".zip)") for line in lines
    ), lines
    assert manifest["pairs"][KEY]["windows"] == reference["pairs"][KEY]["windows"]
    assert manifest["pairs"][KEY]["cloudy"]["path"].endswith(".SAFE")
    assert_same_tree(read_tree(tmp_path / "data"), read_tree(tmp_path / "reference"))


def test_one_product_as_safe_and_as_bucket_tile_folder_is_used_once(
    tmp_path, prepared, products, split_of, caplog
):
    data, _, _ = prepared
    folder = shutil.copytree(products(0), tmp_path / "products")
    shutil.copytree(products(0, bucket=True) / "tiles", folder / "tiles")
    caplog.set_level(logging.INFO, logger="crmss")
    manifest = prepare(PrepareOptions(folder, tmp_path / "data", split=split_of(0), progress=False))
    lines = caplog.messages
    assert any(
        line.endswith("(the same product is also there as tiles/50/T/MK/2016/4/13/0)")
        for line in lines
    ), lines
    assert manifest["pairs"][KEY]["cloudy"]["path"].endswith(".SAFE")
    assert_same_tree(read_tree(tmp_path / "data"), read_tree(data))


def _swap_names(folder: Path, pair) -> None:
    """Give the pair's two products each other's names (folders, zips), or put each of its
    bucket tile folders at the other's date."""
    if (folder / "tiles").exists():
        clear, cloudy = (
            next(folder.rglob(f"{d}/0"))
            for d in (
                f"{int(pair.clear[15:17])}/{int(pair.clear[17:19])}",
                f"{int(pair.cloudy[15:17])}/{int(pair.cloudy[17:19])}",
            )
        )
        clear.rename(folder / "x")
        cloudy.rename(clear)
        (folder / "x").rename(cloudy)
        return
    moved = {
        path: path.with_name(
            path.name.replace(pair.clear, "X")
            .replace(pair.cloudy, pair.clear)
            .replace("X", pair.cloudy)
        )
        for path in folder.iterdir()
    }
    for path in moved:
        path.rename(path.with_name(f"tmp-{path.name}"))
    for path, target in moved.items():
        path.with_name(f"tmp-{path.name}").rename(target)


@pytest.mark.parametrize(
    "layout", [dict(), dict(zipped=True), dict(bucket=True)], ids=["safe", "zip", "bucket"]
)
def test_swapped_products_fail_their_pair_and_the_other_pairs_are_prepared(
    tmp_path, products, pairs, layout
):
    folder = tmp_path / "products"
    shutil.copytree(products(0), folder)
    swapped = shutil.copytree(products(1, **layout), tmp_path / "swapped")
    _swap_names(swapped, pairs[1])
    shutil.copytree(swapped, folder, dirs_exist_ok=True)
    out = tmp_path / "data"
    run = run_cli(
        "prepare",
        "--products",
        folder,
        "--out",
        out,
        "--split",
        _split(tmp_path, pairs[0], pairs[1]),
        "--no-progress",
    )
    _assert_refused(run, "the other pairs are done")
    named = [pairs[1].clear in run.stderr, pairs[1].cloudy in run.stderr]
    bucket = layout.get("bucket", False)
    assert any(named) if bucket else all(named)  # a tile folder is named by its bucket path
    assert (
        "the bucket path says"
        if bucket
        else "a product saved under another product's name is not used"
    ) in run.stderr
    assert list(json.loads((out / "manifest.json").read_text())["pairs"]) == [KEY]
    assert not list(out.rglob(f"{pairs[1].key}*"))


def test_a_run_that_prepared_no_pair_binds_no_options(tmp_path, products, split_of):
    """A first run into an existing empty --out that prepares nothing (the products were
    elsewhere) does not refuse the corrected command."""
    out = tmp_path / "data"
    out.mkdir()
    (tmp_path / "nothing").mkdir()
    first = run_cli(
        "prepare",
        "--products",
        tmp_path / "nothing",
        "--out",
        out,
        "--split",
        split_of(1),
        "--no-progress",
    )
    assert first.returncode == 2 and "nothing was prepared" in first.stderr, first.stderr[-2000:]
    assert out.is_dir() and not list(out.iterdir())  # the user's folder stays, empty as it was
    corrected = run_cli(
        "prepare", "--products", products(0), "--out", out, "--split", split_of(0), "--no-progress"
    )
    assert corrected.returncode == 0 and f"{KEY} (train):" in corrected.stdout, corrected.stderr[
        -2000:
    ]
    assert list(json.loads((out / "manifest.json").read_text())["pairs"]) == [KEY]
