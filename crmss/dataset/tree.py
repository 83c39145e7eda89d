"""A prepared tree (``crmss prepare``, ``crmss simulate``): its manifest and its patch files.

The tree holds, per pair and window k, four GeoTIFFs:
``{subset}/{cloudy,clear}/{10m,20m}/<pair>/<k>.tif`` (uint16, reflectance x 10000): the cloudy
and clear stacks at 10 m (B02, B03, B04, B08) and 20 m (B05, B06, B07, B8A, B11, B12), listed
per pair in ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.bands import BANDS_10M, BANDS_20M
from ..core.errors import InputError
from ..core.schemas import MANIFEST, read_json
from ..io.raster import raster_info
from .windows import check_patch_size

#: the two products of a pair, as the tree's folders name them
ROLES = ("cloudy", "clear")
#: the four stacks of a pair: key -> (role, resolution), in the order of a PatchSet's files
STACKS_OF_PAIR = {f"{role}_{res}": (role, res) for role in ROLES for res in ("10m", "20m")}
STACK_KEYS = tuple(STACKS_OF_PAIR)
BANDS = {"10m": len(BANDS_10M), "20m": len(BANDS_20M)}
#: the tree's layout, as the manifest states it
LAYOUT = "{subset}/{cloudy,clear}/{10m,20m}/{pair}/{k}.tif"


def stack_key(role: str, res: str) -> str:
    """The key of a pair's stack (``cloudy_10m``), as PatchSet.files and the input pipeline name
    it."""
    return f"{role}_{res}"


def stack_folder(root: Path, subset: str, role: str, res: str, pair: str) -> Path:
    """The folder of one stack of a pair in the tree at ``root``:
    ``root/<subset>/<role>/<res>/<pair>``."""
    return Path(root) / subset / role / res / pair


def patch_file(folder: Path, k: int | str) -> Path:
    """The patch of window ``k`` in a stack's folder (:func:`stack_folder`): ``<k>.tif``."""
    return Path(folder) / f"{k}.tif"


@dataclass(frozen=True)
class PatchSet:
    """The patch files of some pairs: four equally long lists of paths, in STACK_KEYS order."""

    pairs: tuple[str, ...]
    files: dict[str, list[str]]
    size10: int  # 10 m patch side in px

    def __len__(self) -> int:
        return len(self.files[stack_key("clear", "10m")])


def load_patches(data: str | Path, subset: str = "train") -> dict[str, PatchSet]:
    """Per pair key, the patch files of ``subset`` listed in ``DATA/manifest.json``.

    Checks that the tree is a prepared one and that the first patch of every pair has the
    band counts and sizes the network takes. Raises InputError naming the file and the fix.
    """
    data = Path(data)
    manifest_path = data / "manifest.json"
    if not manifest_path.exists():
        raise InputError(
            f"{data}: not a prepared data folder (no manifest.json); prepare it "
            "first ('crmss prepare', crmss.prepare)"
        )
    pairs = read_manifest(manifest_path)["pairs"]
    sets = {}
    for key, record in pairs.items():
        if record["subset"] != subset or not record["windows"]:
            continue
        files = {
            stack: [
                str(patch_file(stack_folder(data, subset, role, res, key), k))
                for k in record["windows"]
            ]
            for stack, (role, res) in STACKS_OF_PAIR.items()
        }
        absent = next(
            (f for stack in STACK_KEYS for f in files[stack] if not Path(f).exists()), None
        )
        if absent:
            raise InputError(
                f"{absent}: a patch listed in {manifest_path} is missing; prepare "
                "the data again (into a new folder)"
            )
        size10 = _check_patch(files[stack_key("cloudy", "10m")][0], "10m", None)
        for stack, (_, res) in STACKS_OF_PAIR.items():
            _check_patch(files[stack][0], res, size10 if res == "10m" else size10 // 2)
        sets[key] = PatchSet((key,), files, size10)
    if not sets:
        raise InputError(
            f"{manifest_path}: no {subset} pairs with patches; prepare the products "
            f"of the {subset} pairs first"
        )
    return sets


def read_manifest(path: Path) -> dict:
    """A patch tree's manifest.json (``crmss prepare`` or ``crmss simulate``), checked against
    its schema: per pair key a record with ``subset`` ("train" or "test") and ``windows``."""
    return read_json(
        path, MANIFEST, "it is not a manifest written by 'crmss prepare': prepare the data again"
    )


def _check_patch(path: str, res: str, size: int | None) -> int:
    try:
        info = raster_info(path)
    except InputError as exc:
        raise InputError(
            f"{path}: a patch listed in manifest.json is missing or unreadable; "
            "prepare the data again"
        ) from exc
    expected = size or info.width
    if info.bands != BANDS[res] or (info.width, info.height) != (expected, expected):
        raise InputError(
            f"{path}: {info.bands} bands of {info.width} x {info.height} px, but {res} patches "
            f"need {BANDS[res]} bands of "
            f"{expected} x {expected} px; this is not a tree written by 'crmss prepare': prepare "
            "the data again"
        )
    if res == "10m":
        try:
            check_patch_size(info.width)
        except ValueError as exc:
            raise InputError(
                f"{path}: {exc}; prepare the data with the standard 256 px windows"
            ) from exc
    return info.width


def merge(sets: list[PatchSet]) -> PatchSet:
    """One PatchSet holding the patches of several pairs."""
    sizes = {s.size10 for s in sets}
    if len(sizes) > 1:
        raise InputError(
            f"pairs {', '.join(p for s in sets for p in s.pairs)} have patches of "
            f"different sizes {sorted(sizes)}; prepare them again"
        )
    return PatchSet(
        tuple(p for s in sets for p in s.pairs),
        {stack: [f for s in sets for f in s.files[stack]] for stack in STACK_KEYS},
        sizes.pop(),
    )
