"""Sentinel-2 L1C products: find them, list their band files, read their metadata.

A product is a ``<name>.SAFE/`` folder or a ``<name>.zip`` holding one; zips are read in place
(GDAL's ``/vsizip/``), never unpacked. Two generations of layout are recognised by pattern:

* compact (from December 2016, and the WHUS2-CR list): ``MTD_MSIL1C.xml``, one granule,
  bands ``GRANULE/<granule>/IMG_DATA/T50TMK_20160403T030602_B02.jp2``;
* long (pre-December-2016 packaging): ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml``, often several
  granules, bands ``S2A_OPER_MSI_L1C_TL_SGS__20150826T111633_A000941_T37UCQ_B02.jp2``.

One granule of a product may also come as a tile folder of the public cloud bucket (AWS
``sentinel-s2-l1c``, ``tiles/50/T/MK/2016/4/3/0/``): ``B01.jp2`` ... ``B12.jp2`` at its root,
``metadata.xml`` (the granule's tile metadata), ``productInfo.json`` (the product's name and
tiles) and ``tileInfo.json`` (the tile). It has no product metadata: the baseline comes from
the product's name or datatake identifier, the quantification is L1C's 10000, and from baseline
04.00 the offset is ESA's -1000 for every band (what every such product's metadata states).

L1C values are TOA reflectance x QUANTIFICATION_VALUE as uint16 with 0 = no data and 65535 =
saturated (the metadata's ``Special_Values``); from processing baseline 04.00 each band also
carries RADIO_ADD_OFFSET (reflectance = (DN + offset) / quantification), which does not apply
to the two special values.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np

from .bands import ALL_BANDS, BANDS_10M, BANDS_20M, RESOLUTION, STACKS
from .errors import InputError
from .raster import Grid, raster_info, read_band, same_projection
from .schemas import PRODUCT_INFO, TILE_INFO, read_json

COMPACT_NAME = re.compile(
    r"^(?P<mission>S2[ABC])_MSI(?P<level>L1C|L2A)_(?P<sensing>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R(?P<orbit>\d{3})_T(?P<tile>\d{2}[A-Z]{3})_(?P<discriminator>\d{8}T\d{6})$"
)
PDMC_NAME = re.compile(
    r"^(?P<mission>S2[ABC])_OPER_PRD_MSI(?P<level>L1C|L2A)_PDMC_(?P<processed>\d{8}T\d{6})"
    r"_R(?P<orbit>\d{3})_V(?P<sensing>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})$"
)
METADATA_FILE = re.compile(r"^(?:MTD_MSI(?P<compact>L\w\w)|S2[ABC]_OPER_MTD_SAF(?P<long>L\w\w)_PDMC_\w+)\.xml$")
BAND_FILE = {
    "compact": re.compile(r"^T(?P<tile>\d{2}[A-Z]{3})_(?P<sensing>\d{8}T\d{6})_(?P<band>B\d[\dA])\.jp2$"),
    "long": re.compile(r"^S2[ABC]_OPER_MSI_L1C_TL_\w{4}_\d{8}T\d{6}_A\d{6}_T(?P<tile>\d{2}[A-Z]{3})_(?P<band>B\d[\dA])\.jp2$"),
}
USED_BANDS = BANDS_10M + BANDS_20M
QUANTIFICATION = 10000
#: RADIO_ADD_OFFSET of every band from processing baseline 04.00 (ESA, stated in each product's metadata)
BASELINE_04_OFFSET = -1000
#: what marks a tile folder of the public bucket (besides its bands and ``metadata.xml``)
TILE_FOLDER_FILES = ("productInfo.json", "tileInfo.json")
#: the L1C marker of saturated pixels (``Special_Values`` SATURATED in the metadata), kept as such in crmss's outputs
SATURATED = 65535


@dataclass(frozen=True)
class ProductName:
    """What a product's name says: mission, level, sensing time, orbit, and in compact names
    the tile and the processing baseline. Product names are read here and nowhere else."""

    name: str
    mission: str  # S2A, S2B, S2C
    level: str  # L1C or L2A
    sensing: str  # yyyymmddThhmmss
    orbit: str  # relative orbit, 3 digits
    tile: str | None  # e.g. 50TMK; None in long (PDMC) names, which may hold several tiles
    baseline: str | None  # e.g. 02.01; None in long (PDMC) names
    generated: str  # yyyymmddThhmmss: the compact name's discriminator, the PDMC processing time

    @classmethod
    def parse(cls, name: str) -> ProductName | None:
        match = COMPACT_NAME.match(name) or PDMC_NAME.match(name)
        if not match:
            return None
        found = match.groupdict()
        baseline = f"{found['baseline'][:2]}.{found['baseline'][2:]}" if found.get("baseline") else None
        generated = found.get("discriminator") or found["processed"]
        return cls(name, match["mission"], match["level"], match["sensing"], match["orbit"], found.get("tile"), baseline, generated)

    @property
    def pair_key(self) -> str:
        """``R<orbit>_T<tile>`` (e.g. ``R075_T50TMK``), what WHUS2-CR names a pair's folders by."""
        return f"R{self.orbit}_T{self.tile}"

    def at_baseline(self, baseline: str) -> str:
        """The compact name of the same acquisition at another processing baseline (``05.10``),
        as ESA's reprocessed archive names it."""
        return self.name.replace(f"_N{self.baseline.replace('.', '')}_", f"_N{baseline.replace('.', '')}_", 1)

    def same_acquisition(self, other: ProductName) -> bool:
        """Same satellite, relative orbit and day (tile compared separately)."""
        return (self.mission, self.orbit, self.sensing[:8]) == (other.mission, other.orbit, other.sensing[:8])


