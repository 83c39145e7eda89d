"""L1C products as they lie on disk: one type per packaging, behind one interface, :class:`Product`.

* :class:`SafeFolder`: a ``<name>.SAFE/`` folder in the compact layout (from December 2016,
  and the WHUS2-CR list): ``MTD_MSIL1C.xml``, one granule, bands
  ``GRANULE/<granule>/IMG_DATA/T50TMK_20160403T030602_B02.jp2``;
* :class:`SafeZip`: the same zipped (``<name>.zip``, ``<name>.SAFE.zip``), read in place through
  GDAL's ``/vsizip/``, never unpacked; zips as people re-pack them are accepted (``__MACOSX/``
  and ``._*`` entries ignored, the ``.SAFE`` content at the zip's root);
* :class:`PdmcFolder`, :class:`PdmcZip`: the pre-December-2016 packaging (PDMC), unpacked or
  zipped: ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml``, often several granules, bands
  ``S2A_OPER_MSI_L1C_TL_SGS__20150826T111633_A000941_T37UCQ_B02.jp2``;
* :class:`BucketTile`: one granule as a tile folder of the public cloud bucket (AWS
  ``sentinel-s2-l1c``, ``tiles/50/T/MK/2016/4/3/0/``): ``B01.jp2`` ... ``B12.jp2``,
  ``metadata.xml`` (the granule's tile metadata), ``productInfo.json`` (the product's name and
  tiles) and ``tileInfo.json`` (the tile). It has no product metadata: the baseline comes from
  the product's name or datatake identifier, the quantification is L1C's 10000, and from
  baseline 04.00 the offset is ESA's -1000 for every band (what every such product's metadata
  states);
* :class:`StacItem`: the same granule as a STAC Item (a ``.json`` file, alone or in an
  ItemCollection as pystac-client saves a search): the tile folder's files are the item's
  assets, read in place (``/vsicurl/``, ``/vsis3/``, local and ``file://`` hrefs).

Each knows the identity its content states (:meth:`Product.identity`, checked against its
name), the tiles of its granules, and opens a granule (crmss/io/granule.py). :func:`product_at`
tells the packaging of a path; adding a packaging means adding a class to :data:`PACKAGINGS`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.parse
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from ..core.bands import ALL_BANDS, BANDS_10M
from ..core.errors import InputError, optional_module
from ..core.memo import per_run
from ..core.schemas import PRODUCT_INFO, TILE_INFO, parse_json
from .granule import Granule
from .metadata import (
    BASELINE_04_OFFSET,
    QUANTIFICATION,
    SATURATED,
    USED_BANDS,
    ProductMetadata,
    TileMetadata,
    baseline_of,
    product_metadata,
    same_datatake_day,
    sensing_day,
    tile_metadata,
)
from .names import (
    BAND_SUFFIX,
    COMPACT_BAND_FILE,
    DATATAKE_ID,
    GRANULE_TILE,
    LONG_BAND_FILE,
    ProductName,
    band_file_naming,
    mgrs_tile,
    product_stem,
    spacecraft_name,
)
from .raster import read_file

METADATA_FILE = re.compile(r"^(?:MTD_MSI(?P<compact>L\w\w)|S2[ABC]_OPER_MTD_SAF(?P<long>L\w\w)_PDMC_\w+)\.xml$")
#: what marks a tile folder of the public bucket (besides its bands and ``metadata.xml``)
TILE_FOLDER_FILES = ("productInfo.json", "tileInfo.json")
#: where ``aws s3 sync`` puts a tile folder of the bucket: tiles/<zone>/<band>/<square>/<year>/<month>/<day>/<n>
BUCKET_PATH = re.compile(r"tiles/(?P<zone>\d{1,2})/(?P<band>[C-X])/(?P<square>[A-Z]{2})/(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/\d+$")
TILE_FOLDER_FIX = "download the tile folder again"
#: the product metadata among a granule's files (a STAC item's ``product_metadata`` asset), by its name in a .SAFE
PRODUCT_METADATA = "MTD_MSIL1C.xml"


class MislabelledProduct(InputError):
    """A product whose content states another identity than its name (``content``, a ProductName)."""

    def __init__(self, message: str, content: ProductName):
        super().__init__(message)
        self.content = content

    def __reduce__(self) -> tuple:
        return type(self), (str(self), self.content)  # pickled whole, as a cluster worker returns it


class Product(ABC):
    """An L1C product in one packaging, at ``path``."""

    #: the band files' naming, as a granule records it
    naming: ClassVar[str]
    #: where discovery lists this packaging among several forms of one product (lowest first)
    order: ClassVar[int]

    def __init__(self, path: Path):
        self.path = path

    @property
    def where(self) -> Path | str:
        """The product as a user names it: its path, or a STAC item's URL (``#<item id>`` for an item of a collection)."""
        return self.path

    @classmethod
    @abstractmethod
    def recognises(cls, path: Path) -> bool:
        """Whether ``path`` is packaged this way (checked in :data:`PACKAGINGS`' order)."""

    @property
    @abstractmethod
    def claimed(self) -> str | None:
        """The product name that the file or folder name gives, read leniently (None where none)."""

    @abstractmethod
    def identity(self) -> ProductName:
        """The product as its content states it, checked against its names: InputError
        (:class:`MislabelledProduct` where the content names another product) naming the file."""

    @abstractmethod
    def tiles(self) -> set[str]:
        """The MGRS tiles of the product's granules (e.g. ``{"50TMK"}``)."""

    @abstractmethod
    def granule(self, tile: str | None = None) -> Granule:
        """Open the granule of ``tile`` (default: the tile in the product's name, or the only
        granule); InputError for anything that is not a complete L1C granule."""

    def granules(self) -> list[Granule]:
        """Every granule, opened (a product of one granule: that one, by the default rule)."""
        tiles = sorted(self.tiles())
        return [self.granule()] if len(tiles) <= 1 else [self.granule(tile) for tile in tiles]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.where)!r})"


