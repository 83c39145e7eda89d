"""Realistic synthetic Sentinel-2 L1C products with simulated thin cloud, for tests and the demo.

What is written is a real product: lossless JPEG2000 bands (all 13, at 10/20/60 m) with
GeoJP2/GML georeferencing on a UTM grid, in the ``.SAFE`` layout of either generation (compact,
or the long pre-December-2016 PDMC packaging with several granules), optionally zipped, with
the product metadata and per-granule metadata files; or as the public bucket holds it
(``sentinel-s2-l1c``): one folder per tile, ``tiles/50/T/MK/2016/4/3/0/B01.jp2`` ..., with
``metadata.xml``, ``productInfo.json`` and ``tileInfo.json``.

The scene is the land of crmss/dataset/land.py (relief and its shading, farmland parcels with
their crops' calendars, forests, towns, roads, rivers and lakes; reflectance from PROSAIL and the
clear atmosphere of crmss/dataset/spectra.py), its natural vegetation as green and its crops as
far through their year as the product's tile and date say (:func:`greenness`, :func:`crop_day`).
Thin cloud follows the single-layer model of crmss/dataset/clouds.py (cloudy = clear x t + cloud
reflectance x (1 - t)), as haze, cumulus or cirrus, with its shadow, so SWIR is the least
affected. A slanted swath edge leaves a no-data (0) border. DNs are reflectance x 10000, plus
1000 for baseline 04.00 and later (RADIO_ADD_OFFSET = -1000 in the metadata), clipped to
1..65535. Everything is deterministic by seed.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.bands import ALL_BANDS, RESOLUTION
from ..io import esa_files
from ..io.esa_files import ProductFiles
from ..io.names import ProductName
from ..io.raster import write_jp2
from .clouds import (
    KINDS,
    add_thin_cloud,
    block_mean,
    cloud_layer,
    fractal_noise,
    sunlit,
    sunlit_band,
    transmittance,
)
from .land import Land, Landscape
from .spectra import to_toa

logger = logging.getLogger(__name__)


class Scene:
    """A synthetic tile seen twice: ``clear`` and ``cloudy`` TOA reflectance per band.

    ``size`` is the 10 m side in px (a multiple of 6, so 20 m and 60 m grids fit; 10980 for a
    real tile). The land is crmss/dataset/land.py's; ten days later its surface has changed a
    little (3 %, features of 64 px) and a cloud layer of ``clouds`` texture (crmss/dataset/
    clouds.py: haze, cumulus or cirrus) covers a fraction ``cloud_cover`` of it, up to
    ``max_thickness``, its shadow dimming the direct sun. Arrays are float32 at the band's own
    resolution, with sensor noise (0.002).

    Attributes:
        land: the :class:`~crmss.dataset.land.Land`.
        tau: (size, size) float32 optical thickness of the cloud at 10 m.
        sunlit: (size, size) float32 share of direct sunlight the cloud lets through.
    """

    def __init__(
        self,
        size: int = 10980,
        seed: int = 0,
        cloud_cover: float = 0.6,
        max_thickness: float = 0.8,
        landscape: Landscape = Landscape(),
        clouds: str = "haze",
    ):
        if size % 6:
            raise ValueError(f"the 10 m side must be a multiple of 6, not {size}")
        if clouds not in KINDS:
            raise ValueError(f"clouds={clouds!r}: one of {', '.join(KINDS)}")
        self.size = size
        rng = np.random.default_rng(seed)
        self.land = Land(size, landscape, rng)
        self.change = 1 + 0.03 * fractal_noise(size, (64,), rng)  # ten days of surface change
        self.tau = cloud_layer(size, rng, clouds, cloud_cover, max_thickness)
        self.sunlit = sunlit(self.tau, rng.uniform(*KINDS[clouds]))
        self.noise_seed = seed

    def clear(self, band: str) -> np.ndarray:
        """Cloud-free reflectance of ``band`` on its own grid."""
        return self._observed(band, self.land.toa(band))

    def cloudy(self, band: str) -> np.ndarray:
        """Reflectance of ``band`` ten days later under thin cloud and its shadow, on its own
        grid."""
        surface = self.land.surface(band, sunlit_band(self.sunlit, band)) * self.change
        return self._observed(band, add_thin_cloud(to_toa(surface, band), self.tau, band), True)

    def transmittance(self, band: str) -> np.ndarray:
        """Two-way cloud transmittance of ``band`` at 10 m: higher at longer wavelengths."""
        return transmittance(self.tau, band)

    def _observed(self, band: str, reflectance: np.ndarray, cloudy: bool = False) -> np.ndarray:
        """``reflectance`` (10 m) on the band's grid, with sensor noise."""
        index = ALL_BANDS.index(band)
        reflectance = block_mean(reflectance, RESOLUTION[band] // 10)
        rng = np.random.default_rng([self.noise_seed, index, cloudy])
        return reflectance + rng.normal(0, 0.002, reflectance.shape).astype(np.float32)


@dataclass(frozen=True)
class Geometry:
    """Where a synthetic tile lies: UTM projection and the 10 m grid's upper-left corner."""

    tile: str  # e.g. 50TMK
    size: int  # 10 m px

    @property
    def epsg(self) -> int:
        zone, north = int(self.tile[:2]), self.tile[2] >= "N"
        return (32600 if north else 32700) + zone

    def geotransform(self, resolution: int) -> tuple[float, ...]:
        x0 = (199980, 300000, 399960, 499980, 600000, 699960)[(ord(self.tile[3]) - 65) % 6]
        y0 = (
            4000020
            + 109800 * ((ord(self.tile[4]) - 65) % 20)
            + (0 if self.tile[2] >= "N" else 2000000)
        )
        return (float(x0), float(resolution), 0.0, float(y0), 0.0, -float(resolution))


def swath_nodata(size: int, resolution: int, shift_m: float = 0.0) -> np.ndarray:
    """(rows, cols) bool at ``resolution`` m: True past a slanted swath edge (east side)."""
    scale = resolution // 10
    n = size // scale
    centres = (np.arange(n, dtype=np.float32) + 0.5) * scale  # in 10 m px
    edge = 0.80 * size - 0.15 * centres[:, None] + shift_m / 10  # column of the edge per row
    return centres[None, :] > edge


def to_dn(reflectance: np.ndarray, nodata: np.ndarray | bool, offset: int) -> np.ndarray:
    """uint16 L1C DNs: reflectance x 10000 - offset, clipped to 1..65535, 0 where no data."""
    dn = np.clip(np.rint(reflectance * 10000) - offset, 1, 65535).astype(np.uint16)
    dn[nodata] = 0
    return dn


def write_product(
    folder: str | Path,
    name: str,
    bands: dict[str, np.ndarray],
    geometry: Geometry,
    *,
    baseline: str = "02.07",
    naming: str = "compact",
    band_naming: str | None = None,
    zipped: bool = False,
    bucket: bool = False,
    extra_tiles: tuple[str, ...] = (),
) -> Path:
    """Write an L1C product holding ``bands`` (ESA name -> uint16 DNs at the band's grid), its
    files as genuine products have them (crmss/io/esa_files.py).

    ``name`` is a compact product name (``S2A_MSIL1C_..._R075_T50TMK_...``). With
    ``naming="long"`` the product is packaged as before December 2016: a PDMC folder name, the
    ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml`` metadata, long band names, and one more granule per
    ``extra_tiles`` (holding the same pixels mirrored); ``band_naming="long"`` gives a compact
    product long band file names, as re-packaged old products have them. Written under a
    temporary name and renamed; returns the ``.SAFE`` folder or ``.zip``, or with ``bucket`` the
    tile folder of ``geometry.tile`` in the public bucket's layout
    (``folder/tiles/50/T/MK/2016/4/3/0``; one per tile).
    """
    if bucket and zipped:
        raise ValueError("the bucket's tile folders are not zipped: choose bucket or zipped")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = ProductFiles.of(name, baseline, naming, extra_tiles, band_naming)
    tmp = folder / f".{files.product}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if bucket:
            return _write_bucket(folder, tmp, files, bands, geometry)
        return _write_safe(folder, tmp, files, bands, geometry, zipped)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_granule(
    files: ProductFiles,
    bands: dict[str, np.ndarray],
    geometry: Geometry,
    tile: str,
    stems: dict[str, Path],
    metadata: Path,
) -> None:
    """The 13 bands of ``tile`` as ``<stem>.jp2`` (another tile than the product's holds the
    pixels mirrored), its tile metadata as ``metadata``."""
    tile_geometry = Geometry(tile, geometry.size)
    for band in ALL_BANDS:
        pixels = (
            bands[band] if tile == geometry.tile else np.ascontiguousarray(bands[band][:, ::-1])
        )
        write_jp2(
            stems[band].with_name(stems[band].name + ".jp2"),
            pixels,
            tile_geometry.geotransform(RESOLUTION[band]),
            tile_geometry.epsg,
        )
    x0, _, _, y0, _, _ = tile_geometry.geotransform(10)
    metadata.parent.mkdir(parents=True, exist_ok=True)
    metadata.write_text(
        esa_files.tile_metadata(files, tile, geometry.size, tile_geometry.epsg, (x0, y0))
    )


def _write_bucket(
    folder: Path, tmp: Path, files: ProductFiles, bands: dict[str, np.ndarray], geometry: Geometry
) -> Path:
    """Each tile as a tile folder of the public bucket under ``folder``; the product's own one
    returned."""
    for tile in files.tiles:
        (tmp / tile).mkdir(parents=True)
        _write_granule(
            files,
            bands,
            geometry,
            tile,
            {b: tmp / tile / b for b in ALL_BANDS},
            tmp / tile / "metadata.xml",
        )
        tile_geometry = Geometry(tile, geometry.size)
        x0, _, _, y0, _, _ = tile_geometry.geotransform(10)
        corners = (x0, y0, x0 + 10 * geometry.size, y0 - 10 * geometry.size)
        coverage = 100 * float(np.count_nonzero(bands["B02"])) / bands["B02"].size
        (tmp / tile / "productInfo.json").write_text(
            json.dumps(esa_files.product_info(files), indent=2)
        )
        (tmp / tile / "tileInfo.json").write_text(
            json.dumps(
                esa_files.tile_info(files, tile, tile_geometry.epsg, corners, coverage), indent=2
            )
        )
        (folder / files.bucket_path(tile)).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / tile, folder / files.bucket_path(tile))
    return folder / files.bucket_path(geometry.tile)