class _Container:
    """The files of a product, a ``.SAFE`` folder or a zip, by path relative to its parent
    (``<name>.SAFE/...``).

    Zips as people re-pack them are accepted: ``__MACOSX/`` entries and ``._*`` files (added
    by macOS) are ignored, and a zip holding the ``.SAFE`` content at its root (no
    ``<name>.SAFE/`` folder) is read as the product named by the zip."""

    def __init__(self, path: Path):
        self.path = path
        self._root = ""  # the .SAFE folder's path that a root-level zip leaves out
        if path.is_dir():
            self._zip = None
            self.names = sorted(
                PurePosixPath(os.path.relpath(os.path.join(root, f), path.parent)).as_posix() for root, _, files in os.walk(path) for f in files
            )
            return
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{path}: not a readable zip archive ({exc}); download the product again") from exc
        names = [
            n for n in self._zip.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith("._")
        ]
        if not any(n.split("/", 1)[0].endswith(".SAFE") for n in names) and any(METADATA_FILE.match(n) for n in names):
            self._root = f"{product_stem(path)}.SAFE/"
        self.names = [self._root + n for n in names]

    def _member(self, name: str) -> str:
        return name[len(self._root) :]

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self._member(name))
        return (self.path.parent / name).read_bytes()

    def gdal_path(self, name: str) -> str:
        if self._zip is not None:
            return f"/vsizip/{self.path.resolve()}/{self._member(name)}"
        return str(self.path.parent / name)


