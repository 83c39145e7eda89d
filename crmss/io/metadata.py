"""Sentinel-2 L1C metadata: the product's metadata XML, a bucket tile folder's ``metadata.xml``,
processing baselines and sensing days, each read from the text given (files are the product
types' business: crmss/io/products.py).

L1C values are TOA reflectance x QUANTIFICATION_VALUE as uint16 with 0 = no data and 65535 =
saturated (the metadata's ``Special_Values``); from processing baseline 04.00 each band also
carries RADIO_ADD_OFFSET (reflectance = (DN + offset) / quantification), which does not apply
to the two special values.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..core.bands import ALL_BANDS, BANDS_10M, BANDS_20M
from ..core.errors import InputError
from .names import ProductName

USED_BANDS = BANDS_10M + BANDS_20M
QUANTIFICATION = 10000
#: RADIO_ADD_OFFSET of every band from processing baseline 04.00 (ESA, stated in each product's
#: metadata)
BASELINE_04_OFFSET = -1000
#: the L1C marker of saturated pixels (``Special_Values`` SATURATED in the metadata), kept as such
#: in crmss's outputs
SATURATED = 65535


@dataclass(frozen=True)
class ProductMetadata:
    """What a product's metadata XML (``MTD_MSIL1C.xml`` or ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml``)
    states."""

    product_uri: str | None
    spacecraft: str | None  # SPACECRAFT_NAME: Sentinel-2A, Sentinel-2B, Sentinel-2C
    datatake: str | None  # the datatakeIdentifier: GS2A_20160403T030602_004035_N02.01
    sensing_day: str | None  # yyyymmdd of the datatake's start
    orbit: str | None  # relative orbit, without leading zeros
    level: str  # L1C, L2A
    product_type: str | None  # S2MSI1C, ...
    baseline: str | None  # 02.01
    quantification: int | None
    # RADIO_ADD_OFFSET per band (none before 04.00)
    offsets: dict[str, int] = field(default_factory=dict)
    saturated: int = SATURATED
    #: granuleIdentifier -> its band files as the metadata lists them (``IMAGE_FILE``, or the
    #: PDMC packaging's ``IMAGE_ID``), paths relative to the ``.SAFE`` folder with ``.jp2``
    image_files: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class TileMetadata:
    """What a bucket tile folder's ``metadata.xml`` states (None for all without one)."""

    tile_id: str | None = None
    level: str | None = None  # L1C, L2A
    sensing_day: str | None = None


