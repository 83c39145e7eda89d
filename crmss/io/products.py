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
* ``StacItem`` (crmss/io/stac.py): the same granule as a STAC Item (a ``.json`` file, alone or in
  an ItemCollection as pystac-client saves a search): the tile folder's files are the item's
  assets, read in place (``/vsicurl/``, ``/vsis3/``, local and ``file://`` hrefs).

Each knows the identity its content states (:meth:`Product.identity`, checked against its
name), the tiles of its granules, and opens a granule (crmss/io/granule.py). ``product_at``
(crmss/io/open.py) tells the packaging of a path; adding a packaging means adding a class to
its ``PACKAGINGS``. This module imports names, metadata, granule and raster of crmss/io;
crmss/io/stac.py and crmss/io/open.py import it, never the other way round.
"""

from __future__ import annotations

import functools
import json
import os
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar

from ..core.bands import ALL_BANDS, BANDS_10M
from ..core.errors import InputError
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
    product_stem,
    spacecraft_name,
)
from .raster import read_file

METADATA_FILE = re.compile(
    r"^(?:MTD_MSI(?P<compact>L\w\w)|S2[ABC]_OPER_MTD_SAF(?P<long>L\w\w)_PDMC_\w+)\.xml$"
)
#: what marks a tile folder of the public bucket (besides its bands and ``metadata.xml``)
TILE_FOLDER_FILES = ("productInfo.json", "tileInfo.json")
#: where ``aws s3 sync`` puts a tile folder of the bucket:
#: tiles/<zone>/<band>/<square>/<year>/<month>/<day>/<n>
BUCKET_PATH = re.compile(
    r"tiles/(?P<zone>\d{1,2})/(?P<band>[C-X])/(?P<square>[A-Z]{2})/(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/\d+$"
)
TILE_FOLDER_FIX = "download the tile folder again"
#: the product metadata among a granule's files (a STAC item's ``product_metadata`` asset), by its
#: name in a .SAFE
PRODUCT_METADATA = "MTD_MSIL1C.xml"


class MislabelledProduct(InputError):
    """A product whose content states another identity than its name (``content``, a
    ProductName)."""

    def __init__(self, message: str, content: ProductName):
        super().__init__(message)
        self.content = content

    def __reduce__(self) -> tuple:
        # pickled whole, as a cluster worker returns it
        return type(self), (str(self), self.content)


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
        """The product as a user names it: its path, or a STAC item's URL (``#<item id>`` for an
        item of a collection)."""
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
        return sorted(
            PurePosixPath(os.path.relpath(os.path.join(root, f), self.path.parent)).as_posix()
            for root, _, files in walk
            for f in files
        )

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
                f"{self.path}: not a Sentinel-2 product (expected exactly one <name>.SAFE folder "
                f"inside, found {sorted(tops)[:3]}); "
                "give the product zips as downloaded from the Copernicus Data Space, or their "
                ".SAFE folders"
            )
        metadata = [
            (n, METADATA_FILE.match(n.split("/")[-1])) for n in self.names if n.count("/") == 1
        ]
        found = [(n, m) for n, m in metadata if m]
        if len(found) != 1:
            raise InputError(
                f"{self.path}: no product metadata (MTD_MSIL1C.xml or "
                f"S2?_OPER_MTD_SAFL1C_PDMC_*.xml) in {safe_dirs[0]}; the product is "
                "incomplete: download it again"
            )
        return safe_dirs[0], *found[0]

    def metadata(self, name: str) -> ProductMetadata:
        """The product metadata in the file ``name``."""
        where = f"{self.path}: {name}"
        try:
            xml = self.read(name)
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(
                f"{where}: unreadable metadata ({exc}); download the product again"
            ) from exc
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
            raise InputError(
                f"{where}: states no Sentinel-2 product name (PRODUCT_URI "
                f"{stated!r}); the product is damaged: download it again"
            )
        refuse_contradictions(info, content, where, "download the product again")
        # compact band files carry the sensing time: T50TMK_20160403T030602_B02.jp2
        for files in self.band_files().values():
            for name in files.values():
                match = COMPACT_BAND_FILE.match(name.rsplit("/", 1)[-1])
                if match and match["sensing"] != content.sensing:
                    raise InputError(
                        f"{self.path}: band file {name} was sensed at another time than "
                        f"{content.name}; the product mixes two acquisitions"
                    )
        claims = {
            "the folder's or zip's name": product_stem(self.path),
            "its .SAFE folder": safe.removesuffix(".SAFE"),
        }
        for what, claimed in claims.items():
            if ProductName.parse(claimed) and claimed != content.name:
                raise MislabelledProduct(
                    f"{self.path}: {what} says {claimed}, but its metadata "
                    f"({meta_name.split('/')[-1]}) states the product {content.name}; "
                    "a product saved under another product's name is not used: give it its own "
                    "name",
                    content,
                )
        return content

    def band_files(self) -> dict[str, dict[str, str]]:
        """tile -> {band: file} (see :attr:`_band_files`)."""
        return self._band_files

    @functools.cached_property
    def _band_files(self) -> dict[str, dict[str, str]]:
        """tile -> {band: file}, found once: the band files that the product metadata lists
        (``IMAGE_FILE``, or ``IMAGE_ID`` in the PDMC packaging), as GDAL's SENTINEL2 driver finds
        them, whatever their naming; listed files the product lacks are left out (reported as
        missing bands), but their tile is kept, so that a granule whose files are all gone is
        reported as incomplete, not as absent. Only for metadata without such a list: the JP2 files
        under ``GRANULE/*/IMG_DATA/`` whose names follow either form."""
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
                band, tile = (
                    BAND_SUFFIX.search(file),
                    GRANULE_TILE.search(file.rsplit("/", 1)[-1]) or GRANULE_TILE.search(granule),
                )
                if band and tile:
                    yield tile["tile"], band["band"], file

    def tiles(self) -> set[str]:
        return set(self.band_files())

    def _missing(self, tile: str, missing: list[str]) -> InputError:
        """The refusal of a granule of ``tile`` that lacks the band files of ``missing``."""
        safe, meta_name, _, _ = self._stated
        listed = [
            f"{safe}/{file}"
            for each, band, file in self._listed
            if each == tile and band in missing
        ]
        where = (
            f" ({meta_name.split('/')[-1]} lists {listed[0]}{', ...' if len(listed) > 1 else ''})"
            if listed
            else " from IMG_DATA"
        )
        return InputError(
            f"{self.path}: band files {', '.join(missing)} of tile T{tile} are missing{where}; "
            "the product is incomplete: download it again"
        )

    def granule(self, tile: str | None = None) -> Granule:
        safe, meta_name, match, info = self._stated
        if info.level != "L1C" or (match["compact"] or match["long"]) != "L1C":
            raise InputError(
                f"{self.path}: is a {info.product_type or info.level} product; crmss needs "
                "Level-1C (S2MSI1C) top-of-atmosphere "
                "products: download the L1C product of this acquisition"
            )
        name = self._identity(safe, meta_name, info)
        by_tile = self.band_files()
        tile = tile or name.tile or (next(iter(by_tile)) if len(by_tile) == 1 else None)
        if tile is None:
            several = ", ".join("T" + t for t in sorted(by_tile))
            raise InputError(
                f"{self.path}: holds granules of several tiles ({several}) and no "
                "tile was named; give the pair's tile"
            )
        if tile not in by_tile:
            have = ", ".join("T" + t for t in sorted(by_tile)) or "none"
            raise InputError(
                f"{self.path}: holds no granule of tile T{tile} (granules: {have}); "
                "give the product of that tile"
            )
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


def refuse_contradictions(
    info: ProductMetadata, content: ProductName, where: str, fix: str
) -> None:
    """InputError naming ``where``, the first field of ``info`` that contradicts the product name
    ``content`` and ``fix``."""
    for field_name, value in _contradictions(info, content).items():
        raise InputError(
            f"{where}: {field_name} {value} contradicts the product name {content.name} it "
            f"states; the metadata was edited or mixed: {fix}"
        )


def _contradictions(info: ProductMetadata, content: ProductName) -> dict[str, str]:
    """The fields of a product's metadata that contradict the product name it states: field ->
    value.

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
    found = {
        name: str(value)
        for name, (value, want) in expected.items()
        if value is not None and want is not None and value != want
    }
    # a PDMC name states no baseline
    if info.datatake is not None and not same_datatake(
        info.datatake, content, content.baseline or info.baseline
    ):
        found["datatakeIdentifier"] = info.datatake
    return found


def same_datatake(identifier: str, name: ProductName, baseline: str | None) -> bool:
    """Whether a datatake identifier is of the mission and day of the product ``name`` and of
    ``baseline`` (where known)."""
    datatake = DATATAKE_ID.match(identifier)
    return bool(
        datatake
        and datatake["mission"] == name.mission
        and datatake["baseline"] == (baseline or datatake["baseline"])
        and same_datatake_day(name.sensing[:8], datatake["sensing"][:8])
    )


class SafeZip(SafeFolder):
    """A zip of a ``.SAFE`` folder, compact layout, read in place."""

    order = 2

    def __init__(self, path: Path):
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(
                f"{path}: not a readable zip archive ({exc}); download the product again"
            ) from exc
        super().__init__(path)

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return not path.is_dir()  # a file: a zip, or refused as none when opened

    def _names(self) -> list[str]:
        names = [
            n
            for n in self._zip.namelist()
            if not n.endswith("/")
            and not n.startswith("__MACOSX/")
            and not n.rsplit("/", 1)[-1].startswith("._")
        ]
        at_root = not any(n.split("/", 1)[0].endswith(".SAFE") for n in names) and any(
            METADATA_FILE.match(n) for n in names
        )
        # the .SAFE folder a root-level zip leaves out
        self._root = f"{product_stem(self.path)}.SAFE/" if at_root else ""
        return [self._root + n for n in names]

    def read(self, name: str) -> bytes:
        return self._zip.read(name[len(self._root) :])

    def gdal_path(self, name: str) -> str:
        return f"/vsizip/{self.path.resolve()}/{name[len(self._root) :]}"


class PdmcFolder(SafeFolder):
    """A ``.SAFE`` folder in the pre-December-2016 (PDMC) layout: often several granules, long
    band file names."""

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
    return any(
        (match := METADATA_FILE.match(n.split("/")[-1])) and match["long"]
        for n in names
        if n.count("/") == 1
    )


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
        """It holds ``productInfo.json`` or ``tileInfo.json``, or ``metadata.xml`` beside
        ``B02.jp2``."""
        if not path.is_dir() or path.suffix == ".SAFE":
            return False
        return any((path / f).is_file() for f in TILE_FOLDER_FILES) or (
            (path / "metadata.xml").is_file() and (path / "B02.jp2").is_file()
        )

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
        return (
            parse_json(text, schema, self.member(name) or name, self.fix)
            if text is not None
            else {}
        )

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
            raise InputError(
                f"{self.where}: is the {self.what} of T{own_tile}, not of T{tile}; "
                f"give the {self.what} of T{tile}"
            )
        info = self._product
        if (
            name.level != "L1C"
            or metadata.level not in (None, "L1C")
            or (info and info.level != "L1C")
        ):
            raise InputError(
                f"{self.where}: is a {self.what} of a Level-2A product ({name.name}); crmss needs "
                f"Level-1C top-of-atmosphere data: {self.l1c_source}"
            )
        baseline = info.baseline if info else baseline_of(name.name, datatake, metadata.tile_id)
        if baseline is None:
            raise InputError(
                f"{self.where}: neither productInfo.json nor metadata.xml states the processing "
                "baseline; "
                f"the {self.what} is incomplete: {self.fix} (with metadata.xml)"
            )
        # every band the granule has (the 60 m ones for --mask s2cloudless), CR-MSS's ten required
        bands = {b: self.member(f"{b}.jp2") for b in ALL_BANDS}
        missing = [f"{b}.jp2" for b in USED_BANDS if bands[b] is None]
        if missing:
            raise InputError(
                f"{self.where}: band files {', '.join(missing)} are missing from the "
                f"{self.what}; {self.fix}"
            )
        return Granule(
            path=self.where,
            name=name.name,
            tile=own_tile,
            naming=self.naming,
            baseline=baseline,
            quantification=int(info.quantification or QUANTIFICATION) if info else QUANTIFICATION,
            offsets=info.offsets
            if info
            else {b: BASELINE_04_OFFSET for b in ALL_BANDS}
            if float(baseline) >= 4
            else {},
            band_files={b: str(where) for b, where in bands.items() if where is not None},
            saturated=info.saturated if info else SATURATED,
            granules=tiles if tiles else (1 if name.tile else 0),
        )

    @functools.cached_property
    def _statement(self) -> tuple[ProductName, str | None, str, TileMetadata, int]:
        """The product (from ``productInfo.json``, else ``tileInfo.json``'s ``productName``), its
        datatake identifier (None where unstated), the MGRS tile, ``metadata.xml``'s fields and the
        product's number of tiles (0 where unstated), all checked against each other and against
        where the granule lies."""
        product_info, tile_info = (
            self._document("productInfo.json", PRODUCT_INFO),
            self._document("tileInfo.json", TILE_INFO),
        )
        metadata = tile_metadata(
            self.read_member("metadata.xml"), str(self.member("metadata.xml")), self.fix
        )
        file, name = self._stated_name(product_info, tile_info)
        id_tile = re.search(r"_T(\d{2}[A-Z]{3})_", metadata.tile_id or "")
        own_tile = (
            _tile_of(str(self.member("tileInfo.json")), tile_info, self.fix)
            if tile_info
            else (id_tile[1] if id_tile else name.tile)
        )
        if own_tile is None:
            raise InputError(
                f"{self.where}: neither tileInfo.json nor metadata.xml states the tile; {self.fix}"
            )
        if name.tile not in (None, own_tile):
            raise InputError(
                f"{self.where}: tileInfo.json names tile T{own_tile}, but {file} the product "
                f"{name.name} of tile T{name.tile}; "
                f"the {self.what} mixes two downloads: {self.fix}"
            )
        if (
            id_tile
            and id_tile[1] != own_tile
            or metadata.tile_id
            and not metadata.tile_id.startswith(name.mission)
        ):
            raise InputError(
                f"{self.where}: metadata.xml's TILE_ID {metadata.tile_id} is not of "
                f"{name.name}, tile T{own_tile}; {self.fix}"
            )
        for what, day in (
            ("metadata.xml's SENSING_TIME", metadata.sensing_day),
            ("tileInfo.json's timestamp", sensing_day(tile_info.get("timestamp"))),
        ):
            if day and not same_datatake_day(day, name.sensing[:8]):
                raise InputError(
                    f"{self.where}: {what} ({day}) is not the sensing day of {name.name}; the "
                    f"{self.what} mixes two downloads: {self.fix}"
                )
        if self._product:
            refuse_contradictions(self._product, name, str(self.member(PRODUCT_METADATA)), self.fix)
        self._check_place(name, own_tile, file)
        datatake = product_info.get("datatakeIdentifier") or (
            self._product.datatake if self._product else None
        )
        return name, datatake, own_tile, metadata, len(product_info.get("tiles") or ())

    def _stated_names(self, product_info: dict, tile_info: dict) -> dict[str, str]:
        """The product names the granule's files state: file -> name."""
        uri = (self._product.product_uri or "").removesuffix(".SAFE") if self._product else ""
        stated = (
            ("productInfo.json", product_info.get("name")),
            ("tileInfo.json", tile_info.get("productName")),
            (PRODUCT_METADATA, uri),
        )
        return {f: n for f, n in stated if n}

    def _stated_name(self, product_info: dict, tile_info: dict) -> tuple[str, ProductName]:
        """The file that names the product and the name, every file that names one agreeing."""
        stated = self._stated_names(product_info, tile_info)
        if not stated:
            raise InputError(
                f"{self.where}: a {self.what} without productInfo.json whose tileInfo.json names "
                "no product (productName): crmss cannot tell "
                "which product it belongs to; download productInfo.json with it"
            )
        if len(set(stated.values())) > 1:
            (first, one), (second, other) = list(stated.items())[:2]
            raise InputError(
                f"{self.where}: {first} names the product {one}, {second} {other}; "
                f"the {self.what} mixes two downloads: {self.fix}"
            )
        file, text = next(iter(stated.items()))
        name = ProductName.parse(text)
        if name is None:
            raise InputError(
                f"{self.member(file) or self.where}: names {text!r}, not a "
                f"Sentinel-2 product; {self.fix}"
            )
        return file, name

    def _check_place(self, name: ProductName, own_tile: str, file: str) -> None:
        """A tile folder where the bucket puts it (``tiles/50/T/MK/2016/4/3/0``) must be of that
        tile and day."""
        where = BUCKET_PATH.search(self.path.as_posix())
        if not where:
            return
        folder_tile = f"{int(where['zone']):02d}{where['band']}{where['square']}"
        folder_day = f"{where['year']}{int(where['month']):02d}{int(where['day']):02d}"
        if folder_tile != own_tile or not same_datatake_day(folder_day, name.sensing[:8]):
            raise MislabelledProduct(
                f"{self.where}: the bucket path says tile T{folder_tile} sensed on {folder_day}, "
                f"but {file} states the product "
                f"{name.name} (tile T{own_tile}); a tile folder moved to another's place is not "
                "used: keep the bucket's layout",
                name,
            )


def _tile_of(where: str, tile_info: dict, fix: str) -> str:
    """The MGRS tile (e.g. ``50TMK``) that ``tileInfo.json`` (at ``where``) states."""
    zone, band, square = (tile_info.get(k) for k in ("utmZone", "latitudeBand", "gridSquare"))
    tile = (
        f"{zone:02d}{band}{square}"
        if isinstance(zone, int) and isinstance(band, str) and isinstance(square, str)
        else ""
    )
    if not re.fullmatch(r"\d{2}[C-X][A-Z]{2}", tile):
        raise InputError(
            f"{where}: utmZone, latitudeBand and gridSquare do not name an MGRS tile; {fix}"
        )
    return tile