@dataclass
class Product:
    """An opened L1C product: its metadata and the band files of one granule (tile)."""

    path: Path  # the .SAFE folder or the zip
    name: str  # the .SAFE folder's name without the suffix
    tile: str  # MGRS tile of the granule used, e.g. 50TMK
    naming: str  # "compact", "long" (see above) or "bucket" (a tile folder)
    baseline: str  # processing baseline, e.g. "02.01"
    quantification: int
    offsets: dict[str, int]  # RADIO_ADD_OFFSET per band (0 before baseline 04.00)
    band_files: dict[str, str] = field(repr=False)  # ESA band name -> GDAL path
    saturated: int = SATURATED  # the metadata's SATURATED special value
    granules: int = 1  # granules (tiles) of the whole product, 0 where unknown; outputs of all but a one-granule product name the tile

    def to_reflectance_x10000(self, band: str, dn: np.ndarray) -> np.ndarray:
        """Turn decoded DNs (uint16, any shape, strided views too) into reflectance x 10000 in
        place; return ``dn``.

        Applies the band's offset and the quantification value; 0 (no data) stays 0, saturated
        pixels (the metadata's SATURATED value) become 65535 whatever the baseline, and other
        valid pixels stay at least 1. For baseline 02/03 bands (offset 0, quantification 10000,
        saturation 65535) the DNs are already that, and are left untouched.
        """
        offset = self.offsets.get(band, 0)
        if self.quantification == QUANTIFICATION and offset == 0 and self.saturated == SATURATED:
            return dn
        nodata, saturated = dn == 0, dn == self.saturated
        if self.quantification == QUANTIFICATION and offset < 0:
            # integer path without a wider temporary: max(DN, 1 - offset) + offset
            np.maximum(dn, 1 - offset, out=dn)
            dn -= np.uint16(-offset)
        else:
            scaled = np.rint((dn.astype(np.float32) + offset) * (QUANTIFICATION / self.quantification))
            dn[...] = np.clip(scaled, 1, 65535, out=scaled)
        dn[nodata] = 0
        dn[saturated] = SATURATED
        return dn

    def read(self, bands: tuple[str, ...] | list[str], window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``bands`` of one resolution (e.g. ``BANDS_10M``) as float32 TOA reflectance, (rows,
        cols, len(bands)): offsets applied, 0 where no data, saturated pixels 6.5535 (65535 /
        10000). ``window``: (x, y, width, height) in 10 m px of the product's grid (even values
        for 20 m bands), None for the whole granule. Raises InputError for bands of several
        resolutions, bands the product lacks, a window off the grid, or a corrupt file."""
        resolutions = {RESOLUTION.get(b) for b in bands}
        missing = [b for b in bands if b not in self.band_files]
        if missing or len(resolutions) != 1:
            raise InputError(
                f"{self.path}: cannot read bands {list(bands)} together: give bands of one resolution that the product "
                f"holds ({', '.join(sorted(self.band_files))})"
            )
        scale = resolutions.pop() // 10
        header = raster_info(self.band_files[bands[0]])  # one header, not the grid check of all ten bands
        grid_width, grid_height = header.width * scale, header.height * scale
        x, y, width, height = window or (0, 0, grid_width, grid_height)
        if (
            min(x, y) < 0
            or width <= 0
            or height <= 0
            or x + width > grid_width
            or y + height > grid_height
            or any(v % scale for v in (x, y, width, height))
        ):
            raise InputError(
                f"window {window} is not inside the product's {grid_width} x {grid_height} px grid at 10 m "
                f"(with values divisible by {scale} for these bands)"
            )
        own = tuple(v // scale for v in (x, y, width, height))
        dn = np.empty((own[3], own[2], len(bands)), np.uint16)
        for i, band in enumerate(bands):
            read_band(self.band_files[band], out=dn[..., i], window=own)
            self.to_reflectance_x10000(band, dn[..., i])
        return dn.astype(np.float32) / 10000

    def grid(self) -> Grid:
        """Read the headers of the ten CR-MSS bands and check they form one 10 m / 20 m grid."""
        infos = {band: raster_info(self.band_files[band]) for band in USED_BANDS}
        ref = infos[BANDS_10M[0]]
        grid = Grid(ref.projection, ref.geotransform, ref.width, ref.height)
        for res, scale in (("10m", 1), ("20m", 2)):
            for band in STACKS[res]:
                info = infos[band]
                expected = (grid.width / scale, grid.height / scale, grid.geotransform_at(scale))
                if (
                    (info.width, info.height) != expected[:2]
                    or not np.allclose(info.geotransform, expected[2], rtol=0, atol=1e-3)
                    or not same_projection(info.projection, grid.projection)
                ):
                    raise InputError(
                        f"{info.path}: {band} is {info.width} x {info.height} px with geotransform {info.geotransform}, "
                        f"but must lie on the product's {res} grid ({grid.describe()}, coarsened {scale}x); the product is damaged: download it again"
                    )
                if info.dtype != "UInt16":
                    raise InputError(f"{info.path}: {band} is {info.dtype}, but L1C bands are UInt16; this is not an L1C band file")
        return grid


class Found(NamedTuple):
    """A product found in a folder: its path, its name as its content states it (as its file
    name says where the content could not be read), and why it cannot be used, if so."""

    path: Path
    name: ProductName | None
    problem: InputError | None = None
    claimed: str | None = None  # the product name its file or folder name gives, if any


def find_products(folder: str | Path) -> list[Found]:
    """Products in ``folder``: ``<name>.SAFE/``, ``<name>.zip`` or ``<name>.SAFE.zip`` with a
    Sentinel-2 name, and tile folders of the public bucket at any depth below it (as
    ``aws s3 sync`` leaves them, ``tiles/50/T/MK/2016/4/3/0/``), each known by the identity its
    metadata states (:func:`identify`).

    Other entries are ignored. A product whose content contradicts its name, or whose identity
    cannot be read, is listed with its ``problem``. Sorted by product name, then ``.SAFE``
    folders, tile folders, zips.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"{folder}: no such folder; --products must be the folder holding the <name>.SAFE folders, <name>.zip files or bucket tile folders"
        )
    candidates = [
        entry
        for entry in folder.iterdir()
        if ((entry.suffix == ".SAFE" and entry.is_dir()) or (entry.suffix == ".zip" and entry.is_file())) and ProductName.parse(product_stem(entry))
    ]
    for root, dirs, _ in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.endswith(".SAFE") and not d.startswith("."))
        if is_tile_folder(Path(root)):
            dirs.clear()  # its qi/ and auxiliary/ folders hold no products
            candidates.append(Path(root))
    found = []
    for path in candidates:
        claimed = _tile_folder_claim(path) if is_tile_folder(path) else product_stem(path)
        try:
            found.append(Found(path, identify(path), None, claimed))
        except MislabelledProduct as exc:
            found.append(Found(path, exc.content, exc, claimed))
        except InputError as exc:
            found.append(Found(path, ProductName.parse(claimed) if claimed else None, exc, claimed))
    kind = {".SAFE": 0, ".zip": 2}
    return sorted(found, key=lambda item: (item.name.name if item.name else "", kind.get(item.path.suffix, 1), str(item.path)))


