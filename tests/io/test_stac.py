"""STAC items as products: items written by pystac over the synthetic bucket tile folders
(absolute, relative and file:// hrefs; Earth Search's asset keys) open, prepare and predict as
the folders themselves do, and bad items are refused naming what is wrong."""

import datetime
import functools
import http.server
import json
import re
import shutil
import threading
from pathlib import Path

import pystac
import pytest

from conftest import run_cli
from crmss.core.options import PredictOptions, PrepareOptions
from crmss.dataset.prepare import prepare
from crmss.inference.predict import predict_products
from crmss.io.discovery import find_products
from crmss.io.open import open_product, products_at
from crmss.io.stac import STAC_BAND_KEYS, StacItem

BAND_KEYS = {band: key for key, band in STAC_BAND_KEYS.items()}


def tile_folders(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.rglob("tileInfo.json"))


def make_item(
    tile: Path,
    *,
    uri: bool = False,
    item_id: str | None = None,
    collection: str | None = "sentinel-2-l1c",
    without=(),
) -> pystac.Item:
    """An Earth Search-like item of a bucket tile folder: its bands and metadata files as assets."""
    name = json.loads((tile / "productInfo.json").read_text())["name"]
    when = datetime.datetime.strptime(name.split("_")[2], "%Y%m%dT%H%M%S")
    granule = open_product(tile)
    item = pystac.Item(
        id=item_id or f"{name[:3]}_{granule.tile}_{when:%Y%m%d}_0_L1C",
        geometry=None,
        bbox=None,
        datetime=when,
        properties={"s2:product_uri": f"{name}.SAFE", "s2:product_type": "S2MSI1C"},
        collection=collection,
    )
    files = {
        **{BAND_KEYS[b]: f"{b}.jp2" for b in BAND_KEYS},
        "tileinfo_metadata": "tileInfo.json",
        "granule_metadata": "metadata.xml",
    }
    for key, file in files.items():
        if key not in without:
            path = tile / file
            item.add_asset(key, pystac.Asset(href=path.as_uri() if uri else str(path)))
    return item


def save(item: pystac.Item, path: Path) -> Path:
    item.save_object(dest_href=str(path), include_self_link=False)
    return path


class RangeRequests(http.server.SimpleHTTPRequestHandler):
    """Files served with HTTP range requests, as object stores serve them (GDAL's /vsicurl/ reads
    by ranges)."""

    def do_GET(self):
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not asked or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start, end = int(asked[1]), min(int(asked[2] or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])

    def do_POST(self):
        """A STAC API's search paged by POST: the body's ``page`` names the file of the page."""
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        page = Path(self.translate_path("/")) / str(body.get("page"))
        if self.path != "/search" or not page.is_file():
            return self.send_error(404)
        data = page.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """served(folder) -> the http:// URL of ``folder`` on a server on 127.0.0.1 (stopped after
    the test)."""
    servers = []

    def serve(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(RangeRequests, directory=str(folder))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


def test_an_item_and_a_collection_open_as_their_tile_folders(tmp_path, products):
    tiles = tile_folders(products(0, bucket=True))
    items = [
        save(make_item(tile, uri=i == 1), tmp_path / f"item{i}.json")
        for i, tile in enumerate(tiles)
    ]
    for tile, item in zip(tiles, items):
        a, b = open_product(item), open_product(tile)
        assert (a.name, a.tile, a.baseline, a.offsets, a.granules, a.grid()) == (
            b.name,
            b.tile,
            b.baseline,
            b.offsets,
            b.granules,
            b.grid(),
        )
        assert a.naming == "stac" and a.band_files["B8A"] == b.band_files["B8A"]
    item = make_item(tiles[0])  # a pystac.Item itself, as a notebook holds it
    assert open_product(item).name == open_product(tiles[0]).name
    collection = tmp_path / "search.json"
    collection.write_text(
        json.dumps(pystac.ItemCollection([make_item(t) for t in tiles]).to_dict())
    )
    members = products_at(collection)
    assert all(isinstance(p, StacItem) for p in members) and [
        p.identity().name for p in members
    ] == [open_product(t).name for t in tiles]
    # items and collections in a products folder are found by their content
    found = find_products(tmp_path)
    assert sorted({f.name.name for f in found}) == sorted(
        open_product(t).name for t in tiles
    ) and not any(f.problem for f in found)


def test_predict_and_prepare_of_items_write_what_the_folders_give(
    tmp_path, products, trained, split_of
):
    folder = products(0, bucket=True)
    tiles = tile_folders(folder)
    cloudy = next(t for t in tiles if "/2016/4/13/" in t.as_posix())
    item = save(make_item(cloudy, uri=True), tmp_path / "items" / "cloudy.json")
    options = {"model": trained / "run", "tile": 512, "progress": False}
    expected = predict_products(PredictOptions([cloudy], out=tmp_path / "folder", **options))
    written = predict_products(PredictOptions([item], out=tmp_path / "item", **options))
    assert [p.name for p in written] == [p.name for p in expected]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(written, expected))

    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    (catalogue / "search.json").write_text(
        json.dumps(pystac.ItemCollection([make_item(t) for t in tiles]).to_dict())
    )
    by_items = prepare(
        PrepareOptions(catalogue, tmp_path / "from_items", split=split_of(0), progress=False)
    )
    by_folders = prepare(
        PrepareOptions(folder, tmp_path / "from_folders", split=split_of(0), progress=False)
    )
    (key,) = by_folders["pairs"]
    assert by_items["pairs"][key]["windows"] == by_folders["pairs"][key]["windows"]
    for patch in sorted((tmp_path / "from_folders").rglob("*.tif")):
        assert (
            patch.read_bytes()
            == (tmp_path / "from_items" / patch.relative_to(tmp_path / "from_folders")).read_bytes()
        )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"without": ("rededge1",)}, "band files B05.jp2 are missing from the STAC item"),
        ({"collection": "sentinel-2-l2a"}, "search the sentinel-2-l1c collection"),
        ({"item_id": "S2A_50TMK_20160415_0_L1C"}, "the item's id S2A_50TMK_20160415_0_L1C says"),
        (
            {"item_id": "S2B_50TMK_20160413_0_L1C"},
            "the item's id S2B_50TMK_20160413_0_L1C says S2B",
        ),
    ],
)
def test_bad_items_are_refused_naming_what_is_wrong(tmp_path, products, trained, change, message):
    cloudy = next(
        t for t in tile_folders(products(0, bucket=True)) if "/2016/4/13/" in t.as_posix()
    )
    item = save(make_item(cloudy, **change), tmp_path / "item.json")
    run = run_cli(
        "predict", item, "--model", trained / "run", "--out", tmp_path / "out", "--no-progress"
    )
    assert run.returncode == 2 and message in run.stderr and str(item) in run.stderr, run.stderr[
        -2000:
    ]
    assert not (tmp_path / "out").exists()


