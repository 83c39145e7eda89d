"""STAC items as products: :class:`StacItem`, one granule whose files are a STAC Item's assets.

An item is a ``.json`` file (alone, or in an ItemCollection as pystac-client saves a search) or
an http(s) URL: an item's, or a search's, read to its last page (``next`` links, GET or POST)
through pystac-client's StacApiIO with a timeout (:data:`STAC_TIMEOUT_S`). Its assets are read
in place (``/vsicurl/``, ``/vsis3/``, local and ``file://`` hrefs), by Earth Search's and the
Copernicus Data Space's asset keys; its properties and id are checked against the product its
files state. A document fetched, or an ItemCollection file parsed, is kept for one run
(crmss/core/memo.py).

Imports the packagings of crmss/io/products.py (an item is a :class:`BucketTile` behind an
index), and pystac and pystac-client (the ``stac`` extra) only where an item is read;
crmss/io/open.py imports it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from ..core.errors import InputError, optional_module
from ..core.memo import per_run
from .metadata import same_datatake_day
from .names import ProductName
from .products import BucketTile, MislabelledProduct, same_datatake
from .raster import gdal_path

#: Earth Search's asset keys of the Sentinel-2 bands (its ``sentinel-2-l1c`` collection); keys
#: named after the band (``B02``) and ``eo:bands`` names are read too
STAC_BAND_KEYS = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
}
#: the granule files a STAC item's metadata assets hold, by asset key
#: (Earth Search's ``tileinfo_metadata`` and ``granule_metadata``; the Copernicus Data Space's
#: ``granule_metadata`` and ``product_metadata``, files inside the product's ``.SAFE``)
STAC_METADATA_KEYS = {
    "tileinfo_metadata": "tileInfo.json",
    "granule_metadata": "metadata.xml",
    "metadata": "metadata.xml",
    "product_metadata": "MTD_MSIL1C.xml",
}
#: an item id as Earth Search writes it: S2B_32TLT_20230629_0_L1C
STAC_ITEM_ID = re.compile(
    r"^(?P<mission>S2[ABC])_(?P<tile>\d{2}[A-Z]{3})_(?P<day>\d{8})_\d+_(?P<level>L1C|L2A)$"
)
STAC_FIX = "fetch the item again (pystac-client) and check that its assets are reachable"


class StacItem(BucketTile):
    """One granule as a STAC Item (a JSON file): the bucket tile layout plus an index. Its band
    and metadata files are the item's assets, read in place through GDAL's virtual file systems
    (``/vsicurl/`` for http(s), ``/vsis3/`` for s3, with GDAL's own credential and requester-pays
    settings; plain paths for local and ``file://`` hrefs); the product it belongs to is its
    ``s2:product_uri``, checked against its tileInfo.json, metadata.xml and id like every
    packaging's identity."""

    naming = "stac"
    what = "STAC item"
    fix = STAC_FIX
    l1c_source = "search the sentinel-2-l1c collection"

    def __init__(self, path: Path, item: Any = None, url: str | None = None):
        super().__init__(path)
        self.url = url
        self.item = item if item is not None else _read_item(path)
        self.files = _item_files(self.item)

    @property
    def where(self) -> Path | str:
        return self.url or self.path

    @classmethod
    def at_url(cls, url: str, item_id: str | None = None) -> list[StacItem]:
        """The item at an http(s) ``url``, or the items of the ItemCollection there (only
        ``item_id`` where given), those of a collection known by ``<url>#<item id>``;
        InputError where it is neither or cannot be fetched."""
        items, collection = _url_items(url)
        name = Path(urllib.parse.urlparse(url).path)
        return [
            cls(name, item, f"{url}#{item.id}" if collection else url)
            for item in _chosen(items, item_id, url)
        ]

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".json" and stac_type(path) == "Feature"

    @classmethod
    def collection(cls, path: Path) -> list[StacItem]:
        """The items of an ItemCollection file (as pystac-client saves a search), each known by
        the path ``<file>#<item id>``; InputError where the file is none. The file is parsed
        once while it is unchanged (a cluster worker opens its items one by one)."""
        return cls.collection_item(path, None)

    @classmethod
    def collection_item(cls, path: Path, item_id: str | None) -> list[StacItem]:
        """:meth:`collection`, or only its item ``item_id`` where given (InputError where it
        holds none)."""
        stat = path.stat() if path.is_file() else None
        items = _collection_items(
            path.resolve(), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0
        )
        return [cls(Path(f"{path}#{item.id}"), item) for item in _chosen(items, item_id, str(path))]

    def member(self, name: str) -> str | None:
        return self.files.get(name)

    @property
    def claimed(self) -> str | None:
        uri = str(self.item.properties.get("s2:product_uri") or "").removesuffix(".SAFE")
        return uri if ProductName.parse(uri) else super().claimed

    def _stated_names(self, product_info: dict, tile_info: dict) -> dict[str, str]:
        uri = str(self.item.properties.get("s2:product_uri") or "").removesuffix(".SAFE")
        # the Data Space's ids
        named = (
            self.item.id.removesuffix(".SAFE")
            if ProductName.parse(self.item.id.removesuffix(".SAFE"))
            else ""
        )
        stated = {"the item's s2:product_uri": uri, "the item's id": named}
        return {
            **{f: n for f, n in stated.items() if n},
            **super()._stated_names(product_info, tile_info),
        }

    def _check_place(self, name: ProductName, own_tile: str, file: str) -> None:
        """The item's id (Earth Search's ``S2B_32TLT_20230629_0_L1C``) and collection must be of
        the product's satellite, tile, day and level."""
        collection, properties = (self.item.collection_id or "").lower(), self.item.properties
        product_type = (
            properties.get("s2:product_type") or properties.get("product:type") or "S2MSI1C"
        )
        if (
            "l2a" in collection
            or product_type != "S2MSI1C"
            or str(properties.get("processing:level", "")).upper().startswith("L2")
        ):
            stated = [
                f"{key} {properties[key]}"
                for key in ("s2:product_type", "product:type", "processing:level")
                if key in properties
            ]
            raise InputError(
                f"{self.where}: an item of "
                f"{self.item.collection_id or 'a collection'}"
                f"{' (' + ', '.join(stated) + ')' if stated else ''}; "
                "crmss needs Level-1C top-of-atmosphere data: search the sentinel-2-l1c collection"
            )
        contradicted = _item_contradictions(properties, name, own_tile)
        if contradicted:
            field_name, value = next(iter(contradicted.items()))
            raise MislabelledProduct(
                f"{self.where}: the item's {field_name} {value} contradicts the product "
                f"{name.name} (tile T{own_tile}) that {file} states; "
                f"an item edited or mixed with another is not used: {self.fix}",
                name,
            )
        match = STAC_ITEM_ID.match(self.item.id)
        said = (match["mission"], match["tile"], match["level"]) if match else None
        if match and (
            said != (name.mission, own_tile, name.level)
            or not same_datatake_day(match["day"], name.sensing[:8])
        ):
            raise MislabelledProduct(
                f"{self.where}: the item's id {self.item.id} says {match['mission']}, tile "
                f"T{match['tile']}, {match['day']}, {match['level']}, "
                f"but {file} states the product {name.name} (tile T{own_tile}); an item edited or "
                f"mixed with another is not used: {self.fix}",
                name,
            )


def _item_contradictions(properties: dict, name: ProductName, tile: str) -> dict[str, str]:
    """The properties of a STAC item that contradict the product ``name`` and the tile its files
    state: property -> value, compared where the item states them, in the forms Earth Search and the
    Copernicus Data Space Ecosystem write them (``platform`` ``sentinel-2b``, ``sat:relative_orbit``
    122, ``mgrs:utm_zone`` 34 with ``mgrs:latitude_band`` U and ``mgrs:grid_square`` CF or
    ``grid:code`` MGRS-34UCF, ``s2:processing_baseline`` 05.09, ``s2:datatake_id``
    ``GS2B_20230823T095559_033791_N05.09``, ``datetime`` on the datatake's day)."""
    day = str(properties.get("datetime") or "")[:10].replace("-", "")
    stated = {
        "platform": (
            properties.get("platform"),
            lambda v: str(v).lower() == f"sentinel-2{name.mission[-1].lower()}",
        ),
        "sat:relative_orbit": (
            properties.get("sat:relative_orbit"),
            lambda v: str(v).isdigit() and int(v) == int(name.orbit),
        ),
        "mgrs tile": (_mgrs_tile(properties), lambda v: v == tile),
        "grid:code": (
            properties.get("grid:code"),
            lambda v: str(v).upper().removeprefix("MGRS-") == tile,
        ),
        "s2:processing_baseline": (
            properties.get("s2:processing_baseline"),
            lambda v: name.baseline is None or str(v) == name.baseline,
        ),
        "s2:datatake_id": (
            properties.get("s2:datatake_id"),
            lambda v: same_datatake(str(v), name, name.baseline),
        ),
        "datetime": (
            properties.get("datetime") if day.isdigit() else None,
            lambda v: same_datatake_day(day, name.sensing[:8]),
        ),
    }
    return {
        field_name: str(value)
        for field_name, (value, agrees) in stated.items()
        if value is not None and not agrees(value)
    }


def _mgrs_tile(properties: dict) -> str | None:
    """The MGRS tile (``34UCF``) an item's ``mgrs:*`` properties state, None where they do not."""
    zone, band, square = (
        properties.get(key) for key in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")
    )
    if zone is None or band is None or square is None:
        return None
    return f"{int(zone):02d}{band}{square}" if str(zone).isdigit() else f"{zone}{band}{square}"


def stac_type(path: Path) -> str | None:
    """The ``type`` of a STAC JSON file (Feature: an item, FeatureCollection: an ItemCollection),
    None for other files."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    if document.get("type") == "Feature" and "stac_version" in document:
        return "Feature"
    features = document.get("features")
    if (
        document.get("type") == "FeatureCollection"
        and isinstance(features, list)
        and all(isinstance(f, dict) and "stac_version" in f for f in features)
    ):
        return "FeatureCollection"
    return None


@per_run
def _collection_items(path: Path, modified: int, size: int) -> list[Any]:
    """The pystac Items of the ItemCollection file at ``path`` (as it was at ``modified``, of
    ``size`` bytes)."""
    pystac = optional_module("pystac", "stac", "reading STAC items")

    try:
        items = list(pystac.ItemCollection.from_file(str(path)))
    except (OSError, ValueError, KeyError, TypeError, pystac.STACError) as exc:
        raise InputError(f"{path}: not a readable STAC ItemCollection ({exc}); {STAC_FIX}") from exc
    for item in items:  # relative asset hrefs are relative to the file
        item.set_self_href(str(path.parent / f"{item.id}.json"))
    return _distinct(items, str(path))


@per_run
def _url_items(url: str) -> tuple[list[Any], bool]:
    """The pystac Items at an http(s) ``url`` and whether they are a collection's (else the one
    item there); fetched and parsed once per run (crmss/core/memo.py)."""
    pystac = optional_module("pystac", "stac", "reading STAC items")

    document = _fetched(url)
    try:
        if document["type"] == "Feature":
            item = pystac.Item.from_dict(document)
            item.set_self_href(url)
            return [item], False
        items = list(pystac.ItemCollection.from_dict(document))
    except (ValueError, KeyError, TypeError, pystac.STACError) as exc:
        raise InputError(f"{url}: not a STAC item or ItemCollection ({exc}); {STAC_FIX}") from exc
    for item in items:  # relative asset hrefs are relative to the collection's URL
        item.set_self_href(urllib.parse.urljoin(url, f"{item.id}.json"))
    return _distinct(items, url), True


def _distinct(items: list[Any], where: str) -> list[Any]:
    """The items of an ItemCollection at ``where``, once each; InputError for a collection of no
    items, or of two different items under one id (one of them would be lost)."""
    if not items:
        raise InputError(
            f"{where}: an ItemCollection of no items (the search found nothing); "
            "widen the search or check its filters"
        )
    by_id: dict[str, Any] = {}
    for item in items:
        seen = by_id.setdefault(item.id, item)
        if seen is not item and seen.to_dict(include_self_link=False) != item.to_dict(
            include_self_link=False
        ):
            raise InputError(
                f"{where}: holds two different items with the id {item.id!r}; keep "
                "one of them (save the search again)"
            )
    return list(by_id.values())


def _chosen(items: list[Any], item_id: str | None, where: str) -> list[Any]:
    """``items`` (pystac Items of ``where``), or the one of id ``item_id`` where given;
    InputError where there is none."""
    if not item_id:
        return items
    found = [item for item in items if item.id == item_id]
    if not found:
        raise InputError(f"{where}: holds no item {item_id!r}; {STAC_FIX}")
    return found[:1]


#: seconds a STAC server may take to answer one request before the product is reported unreachable
STAC_TIMEOUT_S = 60


def _fetched(url: str) -> dict:
    """The STAC item or ItemCollection at an http(s) ``url``; a search result of several pages
    (``next`` links, GET or POST as STAC APIs page a search) read to its end. Requests go
    through pystac-client's StacApiIO, which sends a POST page's body and headers."""
    client = optional_module(
        "pystac_client.stac_api_io", "stac", "reading STAC items by URL"
    ).StacApiIO(timeout=STAC_TIMEOUT_S)
    document = _fetch_json(client, url)
    if document.get("type") not in ("Feature", "FeatureCollection"):
        raise InputError(
            f"{url}: not a STAC item or ItemCollection; give the URL of an item's "
            "JSON (…/items/<id>) or of a search"
        )
    page, seen = document, {_request_key({"href": url})}
    while (
        document["type"] == "FeatureCollection"
        and (link := _next_page(page, url))
        and _request_key(link) not in seen
    ):
        seen.add(_request_key(link))
        page = _fetch_json(client, link)
        document.setdefault("features", []).extend(page.get("features") or [])
    return document


def _fetch_json(client: Any, request: str | dict) -> dict:
    """The JSON document at ``request``: a URL, or a ``next`` link (its href, method, body,
    headers)."""
    pystac = optional_module("pystac", "stac", "reading STAC items")
    url = request if isinstance(request, str) else request["href"]
    try:
        document = client.read_json(
            request if isinstance(request, str) else pystac.Link.from_dict(request)
        )
    # pystac-client raises APIError, and the requests library its own errors
    except Exception as exc:
        raise InputError(
            f"{url}: cannot fetch a STAC item or ItemCollection ({exc}); check the "
            "URL and the network"
        ) from exc
    return document if isinstance(document, dict) else {}


def _next_page(page: dict, url: str) -> dict | None:
    """The ``next`` link of ``page`` of the search at ``url`` (its href made absolute), None on
    the last."""
    for link in page.get("links") or []:
        if (
            isinstance(link, dict)
            and link.get("rel") == "next"
            and isinstance(link.get("href"), str)
        ):
            return {**link, "href": urllib.parse.urljoin(url, link["href"])}
    return None


def _request_key(link: dict) -> str:
    """What tells one page's request from another's: a POST search's pages share their URL and
    differ in their body."""
    return json.dumps([link["href"], link.get("method", "GET"), link.get("body")], sort_keys=True)


def _read_item(path: Path) -> Any:
    """The pystac Item of an item JSON file; InputError where it is none."""
    pystac = optional_module("pystac", "stac", "reading STAC items")

    try:
        return pystac.Item.from_file(str(path))
    except (OSError, ValueError, KeyError, TypeError, pystac.STACError) as exc:
        raise InputError(f"{path}: not a readable STAC item ({exc}); {STAC_FIX}") from exc


def _item_files(item: Any) -> dict[str, str]:
    """The granule files (``B02.jp2``, ``tileInfo.json``, ``metadata.xml``) an item's assets
    hold, as GDAL paths."""
    files = {}
    for key, asset in item.assets.items():
        names = [band.get("name", "") for band in asset.extra_fields.get("eo:bands", [])]
        named = next((n for n in names if re.fullmatch(r"B\d[\dA]", n)), None)
        band = (
            key[:3].upper()
            if re.fullmatch(r"[Bb]\d[\dAa](?:_\d+m)?", key)
            else STAC_BAND_KEYS.get(key) or named
        )
        name = f"{band}.jp2" if band else STAC_METADATA_KEYS.get(key)
        if name and name not in files:
            files[name] = gdal_path(asset.get_absolute_href() or asset.href)
    return files