def _tile_folder_claim(path: Path) -> str | None:
    """The product name a tile folder's JSON files give, read leniently (for relating a damaged
    folder to its pair); None where neither gives one."""
    for file, key in (("productInfo.json", "name"), ("tileInfo.json", "productName")):
        try:
            name = json.loads((path / file).read_text(encoding="utf-8")).get(key)
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            continue
        if isinstance(name, str) and ProductName.parse(name):
            return name
    return None


def is_tile_folder(path: Path) -> bool:
    """Whether ``path`` is a tile folder of the public bucket: it holds ``productInfo.json`` or
    ``tileInfo.json``, or ``metadata.xml`` beside ``B02.jp2``."""
    if not path.is_dir() or path.suffix == ".SAFE":
        return False
    return any((path / f).is_file() for f in TILE_FOLDER_FILES) or ((path / "metadata.xml").is_file() and (path / "B02.jp2").is_file())


def product_stem(entry: Path) -> str:
    """The product name of a ``<name>.SAFE`` folder, a ``<name>.zip`` or a ``<name>.SAFE.zip``."""
    for suffix in (".SAFE.zip", ".zip", ".SAFE"):
        if entry.name.endswith(suffix):
            return entry.name[: -len(suffix)]
    return entry.name


def product_path(path: str | Path) -> Path:
    """The product that a user's path names: the path itself, or the ``.SAFE`` folder of a
    metadata file (``<name>.SAFE/MTD_MSIL1C.xml``, as GDAL users pass it) or of a folder inside
    it (``.`` in a ``.SAFE``), or the tile folder of one of its files (``metadata.xml``, ...)."""
    path = Path(path)
    if path.is_file() and (METADATA_FILE.match(path.name) or is_tile_folder(path.parent)):
        path = path.parent
    if path.is_dir() and path.suffix != ".SAFE":
        inside = next((p for p in (path.resolve(), *path.resolve().parents) if p.suffix == ".SAFE"), None)
        return inside or path
    return path


def granule_tiles(path: Path) -> set[str]:
    """The MGRS tiles of the granules a product (or a tile folder) holds, from its file list."""
    if is_tile_folder(path):
        return {_tile_folder_identity(path)[2]}
    return set(_band_files(_Container(path)))


def locate(wanted: str, found: list[Found]) -> Path | None:
    """Find the product ``wanted`` (a compact L1C name) among ``found``.

    An exact name wins. Otherwise any L1C product of the same satellite, relative orbit, day
    and tile is accepted: a re-download of the same acquisition from ESA's reprocessed
    archive has another baseline and discriminator in its name, and pre-December-2016
    products use the long PDMC name with several tiles inside. Two such candidates are
    ambiguous and raise InputError, unless they are one product in several forms (unpacked,
    zipped, a tile folder): then the first as ``find_products`` sorts them is used. A product
    that is ``wanted`` by its file name or by its content but whose content contradicts its
    name raises its problem: it is used by no pair.
    """
    target = ProductName.parse(wanted)

    def same(name: ProductName | None) -> bool:
        return bool(name) and (name.name == wanted or (name.same_acquisition(target) and name.tile in (target.tile, None)))

    broken = [f for f in found if f.problem and (f.claimed == wanted or same(f.name) or same(ProductName.parse(f.claimed or "")))]
    if broken:
        raise broken[0].problem
    found = [f for f in found if not f.problem]
    for item in found:
        if item.name.name == wanted:
            return item.path
    candidates = [f for f in found if same(f.name) and (f.name.tile or target.tile in granule_tiles(f.path))]
    l1c = [f.path for f in candidates if f.name.level == "L1C"]
    if len({f.name.name for f in candidates if f.name.level == "L1C"}) > 1:  # one product in several forms is one product
        raise InputError(f"{', '.join(map(str, l1c))}: several products of the acquisition {wanted}; keep one of them in the products folder")
    if l1c:
        return l1c[0]
    return candidates[0].path if candidates else None  # an L2A stand-in is refused when opened


