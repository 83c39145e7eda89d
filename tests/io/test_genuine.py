"""Products in genuine formats, read by crmss and by GDAL's own SENTINEL2 driver as an
independent second reader: the same tiles, band files, sizes, geotransforms and pixel values;
GDAL's metadata items as genuine products state them; each identity field changed alone is
refused; a tree prepared from any packaging is read back by every later command."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from genuine import FIXTURES, SAFE_FIXTURES, SIZE, Genuine, cdse_item, earth_search_item, write
from osgeo import gdal

from crmss.core.bands import STACKS
from crmss.core.errors import InputError
from crmss.io.names import DATATAKE_ID, GRANULE_TILE, ProductName, spacecraft_name
from crmss.io.open import identify, open_product, product_at, products_at
from crmss.io.products import MislabelledProduct

gdal.UseExceptions()
WINDOW = (64, 96, 128, 160)  # x, y, width, height in 10 m px


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """fixture key -> the written product (once per module)."""
    root = tmp_path_factory.mktemp("genuine")
    return {f.key: write(f, root / f.key) for f in FIXTURES}


def gdal_name(path: Path, fixture: Genuine) -> str:
    """What a user opens with GDAL's SENTINEL2 driver: a zip itself, a ``.SAFE`` folder's
    metadata file."""
    if path.is_file():
        return str(path)
    (metadata,) = [p for p in path.iterdir() if p.suffix == ".xml" and p.name != "manifest.safe"]
    return str(metadata)


def subdatasets(name: str) -> dict[str, str]:
    """resolution (``10m``, ``20m``) -> GDAL's subdataset name, from the product's SUBDATASETS."""
    found = gdal.Open(name).GetMetadata("SUBDATASETS")
    return {
        res: value
        for key, value in found.items()
        if key.endswith("_NAME")
        for res in STACKS
        if f":{res}:EPSG_" in value
    }


def esa_band(description: str) -> str:
    """GDAL's band name (``B4``, ``B8A``) as ESA names the files (``B04``, ``B8A``)."""
    return re.sub(r"^B(\d)$", r"B0\1", description)


def same_file(a: str, b: str) -> bool:
    """Whether two GDAL paths (plain, or /vsizip/ into the same zip) name one file."""
    return os.path.normpath(a.replace("/vsizip/", "")) == os.path.normpath(
        b.replace("/vsizip/", "")
    )


@pytest.mark.parametrize("fixture", SAFE_FIXTURES, ids=lambda f: f.key)
def test_gdal_states_the_metadata_as_genuine_products_do(written, fixture):
    metadata = gdal.Open(gdal_name(written[fixture.key], fixture)).GetMetadata()
    name = ProductName.of(fixture.name)
    assert (
        metadata["DATATAKE_1_SPACECRAFT_NAME"]
        == spacecraft_name(name.mission)
        == f"Sentinel-2{name.mission[2]}"
    )
    assert (
        metadata["PROCESSING_BASELINE"] == fixture.baseline
        and metadata["PRODUCT_TYPE"] == "S2MSI1C"
    )
    assert (
        metadata["PROCESSING_LEVEL"] == "Level-1C" and metadata["QUANTIFICATION_VALUE"] == "10000"
    )
    assert metadata["DATATAKE_1_SENSING_ORBIT_NUMBER"] == str(int(name.orbit))
    datatake = DATATAKE_ID.match(metadata["DATATAKE_1_ID"])
    assert (
        datatake
        and datatake["mission"] == name.mission
        and datatake["baseline"] == fixture.baseline
    )
    assert datatake["sensing"] == name.sensing and metadata[
        "DATATAKE_1_DATATAKE_SENSING_START"
    ].startswith(f"{name.sensing[:4]}-{name.sensing[4:6]}-{name.sensing[6:8]}T")