def test_an_item_whose_asset_cannot_be_read_is_refused(tmp_path, products):
    cloudy = next(
        t for t in tile_folders(products(0, bucket=True)) if "/2016/4/13/" in t.as_posix()
    )
    copy = shutil.copytree(cloudy, tmp_path / "tile")
    item = save(make_item(copy), tmp_path / "item.json")
    (copy / "tileInfo.json").write_text("{not json")
    with pytest.raises(Exception, match="tileInfo.json: unreadable"):
        open_product(item)


def test_items_and_collections_given_by_url_predict_what_the_folders_give(
    tmp_path, products, trained, served
):
    """A catalogue on 127.0.0.1: items and an ItemCollection by their URLs, the bands read
    through /vsicurl/."""
    tiles = tile_folders(products(0, bucket=True))
    cloudy = next(t for t in tiles if "/2016/4/13/" in t.as_posix())
    root = tmp_path / "catalogue"
    for tile in tiles:
        shutil.copytree(tile, root / tile.relative_to(tiles[0].parents[6]))
    url = served(root)
    items = [make_item(root / tile.relative_to(tiles[0].parents[6])) for tile in tiles]
    for item in items:  # hrefs relative to the catalogue, as served
        for asset in item.assets.values():
            asset.href = f"{url}/{Path(asset.href).relative_to(root).as_posix()}"
        (root / f"{item.id}.json").write_text(json.dumps(item.to_dict(include_self_link=False)))
    (root / "search.json").write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    # a search paged as STAC APIs page a GET search
    for page, (item, after) in enumerate(zip(items, ["page1.json", None])):
        links = [{"rel": "next", "href": after, "type": "application/geo+json"}] if after else []
        (root / f"page{page}.json").write_text(
            json.dumps({**pystac.ItemCollection([item]).to_dict(), "links": links})
        )
    by_url = open_product(f"{url}/{items[0].id}.json")
    assert by_url.path == f"{url}/{items[0].id}.json" and by_url.band_files["B02"].startswith(
        f"/vsicurl/{url}/"
    )
    # and as they page a POST search
    for page, (item, after) in enumerate(zip(items, ["post1.json", None])):
        links = (
            [{"rel": "next", "href": "search", "method": "POST", "body": {"page": after}}]
            if after
            else []
        )
        (root / f"post{page}.json").write_text(
            json.dumps({**pystac.ItemCollection([item]).to_dict(), "links": links})
        )
    for search in ("search.json", "page0.json", "post0.json"):
        assert [p.identity().name for p in products_at(f"{url}/{search}")] == [
            open_product(t).name for t in tiles
        ]

    cloudy_id = next(item.id for item, tile in zip(items, tiles) if tile == cloudy)
    options = {"model": trained / "run", "tile": 512, "progress": False}
    expected = predict_products(PredictOptions([cloudy], out=tmp_path / "folder", **options))
    for given in (f"{url}/{cloudy_id}.json", f"{url}/search.json#{cloudy_id}"):
        written = predict_products(
            PredictOptions([given], out=tmp_path / given[-12:].replace("#", "_"), **options)
        )
        assert [p.read_bytes() for p in written] == [p.read_bytes() for p in expected]
    missing = run_cli(
        "predict",
        f"{url}/absent.json",
        "--model",
        trained / "run",
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert (
        missing.returncode == 2
        and f"{url}/absent.json: cannot fetch a STAC item or ItemCollection" in missing.stderr
    )