class SafeFolder(Product):
    """A ``<name>.SAFE`` folder, compact layout. Its files are named by their path from the
    folder's parent (``<name>.SAFE/GRANULE/...``), as inside a zip of it."""

    naming = "compact"  # a granule records the naming its band files have: compact or long
    order = 0

    def __init__(self, path: Path):
        super().__init__(path)
        self.names = self._names()

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return path.is_dir()

    def _names(self) -> list[str]:
        walk = os.walk(self.path)
        return sorted(PurePosixPath(os.path.relpath(os.path.join(root, f), self.path.parent)).as_posix() for root, _, files in walk for f in files)

    def read(self, name: str) -> bytes:
        """The bytes of the file ``name``."""
        return (self.path.parent / name).read_bytes()

    def gdal_path(self, name: str) -> str:
        """The path GDAL opens the file ``name`` by."""
        return str(self.path.parent / name)

    @property
    def claimed(self) -> str | None:
        return product_stem(self.path)

    def layout(self) -> tuple[str, str, re.Match]:
        """The ``.SAFE`` folder's name, the product metadata file's name and its name's match;
        InputError for what is not laid out as a product."""
        tops = {n.split("/", 1)[0] for n in self.names}
        safe_dirs = [t for t in tops if t.endswith(".SAFE")]
        if len(safe_dirs) != 1 or len(tops) != 1:
            raise InputError(
                f"{self.path}: not a Sentinel-2 product (expected exactly one <name>.SAFE folder inside, found {sorted(tops)[:3]}); "
                "give the product zips as downloaded from the Copernicus Data Space, or their .SAFE folders"
            )
        metadata = [(n, METADATA_FILE.match(n.split("/")[-1])) for n in self.names if n.count("/") == 1]
        found = [(n, m) for n, m in metadata if m]
        if len(found) != 1:
            raise InputError(
                f"{self.path}: no product metadata (MTD_MSIL1C.xml or S2?_OPER_MTD_SAFL1C_PDMC_*.xml) in {safe_dirs[0]}; the product is "
                "incomplete: download it again"
            )
        return safe_dirs[0], *found[0]

    def metadata(self, name: str) -> ProductMetadata:
        """The product metadata in the file ``name``."""
        where = f"{self.path}: {name}"
        try:
            xml = self.read(name)
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"{where}: unreadable metadata ({exc}); download the product again") from exc
        return product_metadata(xml, where)

    @functools.cached_property
    def _stated(self) -> tuple[str, str, re.Match, ProductMetadata]:
        """:meth:`layout` and the product metadata, read once."""
        safe, meta_name, match = self.layout()
        return safe, meta_name, match, self.metadata(meta_name)

    def identity(self) -> ProductName:
        """From the metadata: PRODUCT_URI, with the spacecraft, sensing day, relative orbit,
        baseline and datatake it also states, and the sensing time in compact band file names,
        against the folder's, zip's and inner ``.SAFE`` folder's names."""
        safe, meta_name, _, info = self._stated
        return self._identity(safe, meta_name, info)

    def _identity(self, safe: str, meta_name: str, info: ProductMetadata) -> ProductName:
        where = f"{self.path}: {meta_name.split('/')[-1]}"
        stated = (info.product_uri or "").removesuffix(".SAFE")
        content = ProductName.parse(stated) or ProductName.parse(safe.removesuffix(".SAFE"))
        if content is None:
            raise InputError(f"{where}: states no Sentinel-2 product name (PRODUCT_URI {stated!r}); the product is damaged: download it again")
        refuse_contradictions(info, content, where, "download the product again")
        for files in self.band_files().values():  # compact band files carry the sensing time: T50TMK_20160403T030602_B02.jp2
            for name in files.values():
                match = COMPACT_BAND_FILE.match(name.rsplit("/", 1)[-1])
                if match and match["sensing"] != content.sensing:
                    raise InputError(
                        f"{self.path}: band file {name} was sensed at another time than {content.name}; the product mixes two acquisitions"
                    )
        claims = {"the folder's or zip's name": product_stem(self.path), "its .SAFE folder": safe.removesuffix(".SAFE")}
        for what, claimed in claims.items():
            if ProductName.parse(claimed) and claimed != content.name:
                raise MislabelledProduct(
                    f"{self.path}: {what} says {claimed}, but its metadata ({meta_name.split('/')[-1]}) states the product {content.name}; "
                    "a product saved under another product's name is not used: give it its own name",
                    content,
                )
        return content

    def band_files(self) -> dict[str, dict[str, str]]:
        """tile -> {band: file} (see :attr:`_band_files`)."""
        return self._band_files

    @functools.cached_property
    def _band_files(self) -> dict[str, dict[str, str]]:
        """tile -> {band: file}, found once: the band files that the product metadata lists (``IMAGE_FILE``,
        or ``IMAGE_ID`` in the PDMC packaging), as GDAL's SENTINEL2 driver finds them, whatever
        their naming; listed files the product lacks are left out (reported as missing bands),
        but their tile is kept, so that a granule whose files are all gone is reported as
        incomplete, not as absent. Only for metadata without such a list: the JP2 files under
        ``GRANULE/*/IMG_DATA/`` whose names follow either form."""
        safe, _, _, info = self._stated
        present = set(self.names)
        by_tile: dict[str, dict[str, str]] = {}
        if info.image_files:
            for tile, band, file in self._listed:
                files = by_tile.setdefault(tile, {})
                if f"{safe}/{file}" in present:
                    files[band] = f"{safe}/{file}"
            return by_tile
        for name in self.names:
            parts = name.split("/")
            match = (
                (COMPACT_BAND_FILE.match(parts[-1]) or LONG_BAND_FILE.match(parts[-1]))
                if len(parts) == 5 and parts[1:4:2] == ["GRANULE", "IMG_DATA"]
                else None
            )
            if match:
                by_tile.setdefault(match["tile"], {})[match["band"]] = name
        return by_tile

    @property
    def _listed(self) -> Iterator[tuple[str, str, str]]:
        """(tile, band, file relative to the ``.SAFE`` folder) of every band file the product
        metadata lists (``IMAGE_FILE`` or ``IMAGE_ID``)."""
        for granule, files in self._stated[3].image_files.items():
            for file in files:
                band, tile = BAND_SUFFIX.search(file), GRANULE_TILE.search(file.rsplit("/", 1)[-1]) or GRANULE_TILE.search(granule)
                if band and tile:
                    yield tile["tile"], band["band"], file

    def tiles(self) -> set[str]:
        return set(self.band_files())

    def _missing(self, tile: str, missing: list[str]) -> InputError:
        """The refusal of a granule of ``tile`` that lacks the band files of ``missing``."""
        safe, meta_name, _, _ = self._stated
        listed = [f"{safe}/{file}" for each, band, file in self._listed if each == tile and band in missing]
        where = f" ({meta_name.split('/')[-1]} lists {listed[0]}{', ...' if len(listed) > 1 else ''})" if listed else " from IMG_DATA"
        return InputError(
            f"{self.path}: band files {', '.join(missing)} of tile T{tile} are missing{where}; the product is incomplete: download it again"
        )

    def granule(self, tile: str | None = None) -> Granule:
        safe, meta_name, match, info = self._stated
        if info.level != "L1C" or (match["compact"] or match["long"]) != "L1C":
            raise InputError(
                f"{self.path}: is a {info.product_type or info.level} product; crmss needs Level-1C (S2MSI1C) top-of-atmosphere "
                "products: download the L1C product of this acquisition"
            )
        name = self._identity(safe, meta_name, info)
        by_tile = self.band_files()
        tile = tile or name.tile or (next(iter(by_tile)) if len(by_tile) == 1 else None)
        if tile is None:
            several = ", ".join("T" + t for t in sorted(by_tile))
            raise InputError(f"{self.path}: holds granules of several tiles ({several}) and no tile was named; give the pair's tile")
        if tile not in by_tile:
            have = ", ".join("T" + t for t in sorted(by_tile)) or "none"
            raise InputError(f"{self.path}: holds no granule of tile T{tile} (granules: {have}); give the product of that tile")
        missing = [b for b in USED_BANDS if b not in by_tile[tile]]
        if missing:
            raise self._missing(tile, missing)
        files = by_tile[tile]
        return Granule(
            path=self.path,
            name=name.name,
            tile=tile,
            naming=band_file_naming(files[BANDS_10M[0]].rsplit("/", 1)[-1]) or "compact",
            baseline=str(info.baseline),
            quantification=int(info.quantification or QUANTIFICATION),
            offsets=info.offsets,
            band_files={b: self.gdal_path(f) for b, f in files.items()},
            saturated=info.saturated,
            granules=len(by_tile),
        )