class MislabelledProduct(InputError):
    """A product whose content states another identity than its name (``content``, a ProductName)."""

    def __init__(self, message: str, content: ProductName):
        super().__init__(message)
        self.content = content


def identify(path: str | Path) -> ProductName:
    """The identity of the product at ``path`` as its content states it, checked against its
    name: a ``.SAFE`` folder's or zip's metadata (PRODUCT_URI, with the spacecraft, sensing
    day, relative orbit and baseline it also states, and the sensing time in compact band file
    names) against the folder's, zip's and inner ``.SAFE`` folder's names; a bucket tile
    folder's ``productInfo.json``, ``tileInfo.json`` and ``metadata.xml`` against each other and
    against the bucket path's tile and date. InputError (:class:`MislabelledProduct` where the
    content names another product) naming the file and both names."""
    path = product_path(path)
    if is_tile_folder(path):
        return _tile_folder_identity(path)[0]
    container, safe, meta_name, _ = _safe_layout(path)
    return _safe_identity(path, container, safe, meta_name, _read_metadata(container, meta_name))


def open_product(path: str | Path, tile: str | None = None) -> Product:
    """Open the L1C product at ``path`` (``.SAFE`` folder or zip) for the granule of ``tile``.

    ``tile`` (e.g. ``50TMK``) defaults to the tile in the product name, or the only granule.
    A tile folder of the public bucket is one granule of its product.
    Raises InputError for anything that is not a complete L1C product.
    """
    path = product_path(path)
    if is_tile_folder(path):
        return _open_tile_folder(path, tile)
    container, safe, meta_name, match = _safe_layout(path)
    info = _read_metadata(container, meta_name)
    level = info["level"]
    if level != "L1C" or (match["compact"] or match["long"]) != "L1C":
        raise InputError(
            f"{path}: is a {info['product_type'] or level} product; crmss needs Level-1C (S2MSI1C) top-of-atmosphere "
            "products: download the L1C product of this acquisition"
        )
    name = _safe_identity(path, container, safe, meta_name, info)
    by_tile = _band_files(container)
    tile = tile or name.tile or (next(iter(by_tile)) if len(by_tile) == 1 else None)
    if tile is None:
        raise InputError(
            f"{path}: holds granules of several tiles ({', '.join('T' + t for t in sorted(by_tile))}) and no tile was named; give the pair's tile"
        )
    if tile not in by_tile:
        have = ", ".join("T" + t for t in sorted(by_tile)) or "none"
        raise InputError(f"{path}: holds no granule of tile T{tile} (granules: {have}); give the product of that tile")
    files, naming = by_tile[tile]
    missing = [b for b in USED_BANDS if b not in files]
    if missing:
        raise InputError(
            f"{path}: band files {', '.join(missing)} of tile T{tile} are missing from IMG_DATA; the product is incomplete: download it again"
        )
    return Product(
        path=path,
        name=name.name,
        tile=tile,
        naming=naming,
        baseline=info["baseline"],
        quantification=info["quantification"],
        offsets=info["offsets"],
        band_files={b: container.gdal_path(f) for b, f in files.items()},
        saturated=info["saturated"],
        granules=len(by_tile),
    )


def _safe_layout(path: Path) -> tuple[_Container, str, str, re.Match]:
    """The container of a ``.SAFE`` folder or zip, its ``.SAFE`` folder's name, and its product
    metadata file's name and name match; InputError for what is not laid out as a product."""
    container = _Container(path)
    tops = {n.split("/", 1)[0] for n in container.names}
    safe_dirs = [t for t in tops if t.endswith(".SAFE")]
    if len(safe_dirs) != 1 or len(tops) != 1:
        raise InputError(
            f"{path}: not a Sentinel-2 product (expected exactly one <name>.SAFE folder inside, found {sorted(tops)[:3]}); "
            "give the product zips as downloaded from the Copernicus Data Space, or their .SAFE folders"
        )
    metadata = [(n, METADATA_FILE.match(n.split("/")[-1])) for n in container.names if n.count("/") == 1]
    metadata = [(n, m) for n, m in metadata if m]
    if len(metadata) != 1:
        raise InputError(
            f"{path}: no product metadata (MTD_MSIL1C.xml or S2?_OPER_MTD_SAFL1C_PDMC_*.xml) in {safe_dirs[0]}; the product is "
            "incomplete: download it again"
        )
    return container, safe_dirs[0], *metadata[0]