@pytest.mark.parametrize("fixture", SAFE_FIXTURES, ids=lambda f: f.key)
def test_crmss_finds_what_gdal_finds(written, fixture):
    path = written[fixture.key]
    product, seen = product_at(path), subdatasets(gdal_name(path, fixture))
    assert set(seen) == set(STACKS)
    gdal_files = {res: gdal.Open(name).GetFileList() for res, name in seen.items()}
    gdal_tiles = {
        match["tile"]
        for files in gdal_files.values()
        for f in files
        if (match := GRANULE_TILE.search(Path(f).parent.parent.name))
    }
    assert product.tiles() == gdal_tiles
    assert product.identity().name == fixture.name or product.identity().same_acquisition(
        ProductName.of(fixture.name)
    )
    for tile in sorted(gdal_tiles):
        granule = open_product(path, tile)
        grid = granule.grid()
        for res, scale in (("10m", 1), ("20m", 2)):
            dataset = gdal.Open(seen[res])
            origin = dataset.GetGeoTransform()
            ours = grid.geotransform_at(scale)
            assert ours[1:3] + ours[4:] == origin[1:3] + origin[4:]
            col, row = (ours[0] - origin[0]) / origin[1], (ours[3] - origin[3]) / origin[5]
            assert col.is_integer() and row.is_integer() and col >= 0 and row >= 0
            assert (
                col + grid.width // scale <= dataset.RasterXSize
                and row + grid.height // scale <= dataset.RasterYSize
            )
            if len(gdal_tiles) == 1:
                assert (dataset.RasterXSize, dataset.RasterYSize) == (
                    grid.width // scale,
                    grid.height // scale,
                ) and ours == origin
            bands = {
                esa_band(dataset.GetRasterBand(i).GetMetadataItem("BANDNAME")): i
                for i in range(1, dataset.RasterCount + 1)
            }
            assert set(bands) == set(STACKS[res])
            for band in STACKS[res]:
                assert any(same_file(granule.band_files[band], f) for f in gdal_files[res]), (
                    f"{band}: {granule.band_files[band]} not in GDAL's files"
                )
            x, y, width, height = (v // scale for v in WINDOW)
            ours_pixels = granule.read(STACKS[res], WINDOW)
            for i, band in enumerate(STACKS[res]):
                dn = (
                    dataset.GetRasterBand(bands[band])
                    .ReadAsArray(int(col) + x, int(row) + y, width, height)
                    .astype(np.float32)
                )
                expected = (
                    np.where(dn == 0, 0, np.maximum(dn + granule.offsets.get(band, 0), 1)) / 10000
                )
                np.testing.assert_array_equal(ours_pixels[..., i], expected.astype(np.float32))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.key)
def test_every_genuine_fixture_is_accepted(written, fixture):
    granule = open_product(written[fixture.key], ProductName.of(fixture.name).tile)
    assert (
        ProductName.of(granule.name).same_acquisition(ProductName.of(fixture.name))
        and granule.baseline == fixture.baseline
    )
    assert granule.offsets.get("B02", 0) == (-1000 if float(fixture.baseline) >= 4 else 0)
    layout = fixture.layout
    assert granule.naming == (
        "bucket"
        if layout.get("bucket")
        else layout.get("band_naming") or layout.get("naming", "compact")
    )


def test_a_granule_is_named_as_products_name_tiles(written):
    """open_product's ``tile`` as a user writes it (T37UCQ, 37UCQ, lower case) opens the same
    granule of a two-tile PDMC product; a value that is no MGRS tile is refused naming it."""
    path = written["pdmc-02.04-S2A"]
    tile = sorted(product_at(path).tiles())[-1]
    opened = {
        open_product(path, spelled).band_files["B02"]
        for spelled in (f"T{tile}", tile, f"t{tile.lower()}")
    }
    assert len(opened) == 1 and f"_T{tile}_" in opened.pop()
    with pytest.raises(
        InputError, match="tile='TT37': not an MGRS tile; give it as products name it"
    ):
        open_product(path, "TT37")
    with pytest.raises(InputError, match=r"holds no granule of tile T50TMK \(granules: T"):
        open_product(path, "T50TMK")