def refuse_contradictions(info: ProductMetadata, content: ProductName, where: str, fix: str) -> None:
    """InputError naming ``where``, the first field of ``info`` that contradicts the product name ``content`` and ``fix``."""
    for field_name, value in _contradictions(info, content).items():
        raise InputError(
            f"{where}: {field_name} {value} contradicts the product name {content.name} it states; the metadata was edited or mixed: {fix}"
        )


def _contradictions(info: ProductMetadata, content: ProductName) -> dict[str, str]:
    """The fields of a product's metadata that contradict the product name it states: field -> value.

    Compared in the form genuine metadata states them: SPACECRAFT_NAME ``Sentinel-2A``, the
    sensing day, SENSING_ORBIT_NUMBER (relative, unpadded), PROCESSING_BASELINE, and the
    datatake identifier's mission, day and baseline (``GS2A_20160403T030602_004035_N02.01``;
    for a PDMC product, whose name states no baseline, the baseline PROCESSING_BASELINE states)."""
    expected = {
        "SPACECRAFT_NAME": (info.spacecraft, spacecraft_name(content.mission)),
        "sensing day": (info.sensing_day, content.sensing[:8]),
        "SENSING_ORBIT_NUMBER": (info.orbit, str(int(content.orbit))),
        "PROCESSING_BASELINE": (info.baseline, content.baseline),
    }
    found = {name: str(value) for name, (value, want) in expected.items() if value is not None and want is not None and value != want}
    if info.datatake is not None and not _same_datatake(info.datatake, content, content.baseline or info.baseline):  # a PDMC name states no baseline
        found["datatakeIdentifier"] = info.datatake
    return found