def _safe_identity(path: Path, container: _Container, safe: str, meta_name: str, info: dict) -> ProductName:
    """The product a ``.SAFE`` folder or zip holds, from its metadata (see :func:`identify`)."""
    where = f"{path}: {meta_name.split('/')[-1]}"
    stated = (info["product_uri"] or "").removesuffix(".SAFE")
    content = ProductName.parse(stated) or ProductName.parse(safe.removesuffix(".SAFE"))
    if content is None:
        raise InputError(f"{where}: states no Sentinel-2 product name (PRODUCT_URI {stated!r}); the product is damaged: download it again")
    stated_fields = {
        "SPACECRAFT_NAME": (info["spacecraft"], f"Sentinel-{content.mission[2:]}"),
        "sensing day": (info["sensing_day"], content.sensing[:8]),
        "SENSING_ORBIT_NUMBER": (info["orbit"], str(int(content.orbit))),
        "PROCESSING_BASELINE": (info["baseline"], content.baseline),
    }
    for field_name, (value, expected) in stated_fields.items():
        if value is not None and expected is not None and value != expected:
            raise InputError(
                f"{where}: {field_name} {value} contradicts the product name {content.name} it states; "
                "the metadata was edited or mixed: download the product again"
            )
    for name in container.names:  # compact band files carry the sensing time: T50TMK_20160403T030602_B02.jp2
        match = BAND_FILE["compact"].match(name.rsplit("/", 1)[-1])
        if match and match["sensing"] != content.sensing:
            raise InputError(f"{path}: band file {name} was sensed at another time than {content.name}; the product mixes two acquisitions")
    claims = {"the folder's or zip's name": product_stem(path), "its .SAFE folder": safe.removesuffix(".SAFE")}
    for what, claimed in claims.items():
        if ProductName.parse(claimed) and claimed != content.name:
            raise MislabelledProduct(
                f"{path}: {what} says {claimed}, but its metadata ({meta_name.split('/')[-1]}) states the product {content.name}; "
                "a product saved under another product's name is not used: give it its own name",
                content,
            )
    return content


def _open_tile_folder(path: Path, tile: str | None) -> Product:
    """Open a tile folder of the public bucket (see the module's docstring) as a Product."""
    name, product_info, own_tile, metadata = _tile_folder_identity(path)
    if tile and tile != own_tile:
        raise InputError(f"{path}: is the tile folder of T{own_tile}, not of T{tile}; give the tile folder of T{tile}")
    if name.level != "L1C" or metadata["level"] not in (None, "L1C"):
        raise InputError(
            f"{path}: is a tile folder of a Level-2A product ({name.name}); crmss needs Level-1C top-of-atmosphere data: "
            "take the tile from the L1C bucket (sentinel-s2-l1c)"
        )
    baseline = _baseline_of(name.name, product_info.get("datatakeIdentifier"), metadata["tile_id"])
    if baseline is None:
        raise InputError(
            f"{path}: neither productInfo.json nor metadata.xml states the processing baseline; "
            "the tile folder is incomplete: download it again (with metadata.xml)"
        )
    missing = [f"{b}.jp2" for b in USED_BANDS if not (path / f"{b}.jp2").is_file()]
    if missing:
        raise InputError(f"{path}: band files {', '.join(missing)} are missing from the tile folder; download them again")
    tiles = product_info.get("tiles")
    return Product(
        path=path,
        name=name.name,
        tile=own_tile,
        naming="bucket",
        baseline=baseline,
        quantification=QUANTIFICATION,
        offsets={b: BASELINE_04_OFFSET for b in ALL_BANDS} if float(baseline) >= 4 else {},
        band_files={b: str(path / f"{b}.jp2") for b in USED_BANDS},
        granules=len(tiles) if tiles else (1 if name.tile else 0),
    )


#: where ``aws s3 sync`` puts a tile folder of the bucket: tiles/<zone>/<band>/<square>/<year>/<month>/<day>/<n>
BUCKET_PATH = re.compile(r"tiles/(?P<zone>\d{1,2})/(?P<band>[C-X])/(?P<square>[A-Z]{2})/(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/\d+$")
TILE_FOLDER_FIX = "download the tile folder again"


