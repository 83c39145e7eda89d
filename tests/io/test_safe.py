import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from conftest import SIZE, make_level_2a
from crmss.core.errors import InputError
from crmss.io.discovery import find_products, locate
from crmss.io.names import ProductName
from crmss.io.open import open_product


def only(folder, suffix=""):
    (entry,) = [p for p in folder.iterdir() if "MSIL1C_2016041" in p.name or "V20160413" in p.name]
    return entry


@pytest.mark.parametrize("layout", [dict(zipped=False), dict(zipped=True)])
def test_compact_product_opens_with_metadata_bands_and_grid(products, pairs, layout):
    product = open_product(only(products(0, **layout)))
    assert (
        product.name == pairs[0].cloudy and product.tile == "50TMK" and product.naming == "compact"
    )
    assert product.baseline == "02.01" and product.quantification == 10000 and product.offsets == {}
    assert set(product.band_files) >= {
        "B02",
        "B03",
        "B04",
        "B08",
        "B05",
        "B06",
        "B07",
        "B8A",
        "B11",
        "B12",
    }
    assert all(f.endswith(".jp2") for f in product.band_files.values())
    if layout["zipped"]:
        assert product.band_files["B02"].startswith("/vsizip/")
    grid = product.grid()
    assert (grid.width, grid.height, grid.geotransform[1], grid.geotransform[5]) == (
        SIZE,
        SIZE,
        10.0,
        -10.0,
    )
    assert "32650" in grid.describe()


def test_long_pdmc_product_picks_the_granule_of_the_requested_tile(products, pairs):
    folder = products(0, zipped=True, naming="long")
    path = only(folder)
    assert path.name.startswith("S2A_OPER_PRD_MSIL1C_PDMC_")
    product = open_product(path, "50TMK")
    assert product.naming == "long" and product.tile == "50TMK"
    assert (
        "_T50TMK_B02.jp2" in product.band_files["B02"]
        and "S2A_OPER_MSI_L1C_TL_SGS__" in product.band_files["B02"]
    )
    other = open_product(path, "50TML")  # the neighbouring granule (its pixels are mirrored)
    a = gdal.Open(product.band_files["B04"]).ReadAsArray()
    b = gdal.Open(other.band_files["B04"]).ReadAsArray()
    assert np.array_equal(a[:, ::-1], b)
    with pytest.raises(
        InputError,
        match=r"holds granules of several tiles \(T50TMK, T50TML\) and "
        r"no tile was named",
    ):
        open_product(path)  # no tile in a PDMC name and two granules: the tile must be given
    with pytest.raises(InputError, match="holds no granule of tile T11SKA"):
        open_product(path, "11SKA")


def test_baseline_04_offsets_are_read_and_applied(products):
    product = open_product(only(products(0, baseline="05.10")))
    assert product.baseline == "05.10" and product.name.split("_")[3] == "N0510"
    assert product.offsets["B02"] == -1000 and product.offsets["B12"] == -1000
    dn = np.array([0, 1, 1000, 1001, 2500, 65535], np.uint16)
    # saturation stays saturation
    assert product.to_reflectance_x10000("B02", dn.copy()).tolist() == [0, 1, 1, 1, 1500, 65535]


def test_baseline_02_values_are_unchanged_and_other_quantifications_scale(products):
    product = open_product(only(products(0)))
    dn = np.array([0, 1, 1234, 65535], np.uint16)
    assert product.to_reflectance_x10000("B02", dn.copy()).tolist() == [0, 1, 1234, 65535]
    product.quantification, product.offsets = 20000, {"B02": -1000}
    assert product.to_reflectance_x10000("B02", dn.copy()).tolist() == [0, 1, 117, 65535]


def test_the_saturation_marker_is_read_from_the_metadata(tmp_path, products):
    safe = shutil.copytree(only(products(0)), tmp_path / only(products(0)).name)
    assert open_product(safe).saturated == 65535
    mtd = safe / "MTD_MSIL1C.xml"
    mtd.write_text(
        mtd.read_text().replace(
            "<SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>",
            "<SPECIAL_VALUE_INDEX>65000</SPECIAL_VALUE_INDEX>",
        )
    )
    product = open_product(safe)
    assert product.saturated == 65000
    dn = np.array([0, 1234, 65000], np.uint16)
    # crmss's outputs use 65535
    assert product.to_reflectance_x10000("B02", dn.copy()).tolist() == [0, 1234, 65535]


