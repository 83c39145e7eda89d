"""Sentinel-2 product names: what a name says, read here and nowhere else.

Two generations: compact (from December 2016, and the WHUS2-CR list),
``S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T030637``; and long (pre-December-2016
packaging, PDMC), ``S2A_OPER_PRD_MSIL1C_PDMC_20150826T194826_R064_V20150826T111633_20150826T111633``,
which names neither the tile nor the processing baseline (such a product may hold several tiles).
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

    @classmethod
    def of(cls, name: str) -> ProductName:
        """What ``name`` says; ValueError where it is not a Sentinel-2 product name (for names already checked)."""
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
        return self.name.replace(f"_N{self.baseline.replace('.', '')}_", f"_N{baseline.replace('.', '')}_", 1)

    def same_acquisition(self, other: ProductName) -> bool:
        """Same satellite, relative orbit and day (tile compared separately)."""
        return (self.mission, self.orbit, self.sensing[:8]) == (other.mission, other.orbit, other.sensing[:8])


def product_stem(entry: Path) -> str:
    """The product name of a ``<name>.SAFE`` folder, a ``<name>.zip`` or a ``<name>.SAFE.zip``."""
    for suffix in (".SAFE.zip", ".zip", ".SAFE"):
        if entry.name.endswith(suffix):
            return entry.name[: -len(suffix)]
    return entry.name
