"""Sentinel-2 product names: what a name says, read here and nowhere else.

Two generations: compact (from December 2016, and the WHUS2-CR list),
``S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T030637``; and long (pre-December-2016
packaging, PDMC),
``S2A_OPER_PRD_MSIL1C_PDMC_20150826T194826_R064_V20150826T111633_20150826T111633``, which names
neither the tile nor the processing baseline (such a product may hold several tiles). Band files,
datatakes, granules and spacecraft are named here too, in the forms genuine products state them
(``Sentinel-2A``, ``GS2A_20150826T084006_000941_N02.04``, ``T50TMK_20160403T030602_B02.jp2``,
``S2A_OPER_MSI_L1C_TL_SGS__20150826T084006_A000941_T37UCQ_B02.jp2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMPACT_NAME = re.compile(
    r"^(?P<mission>S2[ABC])_MSI(?P<level>L1C|L2A)_(?P<sensing>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R(?P<orbit>\d{3})_T(?P<tile>\d{2}[A-Z]{3})_(?P<discriminator>\d{8}T\d{6})$"
)
PDMC_NAME = re.compile(
    r"^(?P<mission>S2[ABC])_OPER_PRD_MSI(?P<level>L1C|L2A)_PDMC_(?P<processed>\d{8}T\d{6})"
    r"_R(?P<orbit>\d{3})_V(?P<sensing>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})$"
)

#: a compact band file: T50TMK_20160403T030602_B02.jp2
COMPACT_BAND_FILE = re.compile(
    r"^T(?P<tile>\d{2}[A-Z]{3})_(?P<sensing>\d{8}T\d{6})_(?P<band>B\d[\dA])\.jp2$"
)
#: a band file of the long (pre-December-2016) form:
#: S2A_OPER_MSI_L1C_TL_SGS__20150826T084006_A000941_T37UCQ_B02.jp2
LONG_BAND_FILE = re.compile(
    r"^S2[ABC]_OPER_MSI_L1C_TL_\w{4}_\d{8}T\d{6}_A\d{6}_T(?P<tile>\d{2}[A-Z]{3})_(?P<band>B\d[\dA])\.jp2$"
)
#: a datatake identifier as the metadata states it: G, mission, sensing start, absolute orbit,
#: baseline
DATATAKE_ID = re.compile(
    r"^G(?P<mission>S2[ABC])_(?P<sensing>\d{8}T\d{6})_(?P<absolute_orbit>\d{6})_N(?P<baseline>\d\d\.\d\d)$"
)
#: the band and tile of a band file whatever its form (an IMAGE_FILE entry, with or without
#: ``.jp2``)
BAND_SUFFIX = re.compile(r"_(?P<band>B\d[\dA])(?:\.jp2)?$")
GRANULE_TILE = re.compile(r"(?:^|_)T(?P<tile>\d{2}[C-X][A-Z]{2})(?:_|$)")
#: an MGRS tile as a user may name it: T37UCQ or 37UCQ
MGRS_TILE = re.compile(r"^T?(?P<tile>\d{2}[C-X][A-Z]{2})$")


def mgrs_tile(tile: str) -> str:
    """The tile ``tile`` names, as products' names hold it after their ``T`` (``37UCQ``).

    Args:
        tile: ``T37UCQ`` or ``37UCQ`` (either case).

    Returns:
        ``37UCQ``.

    Raises:
        ValueError: ``tile`` names no MGRS tile.
    """
    match = MGRS_TILE.match(str(tile).strip().upper())
    if not match:
        raise ValueError(
            f"tile={tile!r}: not an MGRS tile; give it as products name it, e.g. "
            "'T37UCQ' (or '37UCQ')"
        )
    return match["tile"]


def spacecraft_name(mission: str) -> str:
    """``Sentinel-2A`` for ``S2A``: the SPACECRAFT_NAME genuine metadata states (and STAC's
    ``platform``, lower-cased)."""
    return f"Sentinel-2{mission[2:]}"


def band_file_naming(file_name: str) -> str | None:
    """``compact`` or ``long`` for a band file named in one of the .SAFE forms, else None."""
    if COMPACT_BAND_FILE.match(file_name):
        return "compact"
    return "long" if LONG_BAND_FILE.match(file_name) else None


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
        baseline = (
            f"{found['baseline'][:2]}.{found['baseline'][2:]}" if found.get("baseline") else None
        )
        generated = found.get("discriminator") or found["processed"]
        return cls(
            name,
            match["mission"],
            match["level"],
            match["sensing"],
            match["orbit"],
            found.get("tile"),
            baseline,
            generated,
        )

    @classmethod
    def of(cls, name: str) -> ProductName:
        """What ``name`` says; ValueError where it is not a Sentinel-2 product name (for names
        already checked)."""
        parsed = cls.parse(name)
        if parsed is None:
            raise ValueError(f"{name!r} is not a Sentinel-2 product name")
        return parsed

    @property
    def pair_key(self) -> str:
        """``R<orbit>_T<tile>`` (e.g. ``R075_T50TMK``), what WHUS2-CR names a pair's folders by."""
        return f"R{self.orbit}_T{self.tile}"

    def at_baseline(self, baseline: str) -> str:
        """The compact name of the same acquisition at another processing baseline (``05.10``),
        as ESA's reprocessed archive names it."""
        if self.baseline is None:
            raise ValueError(f"{self.name}: a PDMC name states no baseline to replace")
        return self.name.replace(
            f"_N{self.baseline.replace('.', '')}_", f"_N{baseline.replace('.', '')}_", 1
        )

    def same_acquisition(self, other: ProductName) -> bool:
        """Same satellite, relative orbit and day (tile compared separately)."""
        return (self.mission, self.orbit, self.sensing[:8]) == (
            other.mission,
            other.orbit,
            other.sensing[:8],
        )


def product_stem(entry: Path) -> str:
    """The product name of a ``<name>.SAFE`` folder, a ``<name>.zip`` or a ``<name>.SAFE.zip``
    (the zip's extension in either case: some download tools write ``.ZIP``)."""
    for suffix in (".SAFE.zip", ".zip", ".SAFE"):
        if entry.name.lower().endswith(suffix.lower()):
            return entry.name[: -len(suffix)]
    return entry.name