class SafeZip(SafeFolder):
    """A zip of a ``.SAFE`` folder, compact layout, read in place."""

    order = 2

    def __init__(self, path: Path):
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{path}: not a readable zip archive ({exc}); download the product again") from exc
        super().__init__(path)

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return not path.is_dir()  # a file: a zip, or refused as none when opened

    def _names(self) -> list[str]:
        names = [
            n for n in self._zip.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith("._")
        ]
        at_root = not any(n.split("/", 1)[0].endswith(".SAFE") for n in names) and any(METADATA_FILE.match(n) for n in names)
        self._root = f"{product_stem(self.path)}.SAFE/" if at_root else ""  # the .SAFE folder a root-level zip leaves out
        return [self._root + n for n in names]

    def read(self, name: str) -> bytes:
        return self._zip.read(name[len(self._root) :])

    def gdal_path(self, name: str) -> str:
        return f"/vsizip/{self.path.resolve()}/{name[len(self._root) :]}"


class PdmcFolder(SafeFolder):
    """A ``.SAFE`` folder in the pre-December-2016 (PDMC) layout: often several granules, long band file names."""

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return super().recognises(path) and _pdmc_metadata(SafeFolder(path).names)


class PdmcZip(PdmcFolder, SafeZip):
    """A zip of a PDMC ``.SAFE`` folder, read in place."""

    @classmethod
    def recognises(cls, path: Path) -> bool:
        try:
            return SafeZip.recognises(path) and _pdmc_metadata(SafeZip(path).names)
        except InputError:
            return False  # not a readable zip: SafeZip says so


def _pdmc_metadata(names: list[str]) -> bool:
    """Whether the product metadata among ``names`` is the PDMC one."""
    return any((match := METADATA_FILE.match(n.split("/")[-1])) and match["long"] for n in names if n.count("/") == 1)