def _write_safe(
    folder: Path,
    tmp: Path,
    files: ProductFiles,
    bands: dict[str, np.ndarray],
    geometry: Geometry,
    zipped: bool,
) -> Path:
    """The ``.SAFE`` folder (or its zip) into ``folder``; returns it."""
    safe = tmp / f"{files.product}.SAFE"
    for tile in files.tiles:
        stems = {b: safe / files.band_file(tile, b) for b in ALL_BANDS}
        stems[ALL_BANDS[0]].parent.mkdir(parents=True)
        _write_granule(files, bands, geometry, tile, stems, safe / files.tile_metadata_file(tile))
    (safe / files.metadata_name).write_text(esa_files.product_metadata(files))
    members = [
        files.metadata_name,
        *(f"{files.band_file(t, b)}.jp2" for t in files.tiles for b in ALL_BANDS),
    ]
    (safe / "manifest.safe").write_text(esa_files.manifest_safe(files, members))
    if not zipped:
        os.replace(safe, folder / f"{files.product}.SAFE")
        return folder / f"{files.product}.SAFE"
    with zipfile.ZipFile(
        tmp / "product.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for path in sorted(safe.rglob("*")):
            archive.write(path, path.relative_to(tmp).as_posix())
    os.replace(tmp / "product.zip", folder / f"{files.product}.zip")
    return folder / f"{files.product}.zip"


def write_pair(
    folder: str | Path,
    clear_name: str,
    cloudy_name: str,
    *,
    size: int = 780,
    seed: int = 0,
    baseline: str | None = None,
    naming: str = "compact",
    zipped: bool = False,
    bucket: bool = False,
    swath_edge: bool = True,
    cloud_cover: float = 0.6,
    max_thickness: float = 0.8,
    landscape: Landscape = Landscape(),
    clouds: str = "haze",
) -> tuple[Path, Path]:
    """Write the clear and the cloudy product of one pair of a split list; return the paths of
    the cloudy and of the clear product, in that order.

    ``size`` is the 10 m side (10980 for a full tile). ``baseline`` (e.g. "05.10") overrides
    the one in the names, with the matching offset, and renames the products accordingly, as
    a re-download from ESA's reprocessed archive would be. ``naming``, ``zipped`` and ``bucket``
    choose the packaging (see ``write_product``). ``cloud_cover`` (fraction of the
    scene under cloud), ``max_thickness`` (optical thickness) and ``clouds`` (its texture:
    haze, cumulus or cirrus) shape the thin cloud; ``landscape`` the surface.
    """
    tile = _tile_and_baseline(clear_name)[0]
    geometry = Geometry(tile, size)
    seed = zlib.crc32(f"{seed}:{tile}".encode())
    scene = Scene(size, seed, cloud_cover, max_thickness, landscape, clouds)
    paths = []
    for role, name, shift in (("clear", clear_name, 0.0), ("cloudy", cloudy_name, -30.0)):
        parsed = ProductName.of(name)
        product_baseline = baseline or _tile_and_baseline(name)[1]
        if baseline:
            name = parsed.at_baseline(baseline)
        offset = -1000 if float(product_baseline) >= 4 else 0
        dns = {}
        for band in ALL_BANDS:
            nodata = swath_nodata(size, RESOLUTION[band], shift) if swath_edge else False
            dns[band] = to_dn(getattr(scene, role)(band), nodata, offset)
        paths.append(
            write_product(
                folder,
                name,
                dns,
                geometry,
                baseline=product_baseline,
                naming=naming,
                zipped=zipped,
                bucket=bucket,
                extra_tiles=(_neighbour(tile),) if naming == "long" else (),
            )
        )
    return paths[1], paths[0]


#: the packagings of a synthetic set, in turn (a PDMC product only where it was sensed before
#: December 2016, as ESA named them): what the log says, write_pair's options
PACKAGINGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a zipped compact product", dict(zipped=True)),
    ("tile folders of the public bucket", dict(bucket=True)),
    ("a zipped pre-December-2016 PDMC product with two granules", dict(zipped=True, naming="long")),
    ("a .SAFE folder", {}),
)
LAST_PDMC = "20161206"


