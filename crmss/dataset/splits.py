"""The WHUS2-CR split list: which cloudy/clear product pairs are for training and testing.

The authors publish it as a CSV in an odd layout, parsed here as published (UTF-8 BOM, CRLF)::

    Training set,,
    1,Cloud-free,S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T031209
    ,Cloudy,S2A_MSIL1C_20160413T031632_N0201_R075_T50TMK_20160413T031626
    ...
    Testing set,,

A section row opens each subset; the pair number stands only on the first row of a pair. The
pair key is ``R<orbit>_T<tile>`` (characters 33 to 44 of the name, which the authors'
``cutimg.py`` slices out).
"""

from __future__ import annotations

import csv
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..io.names import ProductName

SECTIONS = {"training set": "train", "testing set": "test"}
ROLES = {"cloud-free": "clear", "cloudy": "cloudy"}
FORMAT_HINT = (
    "expected the published WHUS2-CR layout: a 'Training set,,' or 'Testing set,,' row, then per "
    "pair 'N,Cloud-free,<product name>' and ',Cloudy,<product name>' (compact L1C names of one "
    "orbit and tile)"
)


@dataclass(frozen=True)
class Pair:
    """One cloudy/clear product pair of a split list."""

    subset: str  # "train" or "test"
    number: int  # the pair number within its subset, as listed
    clear: str  # product name of the cloud-free acquisition
    cloudy: str  # product name of the cloudy acquisition

    @property
    def key(self) -> str:
        """``R<orbit>_T<tile>``, e.g. ``R075_T50TMK``: names the pair's folders."""
        return ProductName.of(self.clear).pair_key

    @property
    def tile(self) -> str:
        """MGRS tile without the ``T``, e.g. ``50TMK``."""
        return self.key[6:]


def default_split_path() -> Path:
    """The published WHUS2-CR split list shipped inside the package."""
    return Path(str(importlib.resources.files("crmss.dataset") / "whus2cr_split.csv"))


def read_split(path: str | Path | None = None) -> list[Pair]:
    """Parse a split list in the published format (the packaged WHUS2-CR list by default).

    Raises InputError naming the file and line when the layout is not the published one.
    """
    path = Path(path) if path is not None else default_split_path()
    text = _read_text(path)

    def bad(line: int, what: str) -> InputError:
        return InputError(f"{path}, line {line}: {what}; {FORMAT_HINT}")

    pairs: list[Pair] = []
    subset = None
    first = None  # (line, number, role, name) of a pair's numbered row, waiting for its partner
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row] + ["", "", ""]
        if not any(cells):
            continue
        head, role, name = cells[0], cells[1].lower(), cells[2]
        if head.lower() in SECTIONS and not role and not name:
            if first:
                raise bad(first[0], "pair without its second product")
            subset = SECTIONS[head.lower()]
            continue
        if subset is None:
            raise bad(line, "product row before any 'Training set' or 'Testing set' row")
        if role not in ROLES:
            raise bad(line, f"second column is {cells[1]!r}, not 'Cloud-free' or 'Cloudy'")
        role = ROLES[role]
        parsed = ProductName.parse(name)
        if not parsed or not parsed.tile or parsed.level != "L1C":
            raise bad(line, f"{name!r} is not a Sentinel-2 L1C product name")
        if first is None:
            if not head.isdigit():
                raise bad(line, "the first row of a pair must start with its number")
            first = (line, int(head), role, name)
            continue
        if head:
            raise bad(line, "the second row of a pair must leave the number empty")
        if role == first[2]:
            raise bad(line, "a pair needs one 'Cloud-free' and one 'Cloudy' product")
        names = {first[2]: first[3], role: name}
        pair = Pair(subset, first[1], clear=names["clear"], cloudy=names["cloudy"])
        if ProductName.of(names["cloudy"]).pair_key != pair.key:
            raise bad(line, f"the two products of pair {pair.number} are not of one orbit and tile")
        pairs.append(pair)
        first = None
    if first:
        raise bad(first[0], "pair without its second product")
    if not pairs:
        raise InputError(f"{path}: no pairs found; {FORMAT_HINT}")
    keys = [p.key for p in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InputError(
            f"{path}: pair keys {', '.join(duplicates)} occur more than once; every "
            "pair needs its own orbit and tile"
        )
    return pairs


def _read_text(path: Path) -> str:
    """A split list's text (UTF-8, with or without a byte-order mark)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the split list ({exc.strerror}); give an existing CSV file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text CSV file (UTF-8); {FORMAT_HINT}") from exc


def write_split(path: str | Path, pairs: list[Pair]) -> None:
    """Write ``pairs`` as a split list in the published layout (BOM, CRLF, renumbered)."""
    lines = []
    for subset, title in (("train", "Training set"), ("test", "Testing set")):
        lines.append(f"{title},,")
        for number, pair in enumerate((p for p in pairs if p.subset == subset), start=1):
            lines += [f"{number},Cloud-free,{pair.clear}", f",Cloudy,{pair.cloudy}"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes("\r\n".join(lines).encode("utf-8-sig"))