def test_an_earth_search_item_and_its_collection_open_as_the_tile_folder(written, tmp_path):
    folder = written["bucket-02.01-S2A"]
    item = earth_search_item(folder, tmp_path / "item.json")
    via_item, via_folder = open_product(item), open_product(folder)
    assert (via_item.name, via_item.tile, via_item.baseline) == (
        via_folder.name,
        via_folder.tile,
        via_folder.baseline,
    )
    np.testing.assert_array_equal(
        via_item.read(STACKS["20m"], WINDOW), via_folder.read(STACKS["20m"], WINDOW)
    )


def test_a_data_space_item_reads_the_bands_and_metadata_inside_the_safe(written, tmp_path):
    fixture = next(f for f in FIXTURES if f.key == "compact-05.11-S2C")
    safe = written[fixture.key]
    item = cdse_item(safe, fixture.name, tmp_path / "item.json")
    via_item, via_safe = open_product(item), open_product(safe)
    assert (via_item.name, via_item.tile, via_item.baseline, via_item.offsets) == (
        via_safe.name,
        via_safe.tile,
        via_safe.baseline,
        via_safe.offsets,
    )
    assert via_item.offsets["B12"] == -1000 and via_item.naming == "stac"
    np.testing.assert_array_equal(
        via_item.read(STACKS["10m"], WINDOW), via_safe.read(STACKS["10m"], WINDOW)
    )

    copy = shutil.copytree(safe, tmp_path / "edited" / safe.name)
    metadata = copy / "MTD_MSIL1C.xml"
    metadata.write_text(
        metadata.read_text().replace(
            "<SPACECRAFT_NAME>Sentinel-2C<", "<SPACECRAFT_NAME>Sentinel-2A<"
        )
    )
    with pytest.raises(
        InputError,
        match="MTD_MSIL1C.xml: SPACECRAFT_NAME Sentinel-2A contradicts "
        "the product name S2C_MSIL1C_",
    ):
        open_product(cdse_item(copy, fixture.name, tmp_path / "edited.json"))
    document = json.loads(item.read_text())
    document["properties"]["processing:level"] = "L2A"
    (tmp_path / "l2a.json").write_text(json.dumps(document))
    with pytest.raises(
        InputError,
        match="crmss needs Level-1C top-of-atmosphere data: search the sentinel-2-l1c collection",
    ):
        open_product(tmp_path / "l2a.json")


def _edited(properties: dict, key: str, value) -> dict:
    return {**properties, key: value}


#: (the item's style, the property changed alone, its new value)
ITEM_FIELDS = [
    ("earth search", "platform", "sentinel-2b"),
    ("earth search", "datetime", "2016-04-18T03:16:32.024000Z"),
    ("earth search", "s2:processing_baseline", "02.02"),
    ("earth search", "mgrs:grid_square", "MJ"),
    ("earth search", "mgrs:utm_zone", 51),
    ("earth search", "s2:datatake_id", "GS2B_20160413T031632_004219_N02.01"),
    ("earth search", "sat:relative_orbit", 76),
    ("data space", "grid:code", "MGRS-34UCG"),
    ("data space", "platform", "sentinel-2a"),
]


@pytest.mark.parametrize(
    "style, key, value", ITEM_FIELDS, ids=[f"{s}: {k}" for s, k, _ in ITEM_FIELDS]
)
def test_each_item_property_changed_alone_is_refused(written, tmp_path, style, key, value):
    """A STAC item whose property contradicts the product its files state is not used: the
    refusal names the property and its value."""
    if style == "earth search":
        item = earth_search_item(written["bucket-02.01-S2A"], tmp_path / "item.json")
    else:
        fixture = next(f for f in FIXTURES if f.key == "compact-05.11-S2C")
        item = cdse_item(written[fixture.key], fixture.name, tmp_path / "item.json")
    open_product(item)  # as written: accepted
    document = json.loads(item.read_text())
    document["properties"] = _edited(document["properties"], key, value)
    item.write_text(json.dumps(document))
    with pytest.raises(
        InputError,
        match="the item's "
        f"{'mgrs tile' if key.startswith('mgrs:') else key} .* contradicts the product",
    ):
        open_product(item)