class BucketTile(Product):
    """A tile folder of the public bucket: one granule of its product (see the module's docstring).

    Its files are found through :meth:`member` and read through :meth:`read_member` (a STAC item
    gives the same files elsewhere); :attr:`what` and :attr:`fix` word its errors."""

    naming = "bucket"
    order = 1
    what = "tile folder"
    fix = TILE_FOLDER_FIX
    l1c_source = "take the tile from the L1C bucket (sentinel-s2-l1c)"

    @classmethod
    def recognises(cls, path: Path) -> bool:
        """It holds ``productInfo.json`` or ``tileInfo.json``, or ``metadata.xml`` beside ``B02.jp2``."""
        if not path.is_dir() or path.suffix == ".SAFE":
            return False
        return any((path / f).is_file() for f in TILE_FOLDER_FILES) or ((path / "metadata.xml").is_file() and (path / "B02.jp2").is_file())

    def member(self, name: str) -> str | None:
        """Where the granule's file ``name`` (``B02.jp2``, ``tileInfo.json``, ``metadata.xml``,
        ``productInfo.json``) is, as GDAL opens it; None where the granule has none."""
        path = self.path / name
        return str(path) if path.is_file() else None

    def read_member(self, name: str) -> bytes | None:
        """The bytes of the granule's file ``name`` (a local path or one of GDAL's virtual file
        systems); None where it has none. OSError where it cannot be read."""
        where = self.member(name)
        return read_file(where) if where else None

    def _document(self, name: str, schema: dict) -> dict:
        """A JSON file of the granule checked against ``schema``; {} where the granule has none."""
        try:
            text = self.read_member(name)
        except OSError as exc:
            raise InputError(f"{self.member(name)}: unreadable ({exc}); {self.fix}") from exc
        return parse_json(text, schema, self.member(name) or name, self.fix) if text is not None else {}

    @functools.cached_property
    def _product(self) -> ProductMetadata | None:
        """The product's own metadata (``MTD_MSIL1C.xml``) where the granule's files include it, as
        a Copernicus Data Space item's ``product_metadata`` asset does; None for a tile folder."""
        where = self.member(PRODUCT_METADATA)
        if where is None:
            return None
        try:
            xml = self.read_member(PRODUCT_METADATA)
        except OSError as exc:
            raise InputError(f"{where}: unreadable ({exc}); {self.fix}") from exc
        return product_metadata(xml or b"", where)

    @property
    def claimed(self) -> str | None:
        for file, key in (("productInfo.json", "name"), ("tileInfo.json", "productName")):
            try:
                name = json.loads(self.read_member(file) or b"{}").get(key)
            except (OSError, UnicodeDecodeError, ValueError, AttributeError):
                continue
            if isinstance(name, str) and ProductName.parse(name):
                return name
        return None

    def identity(self) -> ProductName:
        """From ``productInfo.json``, else ``tileInfo.json``'s ``productName``, checked against
        the tile and day that ``tileInfo.json``, ``metadata.xml`` and the bucket path state."""
        return self._statement[0]

    def tiles(self) -> set[str]:
        return {self._statement[2]}

    def granule(self, tile: str | None = None) -> Granule:
        name, datatake, own_tile, metadata, tiles = self._statement
        if tile and tile != own_tile:
            raise InputError(f"{self.where}: is the {self.what} of T{own_tile}, not of T{tile}; give the {self.what} of T{tile}")
        info = self._product
        if name.level != "L1C" or metadata.level not in (None, "L1C") or (info and info.level != "L1C"):
            raise InputError(
                f"{self.where}: is a {self.what} of a Level-2A product ({name.name}); crmss needs Level-1C top-of-atmosphere data: {self.l1c_source}"
            )
        baseline = info.baseline if info else baseline_of(name.name, datatake, metadata.tile_id)
        if baseline is None:
            raise InputError(
                f"{self.where}: neither productInfo.json nor metadata.xml states the processing baseline; "
                f"the {self.what} is incomplete: {self.fix} (with metadata.xml)"
            )
        bands = {b: self.member(f"{b}.jp2") for b in USED_BANDS}
        missing = [f"{b}.jp2" for b, where in bands.items() if where is None]
        if missing:
            raise InputError(f"{self.where}: band files {', '.join(missing)} are missing from the {self.what}; {self.fix}")
        return Granule(
            path=self.where,
            name=name.name,
            tile=own_tile,
            naming=self.naming,
            baseline=baseline,
            quantification=int(info.quantification or QUANTIFICATION) if info else QUANTIFICATION,
            offsets=info.offsets if info else {b: BASELINE_04_OFFSET for b in ALL_BANDS} if float(baseline) >= 4 else {},
            band_files={b: str(where) for b, where in bands.items()},
            saturated=info.saturated if info else SATURATED,
            granules=tiles if tiles else (1 if name.tile else 0),
        )

    @functools.cached_property
    def _statement(self) -> tuple[ProductName, str | None, str, TileMetadata, int]:
        """The product (from ``productInfo.json``, else ``tileInfo.json``'s ``productName``), its
        datatake identifier (None where unstated), the MGRS tile, ``metadata.xml``'s fields and the
        product's number of tiles (0 where unstated), all checked against each other and against
        where the granule lies."""
        product_info, tile_info = self._document("productInfo.json", PRODUCT_INFO), self._document("tileInfo.json", TILE_INFO)
        metadata = tile_metadata(self.read_member("metadata.xml"), str(self.member("metadata.xml")), self.fix)
        file, name = self._stated_name(product_info, tile_info)
        id_tile = re.search(r"_T(\d{2}[A-Z]{3})_", metadata.tile_id or "")
        own_tile = _tile_of(str(self.member("tileInfo.json")), tile_info, self.fix) if tile_info else (id_tile[1] if id_tile else name.tile)
        if own_tile is None:
            raise InputError(f"{self.where}: neither tileInfo.json nor metadata.xml states the tile; {self.fix}")
        if name.tile not in (None, own_tile):
            raise InputError(
                f"{self.where}: tileInfo.json names tile T{own_tile}, but {file} the product {name.name} of tile T{name.tile}; "
                f"the {self.what} mixes two downloads: {self.fix}"
            )
        if id_tile and id_tile[1] != own_tile or metadata.tile_id and not metadata.tile_id.startswith(name.mission):
            raise InputError(f"{self.where}: metadata.xml's TILE_ID {metadata.tile_id} is not of {name.name}, tile T{own_tile}; {self.fix}")
        for what, day in (
            ("metadata.xml's SENSING_TIME", metadata.sensing_day),
            ("tileInfo.json's timestamp", sensing_day(tile_info.get("timestamp"))),
        ):
            if day and not same_datatake_day(day, name.sensing[:8]):
                raise InputError(
                    f"{self.where}: {what} ({day}) is not the sensing day of {name.name}; the {self.what} mixes two downloads: {self.fix}"
                )
        if self._product:
            refuse_contradictions(self._product, name, str(self.member(PRODUCT_METADATA)), self.fix)
        self._check_place(name, own_tile, file)
        datatake = product_info.get("datatakeIdentifier") or (self._product.datatake if self._product else None)
        return name, datatake, own_tile, metadata, len(product_info.get("tiles") or ())

    def _stated_names(self, product_info: dict, tile_info: dict) -> dict[str, str]:
        """The product names the granule's files state: file -> name."""
        uri = (self._product.product_uri or "").removesuffix(".SAFE") if self._product else ""
        stated = (("productInfo.json", product_info.get("name")), ("tileInfo.json", tile_info.get("productName")), (PRODUCT_METADATA, uri))
        return {f: n for f, n in stated if n}

    def _stated_name(self, product_info: dict, tile_info: dict) -> tuple[str, ProductName]:
        """The file that names the product and the name, every file that names one agreeing."""
        stated = self._stated_names(product_info, tile_info)
        if not stated:
            raise InputError(
                f"{self.where}: a {self.what} without productInfo.json whose tileInfo.json names no product (productName): crmss cannot tell "
                "which product it belongs to; download productInfo.json with it"
            )
        if len(set(stated.values())) > 1:
            (first, one), (second, other) = list(stated.items())[:2]
            raise InputError(f"{self.where}: {first} names the product {one}, {second} {other}; the {self.what} mixes two downloads: {self.fix}")
        file, text = next(iter(stated.items()))
        name = ProductName.parse(text)
        if name is None:
            raise InputError(f"{self.member(file) or self.where}: names {text!r}, not a Sentinel-2 product; {self.fix}")
        return file, name

    def _check_place(self, name: ProductName, own_tile: str, file: str) -> None:
        """A tile folder where the bucket puts it (``tiles/50/T/MK/2016/4/3/0``) must be of that tile and day."""
        where = BUCKET_PATH.search(self.path.as_posix())
        if not where:
            return
        folder_tile = f"{int(where['zone']):02d}{where['band']}{where['square']}"
        folder_day = f"{where['year']}{int(where['month']):02d}{int(where['day']):02d}"
        if folder_tile != own_tile or not same_datatake_day(folder_day, name.sensing[:8]):
            raise MislabelledProduct(
                f"{self.where}: the bucket path says tile T{folder_tile} sensed on {folder_day}, but {file} states the product "
                f"{name.name} (tile T{own_tile}); a tile folder moved to another's place is not used: keep the bucket's layout",
                name,
            )


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
STAC_ITEM_ID = re.compile(r"^(?P<mission>S2[ABC])_(?P<tile>\d{2}[A-Z]{3})_(?P<day>\d{8})_\d+_(?P<level>L1C|L2A)$")
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
        return [cls(name, item, f"{url}#{item.id}" if collection else url) for item in _chosen(items, item_id, url)]

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
        """:meth:`collection`, or only its item ``item_id`` where given (InputError where it holds none)."""
        stat = path.stat() if path.is_file() else None
        items = _collection_items(path.resolve(), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
        return [cls(Path(f"{path}#{item.id}"), item) for item in _chosen(items, item_id, str(path))]

    def member(self, name: str) -> str | None:
        return self.files.get(name)

    @property
    def claimed(self) -> str | None:
        uri = str(self.item.properties.get("s2:product_uri") or "").removesuffix(".SAFE")
        return uri if ProductName.parse(uri) else super().claimed

    def _stated_names(self, product_info: dict, tile_info: dict) -> dict[str, str]:
        uri = str(self.item.properties.get("s2:product_uri") or "").removesuffix(".SAFE")
        named = self.item.id.removesuffix(".SAFE") if ProductName.parse(self.item.id.removesuffix(".SAFE")) else ""  # the Data Space's ids
        stated = {"the item's s2:product_uri": uri, "the item's id": named}
        return {**{f: n for f, n in stated.items() if n}, **super()._stated_names(product_info, tile_info)}

    def _check_place(self, name: ProductName, own_tile: str, file: str) -> None:
        """The item's id (Earth Search's ``S2B_32TLT_20230629_0_L1C``) and collection must be of the product's satellite, tile, day and level."""
        collection, properties = (self.item.collection_id or "").lower(), self.item.properties
        product_type = properties.get("s2:product_type") or properties.get("product:type") or "S2MSI1C"
        if "l2a" in collection or product_type != "S2MSI1C" or str(properties.get("processing:level", "")).upper().startswith("L2"):
            stated = [f"{key} {properties[key]}" for key in ("s2:product_type", "product:type", "processing:level") if key in properties]
            raise InputError(
                f"{self.where}: an item of {self.item.collection_id or 'a collection'}{' (' + ', '.join(stated) + ')' if stated else ''}; "
                "crmss needs Level-1C top-of-atmosphere data: search the sentinel-2-l1c collection"
            )
        contradicted = _item_contradictions(properties, name, own_tile)
        if contradicted:
            field_name, value = next(iter(contradicted.items()))
            raise MislabelledProduct(
                f"{self.where}: the item's {field_name} {value} contradicts the product {name.name} (tile T{own_tile}) that {file} states; "
                f"an item edited or mixed with another is not used: {self.fix}",
                name,
            )
        match = STAC_ITEM_ID.match(self.item.id)
        said = (match["mission"], match["tile"], match["level"]) if match else None
        if match and (said != (name.mission, own_tile, name.level) or not same_datatake_day(match["day"], name.sensing[:8])):
            raise MislabelledProduct(
                f"{self.where}: the item's id {self.item.id} says {match['mission']}, tile T{match['tile']}, {match['day']}, {match['level']}, "
                f"but {file} states the product {name.name} (tile T{own_tile}); an item edited or mixed with another is not used: {self.fix}",
                name,
            )


def _item_contradictions(properties: dict, name: ProductName, tile: str) -> dict[str, str]:
    """The properties of a STAC item that contradict the product ``name`` and the tile its files
    state: property -> value, compared where the item states them, in the forms Earth Search
    and the Copernicus Data Space Ecosystem write them (``platform`` ``sentinel-2b``,
    ``sat:relative_orbit`` 122, ``mgrs:utm_zone`` 34 with ``mgrs:latitude_band`` U and
    ``mgrs:grid_square`` CF or ``grid:code`` MGRS-34UCF, ``s2:processing_baseline`` 05.09, ``s2:datatake_id``
    ``GS2B_20230823T095559_033791_N05.09``, ``datetime`` on the datatake's day)."""
    day = str(properties.get("datetime") or "")[:10].replace("-", "")
    stated = {
        "platform": (properties.get("platform"), lambda v: str(v).lower() == f"sentinel-2{name.mission[-1].lower()}"),
        "sat:relative_orbit": (properties.get("sat:relative_orbit"), lambda v: str(v).isdigit() and int(v) == int(name.orbit)),
        "mgrs tile": (_mgrs_tile(properties), lambda v: v == tile),
        "grid:code": (properties.get("grid:code"), lambda v: str(v).upper().removeprefix("MGRS-") == tile),
        "s2:processing_baseline": (properties.get("s2:processing_baseline"), lambda v: name.baseline is None or str(v) == name.baseline),
        "s2:datatake_id": (properties.get("s2:datatake_id"), lambda v: _same_datatake(str(v), name, name.baseline)),
        "datetime": (properties.get("datetime") if day.isdigit() else None, lambda v: same_datatake_day(day, name.sensing[:8])),
    }
    return {field_name: str(value) for field_name, (value, agrees) in stated.items() if value is not None and not agrees(value)}


def _mgrs_tile(properties: dict) -> str | None:
    """The MGRS tile (``34UCF``) an item's ``mgrs:*`` properties state, None where they do not."""
    zone, band, square = (properties.get(key) for key in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square"))
    if zone is None or band is None or square is None:
        return None
    return f"{int(zone):02d}{band}{square}" if str(zone).isdigit() else f"{zone}{band}{square}"


def _same_datatake(identifier: str, name: ProductName, baseline: str | None) -> bool:
    """Whether a datatake identifier is of the mission and day of the product ``name`` and of
    ``baseline`` (where known)."""
    datatake = DATATAKE_ID.match(identifier)
    return bool(
        datatake
        and datatake["mission"] == name.mission
        and datatake["baseline"] == (baseline or datatake["baseline"])
        and same_datatake_day(name.sensing[:8], datatake["sensing"][:8])
    )


def stac_type(path: Path) -> str | None:
    """The ``type`` of a STAC JSON file (Feature: an item, FeatureCollection: an ItemCollection), None for other files."""
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
    """The pystac Items of the ItemCollection file at ``path`` (as it was at ``modified``, of ``size`` bytes)."""
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
        raise InputError(f"{where}: an ItemCollection of no items (the search found nothing); widen the search or check its filters")
    by_id: dict[str, Any] = {}
    for item in items:
        seen = by_id.setdefault(item.id, item)
        if seen is not item and seen.to_dict(include_self_link=False) != item.to_dict(include_self_link=False):
            raise InputError(f"{where}: holds two different items with the id {item.id!r}; keep one of them (save the search again)")
    return list(by_id.values())


def _chosen(items: list[Any], item_id: str | None, where: str) -> list[Any]:
    """``items`` (pystac Items of ``where``), or the one of id ``item_id`` where given; InputError where there is none."""
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
    client = optional_module("pystac_client.stac_api_io", "stac", "reading STAC items by URL").StacApiIO(timeout=STAC_TIMEOUT_S)
    document = _fetch_json(client, url)
    if document.get("type") not in ("Feature", "FeatureCollection"):
        raise InputError(f"{url}: not a STAC item or ItemCollection; give the URL of an item's JSON (…/items/<id>) or of a search")
    page, seen = document, {_request_key({"href": url})}
    while document["type"] == "FeatureCollection" and (link := _next_page(page, url)) and _request_key(link) not in seen:
        seen.add(_request_key(link))
        page = _fetch_json(client, link)
        document.setdefault("features", []).extend(page.get("features") or [])
    return document


def _fetch_json(client: Any, request: str | dict) -> dict:
    """The JSON document at ``request``: a URL, or a ``next`` link (its href, method, body, headers)."""
    pystac = optional_module("pystac", "stac", "reading STAC items")
    url = request if isinstance(request, str) else request["href"]
    try:
        document = client.read_json(request if isinstance(request, str) else pystac.Link.from_dict(request))
    except Exception as exc:  # pystac-client raises APIError, and the requests library its own errors
        raise InputError(f"{url}: cannot fetch a STAC item or ItemCollection ({exc}); check the URL and the network") from exc
    return document if isinstance(document, dict) else {}


def _next_page(page: dict, url: str) -> dict | None:
    """The ``next`` link of ``page`` of the search at ``url`` (its href made absolute), None on the last."""
    for link in page.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            return {**link, "href": urllib.parse.urljoin(url, link["href"])}
    return None


def _request_key(link: dict) -> str:
    """What tells one page's request from another's: a POST search's pages share their URL and differ in their body."""
    return json.dumps([link["href"], link.get("method", "GET"), link.get("body")], sort_keys=True)


def is_url(location: str | Path) -> bool:
    """Whether ``location`` is an http(s) URL (of a STAC item or ItemCollection)."""
    return isinstance(location, str) and location.startswith(("http://", "https://"))


def product_paths(location: str | Path) -> list[str]:
    """The products a user's path or URL names, without opening them: an ItemCollection's
    items as ``<file or URL>#<item id>``, else the location itself."""
    if is_url(location):
        url, marked, _ = str(location).partition("#")
        return [str(location)] if marked else [str(item.where) for item in StacItem.at_url(url)]
    path = Path(location)
    if path.is_file() and path.suffix.lower() == ".json" and stac_type(path) == "FeatureCollection":
        return [str(item.path) for item in StacItem.collection(path)]
    return [str(location)]


def _read_item(path: Path) -> Any:
    """The pystac Item of an item JSON file; InputError where it is none."""
    pystac = optional_module("pystac", "stac", "reading STAC items")

    try:
        return pystac.Item.from_file(str(path))
    except (OSError, ValueError, KeyError, TypeError, pystac.STACError) as exc:
        raise InputError(f"{path}: not a readable STAC item ({exc}); {STAC_FIX}") from exc


def _item_files(item: Any) -> dict[str, str]:
    """The granule files (``B02.jp2``, ``tileInfo.json``, ``metadata.xml``) an item's assets hold, as GDAL paths."""
    files = {}
    for key, asset in item.assets.items():
        names = [band.get("name", "") for band in asset.extra_fields.get("eo:bands", [])]
        named = next((n for n in names if re.fullmatch(r"B\d[\dA]", n)), None)
        band = key[:3].upper() if re.fullmatch(r"[Bb]\d[\dAa](?:_\d+m)?", key) else STAC_BAND_KEYS.get(key) or named
        name = f"{band}.jp2" if band else STAC_METADATA_KEYS.get(key)
        if name and name not in files:
            files[name] = gdal_path(asset.get_absolute_href() or asset.href)
    return files


def gdal_path(href: str) -> str:
    """The path GDAL reads ``href`` by: ``/vsicurl/`` for http(s), ``/vsis3/`` for s3, the path of a ``file://`` or local href."""
    scheme, _, rest = href.partition("://")
    if not rest:
        return href
    if scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    if scheme == "s3":
        return f"/vsis3/{rest}"
    if scheme == "file":
        return urllib.parse.unquote(urllib.parse.urlparse(href).path)
    return href


def _tile_of(where: str, tile_info: dict, fix: str) -> str:
    """The MGRS tile (e.g. ``50TMK``) that ``tileInfo.json`` (at ``where``) states."""
    zone, band, square = (tile_info.get(k) for k in ("utmZone", "latitudeBand", "gridSquare"))
    tile = f"{zone:02d}{band}{square}" if isinstance(zone, int) and isinstance(band, str) and isinstance(square, str) else ""
    if not re.fullmatch(r"\d{2}[C-X][A-Z]{2}", tile):
        raise InputError(f"{where}: utmZone, latitudeBand and gridSquare do not name an MGRS tile; {fix}")
    return tile


#: every packaging, the most specific first: :func:`product_at` takes the first that recognises a path
PACKAGINGS: tuple[type[Product], ...] = (BucketTile, StacItem, PdmcFolder, SafeFolder, PdmcZip, SafeZip)


def product_path(path: str | Path) -> Path:
    """The product that a user's path names: the path itself, or the ``.SAFE`` folder of a
    metadata file (``<name>.SAFE/MTD_MSIL1C.xml``, as GDAL users pass it) or of a folder inside
    it (``.`` in a ``.SAFE``), or the tile folder of one of its files (``metadata.xml``, ...)."""
    path = Path(path)
    if path.is_file() and not StacItem.recognises(path) and (METADATA_FILE.match(path.name) or BucketTile.recognises(path.parent)):
        path = path.parent
    if path.is_dir() and path.suffix != ".SAFE":
        inside = next((p for p in (path.resolve(), *path.resolve().parents) if p.suffix == ".SAFE"), None)
        return inside or path
    return path


def products_at(path: str | Path) -> list[Product]:
    """The products a user's path or URL names: those of a STAC ItemCollection, else the one at it."""
    return [product_at(location) for location in product_paths(path)]


def product_at(path: str | Path) -> Product:
    """The product at ``path`` (see :func:`product_path`), as the type of its packaging; an item
    of an ItemCollection by ``<file or URL>#<item id>``; a STAC item by its http(s) URL."""
    if is_url(path):
        url, _, item_id = str(path).partition("#")
        found = StacItem.at_url(url, item_id)
        if len(found) != 1:
            raise InputError(f"{url}: is an ItemCollection of {len(found)} items: give one as <URL>#<item id>; {STAC_FIX}")
        return found[0]
    path = product_path(path)
    file, _, item_id = str(path).partition("#")
    if item_id and Path(file).is_file():
        return StacItem.collection_item(Path(file), item_id)[0]
    if not path.exists():
        raise InputError(f"{path}: no such product; give <name>.SAFE folders, <name>.zip files, tile folders of the public bucket or STAC items")
    if path.is_file() and path.suffix.lower() == ".json":
        _check_stac_file(path)
    kind = next(kind for kind in PACKAGINGS if kind.recognises(path))
    return kind(path)


def _check_stac_file(path: Path) -> None:
    """InputError unless the ``.json`` file at ``path`` is one STAC item (an ItemCollection is given by ``<file>#<item id>``)."""
    kind = stac_type(path)
    if kind == "FeatureCollection":
        count = len(StacItem.collection(path))
        raise InputError(f"{path}: is an ItemCollection of {count} items: give one as <file>#<item id>, or give the folder holding it")
    if kind != "Feature":
        raise InputError(
            f"{path}: not a STAC item or ItemCollection (JSON without type Feature or FeatureCollection and stac_version); "
            "give an item as pystac or pystac-client saves it"
        )


def open_product(path: str | Path | Any, tile: str | None = None) -> Granule:
    """Open the granule of ``tile`` of the L1C product at ``path`` (a ``.SAFE`` folder, a zip,
    a bucket tile folder, a STAC item's ``.json`` file or its http(s) URL, or a file of one), or
    of a ``pystac.Item`` itself: the granule of ``tile``, else the one the product names, else its only one.

    Args:
        path: the product, its item, or the item's URL.
        tile: the MGRS tile of the granule wanted (``T37UCQ`` or ``37UCQ``); None for the tile
            the product names, or its only one.

    Returns:
        The opened granule: its band files, radiometry and grid.

    Raises:
        InputError: ``path`` is no readable L1C product, ``tile`` is no MGRS tile, or the
            product holds no granule of it.
    """
    if tile is not None:
        try:
            tile = mgrs_tile(tile)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if not isinstance(path, (str, Path)) and hasattr(path, "assets"):  # a pystac.Item
        return StacItem(Path(path.get_self_href() or path.id), path).granule(tile)
    return product_at(path).granule(tile)


def identify(path: str | Path) -> ProductName:
    """The identity of the product at ``path`` as its content states it (:meth:`Product.identity`)."""
    return product_at(path).identity()