def write_set(folder: str | Path, pairs: list, size: int, seed: int = 0) -> None:
    """A synthetic WHUS2-CR: both products of each pair of a split list
    (``crmss.dataset.splits.Pair``) into ``folder``, ``size`` px at 10 m, the :data:`PACKAGINGS` in
    turn; each pair's cloud cover (0.4 to 0.95), peak optical thickness (0.5 to 1.3), cloud texture,
    land-cover fractions and relief (0 to 1500 m) drawn from ``seed`` and its key, its vegetation
    as green and its crops as far through their year as its tile's latitude and date say."""
    for index, pair in enumerate(pairs):
        what, packaging = PACKAGINGS[index % len(PACKAGINGS)]
        if (
            packaging.get("naming") == "long"
            and ProductName.of(pair.clear).sensing[:8] >= LAST_PDMC
        ):
            what, packaging = PACKAGINGS[-1]
        rng = np.random.default_rng([seed, zlib.crc32(pair.key.encode())])
        cover, thickness = rng.uniform(0.4, 0.95), rng.uniform(0.5, 1.3)
        clouds = str(rng.choice(list(KINDS)))
        landscape = Landscape(
            water=rng.uniform(0.02, 0.15),
            soil=rng.uniform(0.05, 0.3),
            built=rng.uniform(0.03, 0.2),
            greenness=greenness(pair.clear),
            day=crop_day(pair.clear),
            relief=rng.uniform(0, 1500),
        )
        logger.info(
            f"writing synthetic pair {pair.key} ({pair.subset}, {size} px) as {what}: {clouds}, "
            f"cloud cover {cover:.2f}, thickness up to {thickness:.2f}, vegetation greenness "
            f"{landscape.greenness:.2f}, relief {landscape.relief:.0f} m"
        )
        write_pair(
            folder,
            pair.clear,
            pair.cloudy,
            size=size,
            seed=seed,
            cloud_cover=cover,
            max_thickness=thickness,
            landscape=landscape,
            clouds=clouds,
            **packaging,
        )