#: (the field, a regular expression substitution on MTD_MSIL1C.xml, the words of the refusal)
IDENTITY_FIELDS = [
    ("SPACECRAFT_NAME", (r"Sentinel-2A", "Sentinel-2B"), "SPACECRAFT_NAME Sentinel-2B contradicts"),
    (
        "SPACECRAFT_NAME as crmss once wrote it",
        (r"Sentinel-2A", "Sentinel-A"),
        "SPACECRAFT_NAME Sentinel-A contradicts",
    ),
    (
        "datatakeIdentifier mission",
        (r'datatakeIdentifier="GS2A_', 'datatakeIdentifier="GS2B_'),
        "datatakeIdentifier GS2B_",
    ),
    (
        "datatakeIdentifier baseline",
        (r'(datatakeIdentifier="GS2A_\w+_N)02\.07', r"\g<1>02.06"),
        "datatakeIdentifier GS2A_",
    ),
    (
        "PROCESSING_BASELINE",
        (r">02\.07</PROCESSING_BASELINE>", ">02.06</PROCESSING_BASELINE>"),
        "PROCESSING_BASELINE 02.06 contradicts",
    ),
    (
        "SENSING_ORBIT_NUMBER",
        (r">105</SENSING_ORBIT_NUMBER>", ">106</SENSING_ORBIT_NUMBER>"),
        "SENSING_ORBIT_NUMBER 106 contradicts",
    ),
    (
        "DATATAKE_SENSING_START",
        (r"<DATATAKE_SENSING_START>2018-11-11", "<DATATAKE_SENSING_START>2018-11-13"),
        "sensing day 20181113",
    ),
]


@pytest.mark.parametrize(
    "field, change, words", IDENTITY_FIELDS, ids=[f[0] for f in IDENTITY_FIELDS]
)
def test_each_identity_field_changed_alone_is_refused(written, tmp_path, field, change, words):
    copy = shutil.copytree(
        written["compact-02.07-S2A"], tmp_path / written["compact-02.07-S2A"].name
    )
    metadata = copy / "MTD_MSIL1C.xml"
    text, count = re.subn(change[0], change[1], metadata.read_text(), count=1)
    assert count == 1
    metadata.write_text(text)
    with pytest.raises(InputError, match=re.escape(words)) as refused:
        identify(copy)
    assert "MTD_MSIL1C.xml" in str(refused.value) and "download the product again" in str(
        refused.value
    )


def test_a_pdmc_products_baseline_changed_alone_is_refused(written, tmp_path):
    """A PDMC name states no baseline: PROCESSING_BASELINE is held to the datatake identifier's."""
    with zipfile.ZipFile(written["pdmc-02.04-S2A"]) as archive:
        archive.extractall(tmp_path)
    (copy,) = tmp_path.glob("*.SAFE")
    (metadata,) = [p for p in copy.iterdir() if p.suffix == ".xml" and p.name != "manifest.safe"]
    text, count = re.subn(
        r">02\.04</PROCESSING_BASELINE>", ">02.05</PROCESSING_BASELINE>", metadata.read_text()
    )
    assert count == 1
    metadata.write_text(text)
    with pytest.raises(
        InputError,
        match=r"datatakeIdentifier GS2A_\w+_N02\.04 contradicts the "
        r"product name S2A_OPER_PRD_MSIL1C_PDMC_",
    ):
        identify(copy)