def test_locate_accepts_reprocessed_and_pdmc_names_of_the_same_acquisition(products, pairs):
    wanted = pairs[0].cloudy
    assert locate(wanted, find_products(products(0))).name == wanted + ".SAFE"
    assert (
        locate(wanted, find_products(products(0, baseline="05.10"))).name
        == wanted.replace("N0201", "N0510") + ".SAFE"
    )
    assert (
        "_V20160413T031632_"
        in locate(wanted, find_products(products(0, zipped=True, naming="long"))).name
    )
    assert locate(pairs[1].cloudy, find_products(products(0))) is None


def test_two_candidates_of_one_acquisition_are_ambiguous(tmp_path, products, pairs):
    for baseline in ("04.00", "05.10"):  # the same acquisitions reprocessed at two baselines
        shutil.copytree(products(0, baseline=baseline), tmp_path / "p", dirs_exist_ok=True)
    with pytest.raises(InputError, match="several products of the acquisition"):
        locate(pairs[0].cloudy, find_products(tmp_path / "p"))


def test_product_name_parsing():
    compact = ProductName.parse("S2B_MSIL1C_20220301T101010_N0400_R022_T32TQM_20220301T120000")
    assert (compact.mission, compact.level, compact.orbit, compact.tile, compact.sensing) == (
        "S2B",
        "L1C",
        "022",
        "32TQM",
        "20220301T101010",
    )
    old = ProductName.parse(
        "S2A_OPER_PRD_MSIL1C_PDMC_20160505T120000_R064_V20150826T084006_20150826T084006"
    )
    assert (old.level, old.orbit, old.tile, old.sensing) == ("L1C", "064", None, "20150826T084006")
    assert ProductName.parse("LC08_L1TP_123032_20200101") is None


def test_find_products_needs_a_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        find_products(tmp_path / "absent")


@pytest.mark.parametrize("packing", ["root-level", "macos"])
def test_re_zipped_products_open_as_the_original(tmp_path, products, packing):
    """A zip without the <name>.SAFE/ folder (its content at the root), and one re-zipped on a
    Mac (__MACOSX/ entries and ._ files beside the product)."""
    safe = only(products(0))
    target = tmp_path / f"{safe.stem}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(safe.rglob("*")):
            inside = path.relative_to(safe if packing == "root-level" else safe.parent).as_posix()
            archive.write(path, inside)
            if packing == "macos" and path.is_file():
                archive.writestr(
                    f"__MACOSX/{inside.rsplit('/', 1)[0]}/._{path.name}", b"resource fork"
                )
        if packing == "macos":
            archive.writestr(f"{safe.name}/._MTD_MSIL1C.xml", b"resource fork")
    original, repacked = open_product(safe), open_product(target)
    assert (repacked.name, repacked.tile, repacked.baseline) == (
        original.name,
        original.tile,
        original.baseline,
    )
    assert repacked.grid() == original.grid()
    for band in ("B02", "B12"):
        assert np.array_equal(
            gdal.Open(repacked.band_files[band]).ReadAsArray(),
            gdal.Open(original.band_files[band]).ReadAsArray(),
        )
    assert find_products(tmp_path)[0].path == target


# --- bad products: each a clear InputError naming the file ---------------------------------


def test_missing_band_file(tmp_path, products):
    folder = shutil.copytree(products(0), tmp_path / "p")
    band = next(only(folder).rglob("*_B8A.jp2"))
    band.unlink()
    with pytest.raises(
        InputError,
        match=r"band files B8A of tile T50TMK are missing .*download "
        r"it again",
    ):
        open_product(only(folder))


def test_a_granule_whose_band_files_are_all_gone_is_incomplete_not_absent(tmp_path, products):
    """IMG_DATA removed: the tile the metadata lists is named with the first file it lists, not
    reported as 'no granule of tile'."""
    folder = shutil.copytree(products(0), tmp_path / "p")
    shutil.rmtree(next(only(folder).rglob("IMG_DATA")))
    with pytest.raises(
        InputError,
        match=r"band files B02, .* of tile T50TMK are missing \(MTD_MSIL1C.xml lists "
        r".*GRANULE/.*_B02\.jp2, \.\.\.\); the product is incomplete",
    ):
        open_product(only(folder))


def test_zip_that_is_not_a_product(tmp_path):
    fake = tmp_path / "S2A_MSIL1C_20160413T031632_N0201_R075_T50TMK_20160413T031626.zip"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("holiday/photo.jpg", b"not a band")
    with pytest.raises(InputError, match=f"{fake}: not a Sentinel-2 product"):
        open_product(fake)
    fake.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(InputError, match=f"{fake}: not a readable zip archive"):
        open_product(fake)


