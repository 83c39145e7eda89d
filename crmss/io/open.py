"""Products as a user names them: a path or an http(s) URL, to the packaging that holds it.

:func:`open_product` (the public ``crmss.open_product``) opens a granule of a product;
:func:`product_at` tells the packaging of a path by :data:`PACKAGINGS` (the most specific
first), after :func:`product_path` has found the product a file or folder inside one names;
:func:`product_paths` and :func:`products_at` give the items of an ItemCollection one by one;
:func:`identify` gives the identity a product's content states.

Imports the packagings (crmss/io/products.py) and STAC items (crmss/io/stac.py): adding a
packaging means adding its class to :data:`PACKAGINGS` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import InputError
from .granule import Granule
from .names import ProductName, mgrs_tile
from .products import METADATA_FILE, BucketTile, PdmcFolder, PdmcZip, Product, SafeFolder, SafeZip
from .stac import STAC_FIX, StacItem, stac_type


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


#: every packaging, the most specific first: :func:`product_at` takes the first that recognises a
#: path
PACKAGINGS: tuple[type[Product], ...] = (
    BucketTile,
    StacItem,
    PdmcFolder,
    SafeFolder,
    PdmcZip,
    SafeZip,
)


def product_path(path: str | Path) -> Path:
    """The product that a user's path names: the path itself, or the ``.SAFE`` folder of a
    metadata file (``<name>.SAFE/MTD_MSIL1C.xml``, as GDAL users pass it) or of a folder inside
    it (``.`` in a ``.SAFE``), or the tile folder of one of its files (``metadata.xml``, ...)."""
    path = Path(path)
    if (
        path.is_file()
        and not StacItem.recognises(path)
        and (METADATA_FILE.match(path.name) or BucketTile.recognises(path.parent))
    ):
        path = path.parent
    if path.is_dir() and path.suffix != ".SAFE":
        inside = next(
            (p for p in (path.resolve(), *path.resolve().parents) if p.suffix == ".SAFE"), None
        )
        return inside or path
    return path


def products_at(path: str | Path) -> list[Product]:
    """The products a user's path or URL names: those of a STAC ItemCollection, else the one at
    it."""
    return [product_at(location) for location in product_paths(path)]


def product_at(path: str | Path) -> Product:
    """The product at ``path`` (see :func:`product_path`), as the type of its packaging; an item
    of an ItemCollection by ``<file or URL>#<item id>``; a STAC item by its http(s) URL."""
    if is_url(path):
        url, _, item_id = str(path).partition("#")
        found = StacItem.at_url(url, item_id)
        if len(found) != 1:
            raise InputError(
                f"{url}: is an ItemCollection of {len(found)} items: give one as "
                f"<URL>#<item id>; {STAC_FIX}"
            )
        return found[0]
    path = product_path(path)
    file, _, item_id = str(path).partition("#")
    if item_id and Path(file).is_file():
        return StacItem.collection_item(Path(file), item_id)[0]
    if not path.exists():
        raise InputError(
            f"{path}: no such product; give <name>.SAFE folders, <name>.zip files, "
            "tile folders of the public bucket or STAC items"
        )
    if path.is_file() and path.suffix.lower() == ".json":
        _check_stac_file(path)
    kind = next(kind for kind in PACKAGINGS if kind.recognises(path))
    return kind(path)


def _check_stac_file(path: Path) -> None:
    """InputError unless the ``.json`` file at ``path`` is one STAC item (an ItemCollection is
    given by ``<file>#<item id>``)."""
    kind = stac_type(path)
    if kind == "FeatureCollection":
        count = len(StacItem.collection(path))
        raise InputError(
            f"{path}: is an ItemCollection of {count} items: give one as "
            "<file>#<item id>, or give the folder holding it"
        )
    if kind != "Feature":
        raise InputError(
            f"{path}: not a STAC item or ItemCollection (JSON without type Feature or "
            "FeatureCollection and stac_version); "
            "give an item as pystac or pystac-client saves it"
        )


def open_product(path: str | Path | Any, tile: str | None = None) -> Granule:
    """Open the granule of ``tile`` of the L1C product at ``path`` (a ``.SAFE`` folder, a zip,
    a bucket tile folder, a STAC item's ``.json`` file or its http(s) URL, or a file of one), or
    of a ``pystac.Item`` itself: the granule of ``tile``, else the one the product names, else its
    only one.

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
    """The identity of the product at ``path`` as its content states it
    (:meth:`Product.identity`)."""
    return product_at(path).identity()