def test_another_products_uri_is_refused_as_mislabelled(written, tmp_path):
    copy = shutil.copytree(
        written["compact-02.07-S2A"], tmp_path / written["compact-02.07-S2A"].name
    )
    metadata = copy / "MTD_MSIL1C.xml"
    metadata.write_text(
        metadata.read_text().replace(
            "20181111T083104.SAFE</PRODUCT_URI>", "20181111T083105.SAFE</PRODUCT_URI>"
        )
    )
    with pytest.raises(
        MislabelledProduct,
        match="states the product S2A_MSIL1C_20181111T053041_N0207_R105_T43RGM_20181111T083105",
    ):
        identify(copy)


def test_band_files_come_from_the_metadata_list_whatever_their_names(written, tmp_path):
    """A product whose band files have neither form is read through its IMAGE_FILE list, as GDAL
    reads it."""
    source = written["compact-long-band-names"]
    with zipfile.ZipFile(source) as archive:
        archive.extractall(tmp_path)
    (safe,) = tmp_path.glob("*.SAFE")
    metadata = safe / "MTD_MSIL1C.xml"
    text = metadata.read_text()
    for jp2 in safe.rglob("*.jp2"):
        stem = jp2.stem
        renamed = f"renamed_{stem[-3:]}"
        jp2.rename(jp2.with_name(f"{renamed}.jp2"))
        text = text.replace(f"/{stem}</IMAGE_FILE>", f"/{renamed}</IMAGE_FILE>")
    metadata.write_text(text)
    granule = open_product(safe)
    assert Path(granule.band_files["B11"]).name == "renamed_B11.jp2"
    dataset = gdal.Open(subdatasets(str(metadata))["20m"])
    assert any(same_file(granule.band_files["B11"], f) for f in dataset.GetFileList())
    assert granule.read(STACKS["10m"], WINDOW).shape == (WINDOW[3], WINDOW[2], 4)


def test_pdmc_fixture_holds_two_granules_that_gdal_mosaics(written):
    product = product_at(written["pdmc-02.04-S2A"])
    assert (
        product.tiles() == {"37UCQ", "37UCR"}
        and open_product(written["pdmc-02.04-S2A"], "37UCQ").naming == "long"
    )
    (ten,) = [
        name
        for res, name in subdatasets(gdal_name(written["pdmc-02.04-S2A"], SAFE_FIXTURES[0])).items()
        if res == "10m"
    ]
    assert gdal.Open(ten).RasterYSize > SIZE  # both granules, one above the other


def test_bad_stac_files_are_refused_naming_the_file(written, tmp_path):
    folder = written["bucket-02.01-S2A"]
    item = json.loads(earth_search_item(folder, tmp_path / "item.json").read_text())
    (tmp_path / "other.json").write_text(json.dumps({"type": "Topology", "objects": {}}))
    with pytest.raises(InputError, match="other.json: not a STAC item or ItemCollection"):
        open_product(tmp_path / "other.json")
    (tmp_path / "empty.json").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="empty.json: an ItemCollection of no items"):
        products_at(tmp_path / "empty.json")
    twin = {**item, "properties": {**item["properties"], "eo:cloud_cover": 50.0}}
    (tmp_path / "twice.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": [item, twin]})
    )
    with pytest.raises(
        InputError, match=f"twice.json: holds two different items with the id '{item['id']}'"
    ):
        products_at(tmp_path / "twice.json")
    (tmp_path / "same.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": [item, item]})
    )
    assert len(products_at(tmp_path / "same.json")) == 1  # the same item twice is one item
    copy = shutil.copytree(folder, tmp_path / "tile")
    (copy / "productInfo.json").write_bytes(b"")
    with pytest.raises(InputError, match=r"productInfo.json: is empty \(0 bytes of JSON\)"):
        open_product(copy)


def test_a_tile_folder_is_named_by_its_place_in_the_bucket(written):
    from crmss.inference.predict import _shown

    assert _shown(str(written["bucket-02.01-S2A"])) == "tiles/50/T/MK/2016/4/3/0"
    assert _shown(str(written["compact-02.07-S2A"])) == written["compact-02.07-S2A"].name