def test_level_2a_product_is_refused(tmp_path, products):
    folder = shutil.copytree(products(0), tmp_path / "p")
    safe = make_level_2a(only(folder))
    with pytest.raises(InputError, match=r"is a S2MSI2A product; crmss needs Level-1C"):
        open_product(safe)


def _rewrite_band(band: Path, change) -> None:
    """Write the band file again (lossless JPEG2000) after ``change(dataset)`` edited an
    in-memory copy of it."""
    mem = gdal.GetDriverByName("MEM").CreateCopy("", gdal.Open(str(band)))
    mem = change(mem) or mem
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(
        str(band), mem, options=["REVERSIBLE=YES", "QUALITY=100"]
    )


def _shifted(mem):
    transform = list(mem.GetGeoTransform())
    transform[0] += 20
    mem.SetGeoTransform(transform)


def _ungeoreferenced(mem):
    bare = gdal.GetDriverByName("MEM").Create(
        "", mem.RasterXSize, mem.RasterYSize, 1, gdal.GDT_UInt16
    )
    bare.GetRasterBand(1).WriteArray(mem.ReadAsArray())
    return bare


def _two_bands(mem):
    double = gdal.GetDriverByName("MEM").Create(
        "", mem.RasterXSize, mem.RasterYSize, 2, gdal.GDT_UInt16
    )
    double.SetGeoTransform(mem.GetGeoTransform())
    double.SetProjection(mem.GetProjection())
    for index in (1, 2):
        double.GetRasterBand(index).WriteArray(mem.ReadAsArray())
    return double


def _other_crs(mem):
    mem.SetProjection(osr_wkt(32635))