def _tile_folder_identity(path: Path) -> tuple[ProductName, dict, str, dict]:
    """A tile folder's product (from ``productInfo.json``, else ``tileInfo.json``'s
    ``productName``), its ``productInfo.json`` ({} without one), its MGRS tile and its
    ``metadata.xml`` fields, all checked against each other and against the bucket path."""
    product_info = read_json(path / "productInfo.json", PRODUCT_INFO, TILE_FOLDER_FIX) if (path / "productInfo.json").is_file() else {}
    tile_info = read_json(path / "tileInfo.json", TILE_INFO, TILE_FOLDER_FIX) if (path / "tileInfo.json").is_file() else {}
    metadata = _tile_metadata(path)
    stated = {file: name for file, name in (("productInfo.json", product_info.get("name")), ("tileInfo.json", tile_info.get("productName"))) if name}
    if not stated:
        raise InputError(
            f"{path}: a tile folder without productInfo.json whose tileInfo.json names no product (productName): crmss cannot tell "
            "which product it belongs to; download productInfo.json with it"
        )
    if len(set(stated.values())) > 1:
        raise InputError(
            f"{path}: productInfo.json names the product {stated['productInfo.json']}, tileInfo.json {stated['tileInfo.json']}; "
            f"the folder mixes two downloads: {TILE_FOLDER_FIX}"
        )
    file, text = next(iter(stated.items()))
    name = ProductName.parse(text)
    if name is None:
        raise InputError(f"{path / file}: names {text!r}, not a Sentinel-2 product; {TILE_FOLDER_FIX}")
    id_tile = re.search(r"_T(\d{2}[A-Z]{3})_", metadata["tile_id"] or "")
    own_tile = _tile_of(path, tile_info) if tile_info else (id_tile[1] if id_tile else name.tile)
    if own_tile is None:
        raise InputError(f"{path}: neither tileInfo.json nor metadata.xml states the tile; {TILE_FOLDER_FIX}")
    if name.tile not in (None, own_tile):
        raise InputError(
            f"{path}: tileInfo.json names tile T{own_tile}, but {file} the product {name.name} of tile T{name.tile}; "
            f"the folder mixes two downloads: {TILE_FOLDER_FIX}"
        )
    if id_tile and id_tile[1] != own_tile or metadata["tile_id"] and not metadata["tile_id"].startswith(name.mission):
        raise InputError(f"{path}: metadata.xml's TILE_ID {metadata['tile_id']} is not of {name.name}, tile T{own_tile}; {TILE_FOLDER_FIX}")
    for what, day in (("metadata.xml's SENSING_TIME", metadata["sensing_day"]), ("tileInfo.json's timestamp", _day(tile_info.get("timestamp")))):
        if day and not _same_datatake_day(day, name.sensing[:8]):
            raise InputError(f"{path}: {what} ({day}) is not the sensing day of {name.name}; the folder mixes two downloads: {TILE_FOLDER_FIX}")
    where = BUCKET_PATH.search(path.as_posix())
    if where:
        folder_tile = f"{int(where['zone']):02d}{where['band']}{where['square']}"
        folder_day = f"{where['year']}{int(where['month']):02d}{int(where['day']):02d}"
        if folder_tile != own_tile or not _same_datatake_day(folder_day, name.sensing[:8]):
            raise MislabelledProduct(
                f"{path}: the bucket path says tile T{folder_tile} sensed on {folder_day}, but {file} states the product "
                f"{name.name} (tile T{own_tile}); a tile folder moved to another's place is not used: keep the bucket's layout",
                name,
            )
    return name, product_info, own_tile, metadata


def _day(text: str | None) -> str | None:
    """``20160403`` from a timestamp (``2016-04-03T03:06:02.456Z`` or ``20160403T030602``); None without one."""
    match = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", text or "")
    return "".join(match.groups()) if match else None


def _same_datatake_day(day: str, sensing_day: str) -> bool:
    """Whether a tile sensed on ``day`` belongs to a datatake that began on ``sensing_day``
    (the same day, or the next where the datatake crossed midnight)."""
    begun = datetime.date(int(sensing_day[:4]), int(sensing_day[4:6]), int(sensing_day[6:]))
    return day in (sensing_day, (begun + datetime.timedelta(days=1)).strftime("%Y%m%d"))


def _tile_of(path: Path, tile_info: dict) -> str:
    """The MGRS tile (e.g. ``50TMK``) that ``tileInfo.json`` states."""
    zone, band, square = (tile_info.get(k) for k in ("utmZone", "latitudeBand", "gridSquare"))
    tile = f"{zone:02d}{band}{square}" if isinstance(zone, int) and isinstance(band, str) and isinstance(square, str) else ""
    if not re.fullmatch(r"\d{2}[C-X][A-Z]{2}", tile):
        raise InputError(f"{path / 'tileInfo.json'}: utmZone, latitudeBand and gridSquare do not name an MGRS tile; download the tile folder again")
    return tile