def product_metadata(xml: bytes, where: str) -> ProductMetadata:
    """Parse a product's metadata XML; ``where`` names it in errors. InputError for unreadable
    XML, or an L1C product without its baseline, quantification or (from 04.00) offsets."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InputError(
            f"{where}: unreadable metadata ({exc}); download the product again"
        ) from exc

    def text(tag: str) -> str | None:
        element = root.find(f".//{{*}}{tag}")
        return element.text.strip() if element is not None and element.text else None

    product_type = text("PRODUCT_TYPE")
    level = {"S2MSI1C": "L1C", "S2MSI2A": "L2A"}.get(
        product_type or "", (text("PROCESSING_LEVEL") or "").replace("Level-", "L")
    )
    baseline, quantification = text("PROCESSING_BASELINE"), text("QUANTIFICATION_VALUE")
    if level == "L1C" and (not baseline or not quantification):
        raise InputError(
            f"{where}: PROCESSING_BASELINE or QUANTIFICATION_VALUE is missing; the "
            "metadata is incomplete: download the product again"
        )
    offsets = _offsets(root, where)
    if level == "L1C" and float(baseline or 0) >= 4 and not all(b in offsets for b in USED_BANDS):
        raise InputError(
            f"{where}: baseline {baseline} products state RADIO_ADD_OFFSET for every band, this "
            "one does not; download the product again"
        )
    sensing = text("DATATAKE_SENSING_START") or text("PRODUCT_START_TIME")
    orbit = text("SENSING_ORBIT_NUMBER") or ""
    datatake = root.find(".//{*}Datatake")
    return ProductMetadata(
        product_uri=text("PRODUCT_URI"),
        spacecraft=text("SPACECRAFT_NAME"),
        datatake=(datatake.get("datatakeIdentifier") or "").strip() or None
        if datatake is not None
        else None,
        sensing_day=sensing[:10].replace("-", "") if sensing else None,
        orbit=str(int(orbit)) if orbit.isdigit() else None,
        level=level,
        product_type=product_type,
        baseline=baseline,
        quantification=int(float(quantification)) if quantification else None,
        offsets=offsets,
        saturated=_saturated_marker(root),
        image_files=_image_files(root),
    )


def _image_files(root: ET.Element) -> dict[str, tuple[str, ...]]:
    """granuleIdentifier -> band files of each granule in ``Product_Organisation``, as GDAL's
    SENTINEL2 driver finds them: ``IMAGE_FILE`` (compact, a path from the ``.SAFE`` folder) or
    ``IMAGE_ID`` (PDMC: ``GRANULE/<granuleIdentifier>/IMG_DATA/<IMAGE_ID>``), each with ``.jp2``."""
    files: dict[str, tuple[str, ...]] = {}
    for granule in root.iterfind(".//{*}Granule_List/*"):
        identifier = (granule.get("granuleIdentifier") or "").strip()
        listed = [
            f"{(e.text or '').strip()}.jp2"
            for e in granule.iterfind("{*}IMAGE_FILE")
            if (e.text or "").strip()
        ]
        listed += [
            f"GRANULE/{identifier}/IMG_DATA/{(e.text or '').strip()}.jp2"
            for e in granule.iterfind("{*}IMAGE_ID")
            if (e.text or "").strip()
        ]
        if identifier and listed:
            files[identifier] = files.get(identifier, ()) + tuple(listed)
    return files


def _offsets(root: ET.Element, where: str) -> dict[str, int]:
    """RADIO_ADD_OFFSET per band (ESA name) as the metadata states them."""
    offsets = {}
    for element in root.iterfind(".//{*}RADIO_ADD_OFFSET"):
        band_id, value = element.get("band_id", ""), (element.text or "").strip()
        if (
            not band_id.isdigit()
            or int(band_id) >= len(ALL_BANDS)
            or not re.fullmatch(r"-?\d+(\.0*)?", value)
        ):
            raise InputError(
                f"{where}: RADIO_ADD_OFFSET {value!r} of band_id {band_id!r} is not "
                "a band's offset; download the product again"
            )
        offsets[ALL_BANDS[int(band_id)]] = int(float(value))
    return offsets


def _saturated_marker(root: ET.Element) -> int:
    """The metadata's SATURATED special value (L1C's 65535 where it states none)."""
    for special in root.iterfind(".//{*}Special_Values"):
        what, index = (
            special.findtext(f"{{*}}{tag}", "").strip()
            for tag in ("SPECIAL_VALUE_TEXT", "SPECIAL_VALUE_INDEX")
        )
        if what.upper() == "SATURATED" and index.isdigit():
            return int(index)
    return SATURATED


def tile_metadata(xml: bytes | None, where: str, fix: str) -> TileMetadata:
    """The TILE_ID, level and sensing day of a granule's tile metadata (a bucket tile folder's
    ``metadata.xml``; None: there is none); ``where`` names it and ``fix`` says what to do in
    errors."""
    if xml is None:
        return TileMetadata()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InputError(f"{where}: unreadable tile metadata ({exc}); {fix}") from exc
    level = re.search(r"Level-(\w\w\w)_Tile_ID$", root.tag)
    return TileMetadata(
        tile_id=root.findtext(".//{*}TILE_ID") or root.findtext(".//TILE_ID"),
        level=level[1] if level else None,
        sensing_day=sensing_day(
            root.findtext(".//{*}SENSING_TIME") or root.findtext(".//SENSING_TIME")
        ),
    )


def baseline_of(name: str, datatake: str | None, tile_id: str | None) -> str | None:
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


def sensing_day(text: str | None) -> str | None:
    """``20160403`` from a timestamp (``2016-04-03T03:06:02.456Z`` or ``20160403T030602``); None
    without one."""
    match = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", text or "")
    return "".join(match.groups()) if match else None


def same_datatake_day(day: str, sensing_day: str) -> bool:
    """Whether a tile sensed on ``day`` belongs to a datatake that began on ``sensing_day``
    (the same day, or the next where the datatake crossed midnight)."""
    begun = datetime.date(int(sensing_day[:4]), int(sensing_day[4:6]), int(sensing_day[6:]))
    return day in (sensing_day, (begun + datetime.timedelta(days=1)).strftime("%Y%m%d"))