def osr_wkt(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


@pytest.mark.parametrize(
    "band, change, message",
    [
        (
            "B11",
            _shifted,
            r"_B11.jp2: B11 is 390 x 390 px .* must lie on the 20 m grid the "
            r"product's other bands share",
        ),
        (
            "B02",
            _shifted,
            r"_B02.jp2: B02 is 780 x 780 px .* must lie on the 10 m grid the "
            r"product's other bands share",
        ),
        (
            "B02",
            _ungeoreferenced,
            r"_B02.jp2: B02 has no georeferencing \(no GeoJP2 or GMLJP2 "
            r"box\)",
        ),
        (
            "B04",
            _two_bands,
            r"_B04.jp2: B04 holds 2 band\(s\) of UInt16, but an L1C band file "
            r"holds one UInt16 band",
        ),
        (
            "B03",
            _other_crs,
            r"_B03.jp2: B03 is 780 x 780 px .* in EPSG:32635, but must lie on "
            r".*EPSG:32650",
        ),
    ],
    ids=[
        "B11 shifted",
        "B02 shifted",
        "B02 without georeferencing",
        "B04 of two bands",
        "B03 in another CRS",
    ],
)
def test_a_damaged_band_file_is_the_one_named(tmp_path, products, band, change, message):
    """The reference grid is the one most bands share: the damaged file is named, B02 included."""
    folder = shutil.copytree(products(0), tmp_path / "p")
    _rewrite_band(next(only(folder).rglob(f"*_{band}.jp2")), change)
    with pytest.raises(InputError, match=message):
        open_product(only(folder)).grid()


def test_a_band_file_of_another_band_is_named(tmp_path, products):
    """B02's file replaced by B01's (60 m): B02 is named, not the B03 it would be compared with."""
    folder = shutil.copytree(products(0), tmp_path / "p")
    b01, b02 = (next(only(folder).rglob(f"*_{band}.jp2")) for band in ("B01", "B02"))
    shutil.copy(b01, b02)
    with pytest.raises(
        InputError,
        match=r"_B02.jp2: B02 is 130 x 130 px .* must lie on the 10 m "
        r"grid",
    ):
        open_product(only(folder)).grid()


def bucket_folder(folder, date):
    """The tile folder of T50TMK sensed on ``date`` (``2016/4/13``) under a bucket download."""
    return folder / "tiles" / "50" / "T" / "MK" / date / "0"


@pytest.mark.parametrize("layout", [dict(), dict(baseline="05.10")])
def test_bucket_tile_folders_are_found_at_depth_and_read_as_the_safe(products, pairs, layout):
    found = find_products(products(0, bucket=True, **layout))
    assert [
        item.path.relative_to(products(0, bucket=True, **layout)).as_posix() for item in found
    ] == [
        "tiles/50/T/MK/2016/4/3/0",
        "tiles/50/T/MK/2016/4/13/0",
    ]
    cloudy = locate(pairs[0].cloudy, found)
    assert cloudy == bucket_folder(products(0, bucket=True, **layout), "2016/4/13")
    tile, safe = (
        open_product(cloudy),
        open_product(locate(pairs[0].cloudy, find_products(products(0, **layout)))),
    )
    assert (tile.naming, tile.name, tile.tile, tile.baseline, tile.granules) == (
        "bucket",
        safe.name,
        "50TMK",
        safe.baseline,
        1,
    )
    assert tile.offsets == safe.offsets and tile.quantification == safe.quantification == 10000
    assert tile.grid() == safe.grid()
    for band in ("B02", "B12"):
        a = tile.to_reflectance_x10000(band, gdal.Open(tile.band_files[band]).ReadAsArray())
        b = safe.to_reflectance_x10000(band, gdal.Open(safe.band_files[band]).ReadAsArray())
        assert np.array_equal(a, b), band
    assert open_product(cloudy / "metadata.xml").path == cloudy  # a file of the folder names it too


def test_a_pdmc_product_in_the_bucket_is_one_tile_folder_per_granule(products, pairs):
    folder = products(0, bucket=True, naming="long")
    found = find_products(folder)
    assert len(found) == 4 and {f.name.name for f in found} == {
        f.name.name for f in find_products(products(0, zipped=True, naming="long"))
    }
    cloudy = locate(pairs[0].cloudy, found)
    assert cloudy == bucket_folder(folder, "2016/4/13")
    product = open_product(cloudy, "50TMK")
    assert (
        product.name.startswith("S2A_OPER_PRD_MSIL1C_PDMC_")
        and product.baseline == "02.01"
        and product.granules == 2
    )
    with pytest.raises(InputError, match="is the tile folder of T50TML, not of T50TMK"):
        open_product(folder / "tiles/50/T/ML/2016/4/13/0", "50TMK")


def _damaged_bucket_folder(tmp_path, products):
    folder = shutil.copytree(bucket_folder(products(0, bucket=True), "2016/4/13"), tmp_path / "0")
    return (
        folder,
        json.loads((folder / "productInfo.json").read_text()),
        json.loads((folder / "tileInfo.json").read_text()),
    )


def test_damaged_bucket_tile_folders_are_refused_with_the_file_and_the_fix(tmp_path, products):
    folder, product_info, tile_info = _damaged_bucket_folder(tmp_path, products)
    (folder / "B11.jp2").unlink()
    with pytest.raises(InputError, match=r"band files B11\.jp2 are missing from the tile folder"):
        open_product(folder)
    folder, product_info, tile_info = _damaged_bucket_folder(tmp_path / "l2a", products)
    l2a = product_info["name"].replace("MSIL1C", "MSIL2A")
    (folder / "productInfo.json").write_text(json.dumps({**product_info, "name": l2a}))
    (folder / "tileInfo.json").write_text(json.dumps({**tile_info, "productName": l2a}))
    with pytest.raises(InputError, match="Level-2A product .*take the tile from the L1C bucket"):
        open_product(folder)
    folder, _, tile_info = _damaged_bucket_folder(tmp_path / "other", products)
    (folder / "tileInfo.json").write_text(json.dumps({**tile_info, "gridSquare": "ML"}))
    with pytest.raises(
        InputError, match="tileInfo.json names tile T50TML, but productInfo.json .* of tile T50TMK"
    ):
        open_product(folder)
    folder, _, _ = _damaged_bucket_folder(tmp_path / "cut", products)
    (folder / "productInfo.json").write_text('{"name": "S2A_MSIL1C_2016')
    with pytest.raises(
        InputError,
        match=r"productInfo.json: unreadable .*download the tile "
        r"folder again",
    ):
        open_product(folder)
    # discovery lists it with its problem, and the product tileInfo.json names
    (found,) = find_products(tmp_path / "cut")
    assert (
        found.path == folder
        and "productInfo.json: unreadable" in str(found.problem)
        and found.claimed == product_info["name"]
    )
    with pytest.raises(
        InputError, match="productInfo.json: unreadable"
    ):  # so its pair fails with it
        locate(product_info["name"], [found])
    folder, product_info, _ = _damaged_bucket_folder(tmp_path / "shape", products)
    (folder / "productInfo.json").write_text(json.dumps({**product_info, "name": 42}))
    with pytest.raises(
        InputError,
        match=r"productInfo.json: field 'name': 42 is not of type "
        r"'string'; download the tile folder again",
    ):
        open_product(folder)


def test_a_pdmc_tile_folder_takes_its_baseline_from_the_datatake_or_the_tile_metadata(
    tmp_path, products
):
    folder = shutil.copytree(
        bucket_folder(products(0, bucket=True, naming="long"), "2016/4/13"), tmp_path / "0"
    )
    product_info = json.loads((folder / "productInfo.json").read_text())
    (folder / "productInfo.json").write_text(
        json.dumps({**product_info, "datatakeIdentifier": "GS2A_20160413T031632_004217_N02.02"})
    )
    assert open_product(folder).baseline == "02.02"
    del product_info["datatakeIdentifier"]
    (folder / "productInfo.json").write_text(json.dumps(product_info))
    assert open_product(folder).baseline == "02.01"  # from TILE_ID in metadata.xml
    (folder / "metadata.xml").unlink()
    with pytest.raises(InputError, match="states the processing baseline"):
        open_product(folder)


def test_a_product_is_known_by_its_content_not_its_name(tmp_path, products, pairs):
    """Renamed and swapped products (folders, zips, tile folders) are caught naming both names;
    a tile folder without productInfo.json is known by tileInfo.json, else refused by path."""
    clear, cloudy = pairs[0].clear, pairs[0].cloudy
    swapped = tmp_path / "swapped"
    # the cloud-free product saved as the cloudy one and the other way round
    for product in products(0).iterdir():
        other = product.name.replace(clear, "X").replace(cloudy, clear).replace("X", cloudy)
        shutil.copytree(product, swapped / other)
    for name in (clear, cloudy):
        with pytest.raises(
            InputError,
            match=r"name says S2A\S+, but its metadata "
            r"\(MTD_MSIL1C.xml\) states the product S2A",
        ) as error:
            locate(name, find_products(swapped))
        assert clear in str(error.value) and cloudy in str(error.value)
        with pytest.raises(
            InputError, match="a product saved under another product's name is not used"
        ):
            open_product(swapped / f"{name}.SAFE")
    zipped = only_zip = next(p for p in products(0, zipped=True).iterdir() if cloudy in p.name)
    renamed = tmp_path / "zips" / f"{clear}.zip"
    renamed.parent.mkdir()
    shutil.copy(only_zip, renamed)
    with pytest.raises(
        InputError,
        match=f"{renamed}: the folder's or zip's name says {clear}, "
        f"but .* states the product {cloudy}",
    ):
        open_product(renamed)
    assert open_product(zipped).name == cloudy

    bucket = shutil.copytree(products(0, bucket=True), tmp_path / "bucket")
    days = {
        "2016/4/3": bucket_folder(bucket, "2016/4/3"),
        "2016/4/13": bucket_folder(bucket, "2016/4/13"),
    }
    days["2016/4/3"].rename(bucket / "x")
    days["2016/4/13"].rename(days["2016/4/3"])
    (bucket / "x").rename(days["2016/4/13"])  # the two dates' folders swapped
    with pytest.raises(
        InputError,
        match=r"the bucket path says tile T50TMK sensed on 20160403, but "
        r"productInfo.json states the product S2A_MSIL1C_20160413",
    ):
        locate(cloudy, find_products(bucket))

    folder = shutil.copytree(
        bucket_folder(products(0, bucket=True), "2016/4/13"), tmp_path / "tiles/50/T/MK/2016/4/13/0"
    )
    (folder / "productInfo.json").unlink()  # still known: tileInfo.json names its product
    assert (
        open_product(folder).name == cloudy
        and locate(cloudy, find_products(tmp_path / "tiles")) == folder
    )
    tile_info = json.loads((folder / "tileInfo.json").read_text())
    del tile_info["productName"]
    (folder / "tileInfo.json").write_text(json.dumps(tile_info))
    (found,) = find_products(tmp_path / "tiles")
    assert found.name is None and (
        "cannot tell which product it belongs to; download productInfo.json"
    ) in str(found.problem)
    metadata = folder / "metadata.xml"
    metadata.write_text(
        re.sub(r"(<SENSING_TIME[^>]*>)2016-04-13", r"\g<1>2016-04-03", metadata.read_text())
    )
    (folder / "tileInfo.json").write_text(json.dumps({**tile_info, "productName": cloudy}))
    with pytest.raises(
        InputError,
        match=r"metadata.xml's SENSING_TIME \(20160403\) is not the "
        r"sensing day of",
    ):
        open_product(folder)


def test_a_zip_named_in_upper_case_is_found_and_read(tmp_path, products):
    """Some download tools write ``<name>.ZIP``: found and read as ``<name>.zip``."""
    zipped = next(p for p in products(0, zipped=True).iterdir() if "20160413" in p.name)
    upper = shutil.copy(zipped, tmp_path / zipped.name.replace(".zip", ".ZIP"))
    found = find_products(tmp_path)
    assert [item.path for item in found] == [Path(upper)] and found[
        0
    ].name.name == zipped.name.split(".")[0]
    assert open_product(upper).tile == "50TMK"