def _tile_metadata(path: Path) -> dict:
    """``tile_id``, ``level`` (``L1C``, ``L2A``) and ``sensing_day`` from a tile folder's ``metadata.xml`` (None without one)."""
    file = path / "metadata.xml"
    if not file.is_file():
        return {"tile_id": None, "level": None, "sensing_day": None}
    try:
        root = ET.fromstring(file.read_bytes())
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{file}: unreadable tile metadata ({exc}); download the tile folder again") from exc
    level = re.search(r"Level-(\w\w\w)_Tile_ID$", root.tag)
    return {
        "tile_id": root.findtext(".//{*}TILE_ID") or root.findtext(".//TILE_ID"),
        "level": level[1] if level else None,
        "sensing_day": _day(root.findtext(".//{*}SENSING_TIME") or root.findtext(".//SENSING_TIME")),
    }


def _baseline_of(name: str, datatake: str | None, tile_id: str | None) -> str | None:
    """The processing baseline (``02.04``) from a compact product name, else a datatake
    identifier (``GS2A_20170105T013442_008021_N02.04``) or a TILE_ID (``..._T53NMJ_N02.04``)."""
    parsed = ProductName.parse(name)
    if parsed and parsed.baseline:
        return parsed.baseline
    for text in (datatake, tile_id):
        match = re.search(r"_N(\d\d\.\d\d)$", text.strip()) if isinstance(text, str) else None
        if match:
            return match[1]
    return None


def _band_files(container: _Container) -> dict[str, tuple[dict[str, str], str]]:
    """tile -> ({band: file}, naming form) for the JP2 bands under GRANULE/*/IMG_DATA/."""
    by_tile: dict[str, tuple[dict[str, str], str]] = {}
    for name in container.names:
        parts = name.split("/")
        if len(parts) != 5 or parts[1] != "GRANULE" or parts[3] != "IMG_DATA":
            continue
        for naming, pattern in BAND_FILE.items():
            match = pattern.match(parts[4])
            if match:
                files, _ = by_tile.setdefault(match["tile"], ({}, naming))
                files[match["band"]] = name
    return by_tile


def _read_metadata(container: _Container, name: str) -> dict:
    """Level, baseline, quantification and offsets from the product metadata XML."""
    where = f"{container.path}: {name}"
    try:
        root = ET.fromstring(container.read(name))
    except (ET.ParseError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{where}: unreadable metadata ({exc}); download the product again") from exc

    def text(tag: str) -> str | None:
        element = root.find(f".//{{*}}{tag}")
        return element.text.strip() if element is not None and element.text else None

    product_type = text("PRODUCT_TYPE")
    processing_level = text("PROCESSING_LEVEL") or ""
    level = {"S2MSI1C": "L1C", "S2MSI2A": "L2A"}.get(product_type or "", processing_level.replace("Level-", "L"))
    baseline = text("PROCESSING_BASELINE")
    quantification = text("QUANTIFICATION_VALUE")
    if level == "L1C" and (not baseline or not quantification):
        raise InputError(f"{where}: PROCESSING_BASELINE or QUANTIFICATION_VALUE is missing; the metadata is incomplete: download the product again")
    offsets = {}
    for element in root.iterfind(".//{*}RADIO_ADD_OFFSET"):
        offsets[ALL_BANDS[int(element.get("band_id"))]] = int(float(element.text))
    if level == "L1C" and float(baseline) >= 4 and not all(b in offsets for b in USED_BANDS):
        raise InputError(
            f"{where}: baseline {baseline} products state RADIO_ADD_OFFSET for every band, this one does not; download the product again"
        )
    saturated = SATURATED
    for special in root.iterfind(".//{*}Special_Values"):
        what, index = (special.findtext(f"{{*}}{tag}", "").strip() for tag in ("SPECIAL_VALUE_TEXT", "SPECIAL_VALUE_INDEX"))
        if what.upper() == "SATURATED" and index.isdigit():
            saturated = int(index)
    sensing = text("DATATAKE_SENSING_START") or text("PRODUCT_START_TIME")
    spacecraft = text("SPACECRAFT_NAME")
    return {
        "product_uri": text("PRODUCT_URI"),
        "spacecraft": spacecraft,
        "sensing_day": sensing[:10].replace("-", "") if sensing else None,
        "orbit": str(int(text("SENSING_ORBIT_NUMBER"))) if (text("SENSING_ORBIT_NUMBER") or "").isdigit() else None,
        "saturated": saturated,
        "level": level,
        "product_type": product_type,
        "baseline": baseline,
        "quantification": int(float(quantification)) if quantification else None,
        "offsets": offsets,
    }
