"""Finding products in a folder and the product a split list names among them.

A folder of products holds ``<name>.SAFE/`` folders, ``<name>.zip`` or ``<name>.SAFE.zip`` files,
and at any depth tile folders of the public bucket (as ``aws s3 sync`` leaves them) and STAC
items and ItemCollections (``.json``, as pystac and pystac-client save them). Each is
known by the identity its content states (crmss/io/products.py), not by its file name; a product
named after another is found, and refused with its problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.validation import argument
from .names import ProductName, product_stem
from .open import product_at
from .products import BucketTile, MislabelledProduct, Product
from .stac import StacItem, stac_type


@dataclass(frozen=True)
class Found:
    """A product found in a folder: its path, its packaging (None where it cannot be read), its
    name as its content states it (as its file name says where the content could not be read),
    why it cannot be used, if so, and the product name its file or folder name gives."""

    path: Path
    product: Product | None
    name: ProductName | None
    problem: InputError | None = None
    claimed: str | None = None


def find_products(folder: str | Path) -> list[Found]:
    """Products in ``folder``: ``<name>.SAFE/``, ``<name>.zip`` or ``<name>.SAFE.zip`` with a
    Sentinel-2 name, and tile folders of the public bucket at any depth below it (as
    ``aws s3 sync`` leaves them, ``tiles/50/T/MK/2016/4/3/0/``), each known by the identity its
    metadata states.

    Other entries are ignored. A product whose content contradicts its name, or whose identity
    cannot be read, is listed with its ``problem``. Sorted by product name, then ``.SAFE``
    folders, tile folders, zips.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"{folder}: no such folder; {argument('products')} must be the folder holding the "
            "<name>.SAFE folders, <name>.zip files "
            "or bucket tile folders"
        )
    candidates = [
        entry
        for entry in folder.iterdir()
        if (
            (entry.suffix == ".SAFE" and entry.is_dir())
            or (entry.suffix.lower() == ".zip" and entry.is_file())
        )
        and ProductName.parse(product_stem(entry))
    ]
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.endswith(".SAFE") and not d.startswith("."))
        if BucketTile.recognises(Path(root)):
            dirs.clear()  # its qi/ and auxiliary/ folders hold no products
            candidates.append(Path(root))
            continue
        # STAC items and ItemCollections
        for name in sorted(f for f in files if f.lower().endswith(".json")):
            path = Path(root) / name
            kind = stac_type(path)
            if kind == "Feature":
                candidates.append(path)
            elif kind == "FeatureCollection":
                try:
                    found += [_identified(item) for item in StacItem.collection(path)]
                except InputError as exc:
                    found.append(Found(path, None, None, exc, None))
    found += map(_found, candidates)
    return sorted(
        found, key=lambda item: (item.name.name if item.name else "", _order(item), str(item.path))
    )


def _found(path: Path) -> Found:
    """What discovery knows of the candidate at ``path``."""
    try:
        product = product_at(path)
    except InputError as exc:  # an unreadable zip or item
        claimed = product_stem(path)
        return Found(path, None, ProductName.parse(claimed), exc, claimed)
    return _identified(product)


def _identified(product: Product) -> Found:
    """What discovery knows of a product: its identity, or why it cannot be used."""
    path = product.path
    try:
        return Found(path, product, product.identity(), None, product.claimed)
    except MislabelledProduct as exc:
        return Found(path, product, exc.content, exc, product.claimed)
    except InputError as exc:
        return Found(
            path,
            product,
            ProductName.parse(product.claimed) if product.claimed else None,
            exc,
            product.claimed,
        )


def _order(item: Found) -> int:
    return item.product.order if item.product else 2


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
    if target is None:
        raise InputError(f"{wanted}: not a Sentinel-2 product name")

    def same(name: ProductName | None) -> bool:
        return name is not None and (
            name.name == wanted
            or (name.same_acquisition(target) and name.tile in (target.tile, None))
        )

    broken = [
        f
        for f in found
        if f.problem
        and (f.claimed == wanted or same(f.name) or same(ProductName.parse(f.claimed or "")))
    ]
    if broken and broken[0].problem:
        raise broken[0].problem
    usable = [(f, f.product, f.name) for f in found if not f.problem and f.product and f.name]
    for item, _, name in usable:
        if name.name == wanted:
            return item.path
    candidates = [
        (item, name)
        for item, product, name in usable
        if same(name) and (name.tile or target.tile in product.tiles())
    ]
    l1c = [item.path for item, name in candidates if name.level == "L1C"]
    # one product in several forms is one product
    if len({name.name for _, name in candidates if name.level == "L1C"}) > 1:
        raise InputError(
            f"{', '.join(map(str, l1c))}: several products of the acquisition "
            f"{wanted}; keep one of them in the products folder"
        )
    if l1c:
        return l1c[0]
    return candidates[0][0].path if candidates else None  # an L2A stand-in is refused when opened