def greenness(product: str) -> float:
    """How green the vegetation of a product's tile is on its sensing day, 0 to 1: all year near
    the equator; away from it a cosine of the day of the year that peaks mid-July in the north and
    mid-January in the south, its depth growing with the latitude band's centre up to 45 degrees."""
    parsed = ProductName.of(product)
    # the band's centre, degrees
    latitude = -76 + 8 * "CDEFGHJKLMNPQRSTUVWX".index(_tile_and_baseline(product)[0][2])
    day = datetime.datetime.strptime(parsed.sensing[:8], "%Y%m%d").timetuple().tm_yday
    peak = 196 if latitude >= 0 else 15
    depth = min(1.0, abs(latitude) / 45)
    return 1 - depth * (1 - math.cos(2 * math.pi * (day - peak) / 365.25)) / 2


def crop_day(product: str) -> int:
    """The day of the crops' year (northern hemisphere's calendar) on a product's sensing day: its
    day of the year, half a year later south of the equator."""
    parsed = ProductName.of(product)
    day = datetime.datetime.strptime(parsed.sensing[:8], "%Y%m%d").timetuple().tm_yday
    south = _tile_and_baseline(product)[0][2] < "N"
    return (day + 182) % 365 if south else day


def _tile_and_baseline(name: str) -> tuple[str, str]:
    """The tile and baseline of a compact product name; ValueError for a PDMC name, which states
    neither."""
    parsed = ProductName.of(name)
    if parsed.tile is None or parsed.baseline is None:
        raise ValueError(
            f"{name}: synthetic pairs are named by compact names (the WHUS2-CR list's)"
        )
    return parsed.tile, parsed.baseline


def _neighbour(tile: str) -> str:
    return tile[:4] + ("A" if tile[4] == "Z" else chr(ord(tile[4]) + 1))
