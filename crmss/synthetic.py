"""Realistic synthetic Sentinel-2 L1C products with simulated thin cloud, for tests and the demo.

What is written is a real product: lossless JPEG2000 bands (all 13, at 10/20/60 m) with
GeoJP2/GML georeferencing on a UTM grid, in the ``.SAFE`` layout of either generation (compact,
or the long pre-December-2016 PDMC packaging with several granules), optionally zipped, with
the product metadata and per-granule metadata files; or as the public bucket holds it
(``sentinel-s2-l1c``): one folder per tile, ``tiles/50/T/MK/2016/4/3/0/B01.jp2`` ..., with
``metadata.xml``, ``productInfo.json`` and ``tileInfo.json``.

The scene is a land-cover map (water, vegetation, bare soil, built-up) from multi-scale noise,
each class with a typical top-of-atmosphere reflectance spectrum, textured; its vegetation as
green as the season of the product's tile and date (:func:`greenness`). Thin cloud follows
the single-layer model of crmss/clouds.py (cloudy = clear x t + cloud reflectance x (1 - t)),
with the optical thickness a smooth random field, so SWIR is the least affected. A slanted swath edge leaves a no-data (0) border. DNs are
reflectance x 10000, plus 1000 for baseline 04.00 and later (RADIO_ADD_OFFSET = -1000 in the
metadata), clipped to 1..65535. Everything is deterministic by seed.
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
from xml.sax.saxutils import escape

import numpy as np

from .bands import ALL_BANDS, RESOLUTION, WAVELENGTH_UM
from .clouds import add_thin_cloud, block_mean, fractal_noise, thickness_field, transmittance
from .names import ProductName
from .raster import write_jp2

logger = logging.getLogger(__name__)

#: Typical TOA reflectance per class and band (ALL_BANDS order), mid-latitude, sun ~40 deg.
SPECTRA = np.array(
    [
        # B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09    B10    B11   B12
        [0.110, 0.090, 0.070, 0.050, 0.040, 0.032, 0.030, 0.025, 0.022, 0.010, 0.0020, 0.012, 0.008],  # water
        [0.115, 0.090, 0.085, 0.055, 0.110, 0.240, 0.300, 0.320, 0.330, 0.110, 0.0040, 0.170, 0.085],  # vegetation
        [0.135, 0.120, 0.145, 0.190, 0.210, 0.230, 0.245, 0.255, 0.265, 0.095, 0.0060, 0.320, 0.260],  # bare soil
        [0.145, 0.130, 0.130, 0.140, 0.150, 0.160, 0.170, 0.180, 0.185, 0.075, 0.0050, 0.205, 0.175],  # built-up
    ],
    dtype=np.float32,
)
#: senescent or dormant vegetation (dry grass, leafless crops) in the same bands: what
#: ``Landscape.greenness`` blends the vegetation class towards outside the growing season
DORMANT = np.array([0.125, 0.100, 0.100, 0.115, 0.135, 0.160, 0.180, 0.195, 0.205, 0.080, 0.0050, 0.255, 0.190], np.float32)
NAMESPACE = {
    "compact": "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd",
    "long": "https://psd-12.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd",
}


@dataclass(frozen=True)
class Landscape:
    """What a synthetic tile's surface is made of: the fractions of water, bare soil and built-up
    land (vegetation is the rest), and the season's ``greenness`` of its vegetation (1: growing
    season, 0: dormant, the vegetation spectrum blended towards :data:`DORMANT`)."""

    water: float = 0.08
    soil: float = 0.37
    built: float = 0.15
    greenness: float = 1.0

    def spectra(self) -> np.ndarray:
        """(4, 13) TOA reflectance per class (water, vegetation, soil, built-up) and band (ALL_BANDS order)."""
        spectra = SPECTRA.copy()
        spectra[1] = self.greenness * SPECTRA[1] + (1 - self.greenness) * DORMANT
        return spectra


class Scene:
    """A synthetic tile seen twice: ``clear`` and ``cloudy`` reflectance per band.

    ``size`` is the 10 m side in px (a multiple of 6, so 20 m and 60 m grids fit; 10980 for a
    real tile). Arrays are float32 TOA reflectance at the band's own resolution.
    """

    def __init__(self, size: int = 10980, seed: int = 0, cloud_cover: float = 0.6, max_thickness: float = 0.8, landscape: Landscape = Landscape()):
        if size % 6:
            raise ValueError(f"the 10 m side must be a multiple of 6, not {size}")
        self.size = size
        rng = np.random.default_rng(seed)
        base, other = fractal_noise(size, (512, 128, 32), rng), fractal_noise(size, (256, 64), rng)
        sampled = base[::7, ::7]
        classes = np.full((size, size), 1, np.uint8)  # vegetation
        classes[base < np.quantile(sampled, landscape.water + landscape.soil)] = 2  # bare soil
        classes[other > np.quantile(other[::7, ::7], 1 - landscape.built)] = 3  # built-up
        classes[base < np.quantile(sampled, landscape.water)] = 0  # water
        self.classes = classes
        self.spectra = landscape.spectra()
        self.texture = 1 + 0.08 * fractal_noise(size, (16, 4), rng) + 0.02 * rng.standard_normal((size, size), np.float32)
        self.change = 1 + 0.03 * fractal_noise(size, (64,), rng)  # ten days of surface change
        self.tau = thickness_field(size, rng, cloud_cover, max_thickness)
        self.noise_seed = seed

    def clear(self, band: str) -> np.ndarray:
        """Cloud-free reflectance of ``band`` on its own grid."""
        return self._surface(band, cloudy=False)

    def cloudy(self, band: str) -> np.ndarray:
        """Reflectance of ``band`` ten days later under thin cloud, on its own grid."""
        return self._surface(band, cloudy=True)

    def transmittance(self, band: str) -> np.ndarray:
        """Two-way cloud transmittance of ``band`` at 10 m: higher at longer wavelengths."""
        return transmittance(self.tau, band)

    def _surface(self, band: str, cloudy: bool) -> np.ndarray:
        index = ALL_BANDS.index(band)
        reflectance = self.spectra[self.classes, index] * self.texture
        if cloudy:
            reflectance *= self.change
            reflectance = add_thin_cloud(reflectance, self.tau, band)
        reflectance = block_mean(reflectance, RESOLUTION[band] // 10)
        rng = np.random.default_rng([self.noise_seed, index, cloudy])
        return reflectance + rng.normal(0, 0.002, reflectance.shape).astype(np.float32)  # sensor noise


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
        y0 = 4000020 + 109800 * ((ord(self.tile[4]) - 65) % 20) + (0 if self.tile[2] >= "N" else 2000000)
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


@dataclass(frozen=True)
class _Packaging:
    """The names a synthetic product is written under: the product's, its metadata file's, and
    per tile its granule folder, band file stem and TILE_ID; ``naming`` compact or long (PDMC)."""

    parsed: ProductName
    naming: str
    product: str
    metadata_name: str
    granules: dict[str, str]
    stems: dict[str, str]
    tile_ids: dict[str, str]
    when: datetime.datetime
    absolute_orbit: int

    @classmethod
    def of(cls, name: str, naming: str, baseline: str, tiles: tuple[str, ...]) -> _Packaging:
        parsed = ProductName.of(name)
        mission, sensing, orbit, discriminator = parsed.mission, parsed.sensing, parsed.orbit, parsed.generated
        when = datetime.datetime.strptime(sensing, "%Y%m%dT%H%M%S")
        absolute_orbit = int((when - datetime.datetime(2015, 6, 23)).days * 14.3 + 1)
        tile_ids = {t: f"{mission}_OPER_MSI_L1C_TL_SGS__{discriminator}_A{absolute_orbit:06d}_T{t}_N{baseline}" for t in tiles}
        if naming == "compact":
            granules = {t: f"L1C_T{t}_A{absolute_orbit:06d}_{discriminator}" for t in tiles}
            stems = {t: f"T{t}_{sensing}" for t in tiles}
            return cls(parsed, naming, name, "MTD_MSIL1C.xml", granules, stems, tile_ids, when, absolute_orbit)
        if naming == "long":
            tail = f"{discriminator}_R{orbit}_V{sensing}_{sensing}"
            stems = {t: f"{mission}_OPER_MSI_L1C_TL_SGS__{discriminator}_A{absolute_orbit:06d}_T{t}" for t in tiles}
            granules = {t: f"{stems[t]}_N{baseline}" for t in tiles}
            product = f"{mission}_OPER_PRD_MSIL1C_PDMC_{tail}"
            return cls(parsed, naming, product, f"{mission}_OPER_MTD_SAFL1C_PDMC_{tail}.xml", granules, stems, tile_ids, when, absolute_orbit)
        raise ValueError(f"naming must be 'compact' or 'long', not {naming!r}")

    def bucket_path(self, tile: str) -> str:
        """Where the public bucket keeps ``tile`` of this product: ``tiles/50/T/MK/2016/4/3/0``."""
        return f"tiles/{int(tile[:2])}/{tile[2]}/{tile[3:]}/{self.when.year}/{self.when.month}/{self.when.day}/0"

    def tile_metadata_name(self, tile: str) -> str:
        return "MTD_TL.xml" if self.naming == "compact" else f"{self.stems[tile]}.xml".replace("_MSI_", "_MTD_")


def write_product(
    folder: str | Path,
    name: str,
    bands: dict[str, np.ndarray],
    geometry: Geometry,
    *,
    baseline: str = "02.07",
    naming: str = "compact",
    zipped: bool = False,
    bucket: bool = False,
    extra_tiles: tuple[str, ...] = (),
) -> Path:
    """Write an L1C product holding ``bands`` (ESA name -> uint16 DNs at the band's grid).

    ``name`` is a compact product name (``S2A_MSIL1C_..._R075_T50TMK_...``). With
    ``naming="long"`` the product is packaged as before December 2016: a PDMC folder name, the
    ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml`` metadata, long band names, and one more granule per
    ``extra_tiles`` (holding the same pixels mirrored). Written under a temporary name and
    renamed; returns the ``.SAFE`` folder or ``.zip``, or with ``bucket`` the tile folder of
    ``geometry.tile`` in the public bucket's layout (``folder/tiles/50/T/MK/2016/4/3/0``; one
    per tile, named by the product as in ``naming``).
    """
    if bucket and zipped:
        raise ValueError("the bucket's tile folders are not zipped: choose bucket or zipped")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = _Packaging.of(name, naming, baseline, (geometry.tile, *extra_tiles))
    tmp = folder / f".{names.product}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if bucket:
            return _write_bucket(folder, tmp, names, bands, geometry, baseline)
        return _write_safe(folder, tmp, names, bands, geometry, baseline, zipped)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_granule(names: _Packaging, bands: dict[str, np.ndarray], geometry: Geometry, tile: str, img: Path, stem: str, metadata: Path) -> None:
    """The 13 bands of ``tile`` as ``img/<stem><band>.jp2`` (another tile than the product's holds
    the pixels mirrored), its tile metadata as ``metadata``."""
    tile_geometry = Geometry(tile, geometry.size)
    for band in ALL_BANDS:
        pixels = bands[band] if tile == geometry.tile else np.ascontiguousarray(bands[band][:, ::-1])
        write_jp2(img / f"{stem}{band}.jp2", pixels, tile_geometry.geotransform(RESOLUTION[band]), tile_geometry.epsg)
    metadata.write_text(_tile_metadata(names.tile_ids[tile], tile_geometry, names.parsed.sensing))


def _write_bucket(folder: Path, tmp: Path, names: _Packaging, bands: dict[str, np.ndarray], geometry: Geometry, baseline: str) -> Path:
    """Each tile as a tile folder of the public bucket under ``folder``; the product's own one returned."""
    paths = {t: names.bucket_path(t) for t in names.tile_ids}
    product_info = _product_info(names.product, names.parsed.mission, names.when, names.absolute_orbit, baseline, paths)
    for tile in names.tile_ids:
        (tmp / tile).mkdir(parents=True)
        _write_granule(names, bands, geometry, tile, tmp / tile, "", tmp / tile / "metadata.xml")
        (tmp / tile / "productInfo.json").write_text(json.dumps(product_info, indent=2))
        (tmp / tile / "tileInfo.json").write_text(json.dumps(_tile_info(product_info, tile, geometry.size, bands["B02"]), indent=2))
        (folder / paths[tile]).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / tile, folder / paths[tile])
    return folder / paths[geometry.tile]


def _write_safe(folder: Path, tmp: Path, names: _Packaging, bands: dict[str, np.ndarray], geometry: Geometry, baseline: str, zipped: bool) -> Path:
    """The ``.SAFE`` folder (or its zip) into ``folder``; returns it."""
    safe, parsed = tmp / f"{names.product}.SAFE", names.parsed
    for tile, granule in names.granules.items():
        img = safe / "GRANULE" / granule / "IMG_DATA"
        img.mkdir(parents=True)
        _write_granule(names, bands, geometry, tile, img, f"{names.stems[tile]}_", img.parent / names.tile_metadata_name(tile))
    image_files = {g: [f"GRANULE/{g}/IMG_DATA/{names.stems[t]}_{b}" for b in ALL_BANDS] for t, g in names.granules.items()}
    metadata = _product_metadata(names.product, parsed.mission, parsed.sensing, parsed.orbit, baseline, names.naming, image_files)
    (safe / names.metadata_name).write_text(metadata)
    (safe / "manifest.safe").write_text(_manifest_safe(names.product, [names.metadata_name, *(f for fs in image_files.values() for f in fs)]))
    if not zipped:
        os.replace(safe, folder / f"{names.product}.SAFE")
        return folder / f"{names.product}.SAFE"
    with zipfile.ZipFile(tmp / "product.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(safe.rglob("*")):
            archive.write(path, path.relative_to(tmp).as_posix())
    os.replace(tmp / "product.zip", folder / f"{names.product}.zip")
    return folder / f"{names.product}.zip"


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
) -> tuple[Path, Path]:
    """Write the clear and the cloudy product of one pair of a split list; return their paths.

    ``size`` is the 10 m side (10980 for a full tile). ``baseline`` (e.g. "05.10") overrides
    the one in the names, with the matching offset, and renames the products accordingly, as
    a re-download from ESA's reprocessed archive would be. ``naming``, ``zipped`` and ``bucket``
    choose the packaging (see ``write_product``). ``cloud_cover`` (fraction of the
    scene under cloud) and ``max_thickness`` (optical thickness) shape the thin cloud;
    ``landscape`` the surface.
    """
    tile = _tile_and_baseline(clear_name)[0]
    geometry = Geometry(tile, size)
    seed = zlib.crc32(f"{seed}:{tile}".encode())
    scene = Scene(size, seed, cloud_cover, max_thickness, landscape)
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
    """A synthetic WHUS2-CR: both products of each pair of a split list (``crmss.splits.Pair``)
    into ``folder``, ``size`` px at 10 m, the :data:`PACKAGINGS` in turn; each pair's cloud cover
    (0.4 to 0.95), peak optical thickness (0.5 to 1.3) and land-cover fractions drawn from
    ``seed`` and its key, its vegetation as green as its tile's latitude and date say."""
    for index, pair in enumerate(pairs):
        what, packaging = PACKAGINGS[index % len(PACKAGINGS)]
        if packaging.get("naming") == "long" and ProductName.of(pair.clear).sensing[:8] >= LAST_PDMC:
            what, packaging = PACKAGINGS[-1]
        rng = np.random.default_rng([seed, zlib.crc32(pair.key.encode())])
        cover, thickness = rng.uniform(0.4, 0.95), rng.uniform(0.5, 1.3)
        landscape = Landscape(rng.uniform(0.02, 0.2), rng.uniform(0.15, 0.5), rng.uniform(0.05, 0.25), greenness(pair.clear))
        logger.info(
            f"writing synthetic pair {pair.key} ({pair.subset}, {size} px) as {what}: cloud cover {cover:.2f}, thickness up to "
            f"{thickness:.2f}, vegetation greenness {landscape.greenness:.2f}"
        )
        write_pair(
            folder, pair.clear, pair.cloudy, size=size, seed=seed, cloud_cover=cover, max_thickness=thickness, landscape=landscape, **packaging
        )


def greenness(product: str) -> float:
    """How green the vegetation of a product's tile is on its sensing day, 0 to 1: all year near
    the equator; away from it a cosine of the day of the year that peaks mid-July in the north and
    mid-January in the south, its depth growing with the latitude band's centre up to 45 degrees."""
    parsed = ProductName.of(product)
    latitude = -76 + 8 * "CDEFGHJKLMNPQRSTUVWX".index(_tile_and_baseline(product)[0][2])  # the band's centre, degrees
    day = datetime.datetime.strptime(parsed.sensing[:8], "%Y%m%d").timetuple().tm_yday
    peak = 196 if latitude >= 0 else 15
    depth = min(1.0, abs(latitude) / 45)
    return 1 - depth * (1 - math.cos(2 * math.pi * (day - peak) / 365.25)) / 2


def _tile_and_baseline(name: str) -> tuple[str, str]:
    """The tile and baseline of a compact product name; ValueError for a PDMC name, which states neither."""
    parsed = ProductName.of(name)
    if parsed.tile is None or parsed.baseline is None:
        raise ValueError(f"{name}: synthetic pairs are named by compact names (the WHUS2-CR list's)")
    return parsed.tile, parsed.baseline


def _neighbour(tile: str) -> str:
    return tile[:4] + ("A" if tile[4] == "Z" else chr(ord(tile[4]) + 1))


def _product_metadata(product, mission, sensing, orbit, baseline, naming, image_files) -> str:
    when = datetime.datetime.strptime(sensing, "%Y%m%dT%H%M%S").strftime("%Y-%m-%dT%H:%M:%S.000Z")
    tag, child = ("Granule", "IMAGE_FILE") if naming == "compact" else ("Granules", "IMAGE_ID")
    granules = "".join(
        f'<{tag} granuleIdentifier="{g}" imageFormat="JPEG2000">'
        + "".join(f"<{child}>{escape(f if naming == 'compact' else f.rsplit('/', 1)[1])}</{child}>" for f in files)
        + f"</{tag}>"
        for g, files in image_files.items()
    )
    offsets = ""
    if float(baseline) >= 4:
        offsets = (
            "<Radiometric_Offset_List>"
            + "".join(f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(len(ALL_BANDS)))
            + "</Radiometric_Offset_List>"
        )
    spectral = "".join(
        f'<Spectral_Information bandId="{i}" physicalBand="{b.replace("B0", "B")}"><RESOLUTION>{RESOLUTION[b]}</RESOLUTION>'
        f'<Wavelength><CENTRAL unit="nm">{WAVELENGTH_UM[b] * 1000:.1f}</CENTRAL></Wavelength></Spectral_Information>'
        for i, b in enumerate(ALL_BANDS)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_User_Product xmlns:n1="{NAMESPACE[naming]}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<n1:General_Info>
<Product_Info>
<PRODUCT_START_TIME>{when}</PRODUCT_START_TIME>
<PRODUCT_STOP_TIME>{when}</PRODUCT_STOP_TIME>
<PRODUCT_URI>{product}.SAFE</PRODUCT_URI>
<PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
<PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
<Datatake datatakeIdentifier="G{mission}_{sensing}_N{baseline}">
<SPACECRAFT_NAME>Sentinel-{mission[2:]}</SPACECRAFT_NAME>
<DATATAKE_SENSING_START>{when}</DATATAKE_SENSING_START>
<SENSING_ORBIT_NUMBER>{int(orbit)}</SENSING_ORBIT_NUMBER>
<SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
</Datatake>
<Query_Options><PRODUCT_FORMAT>{"SAFE_COMPACT" if naming == "compact" else "SAFE"}</PRODUCT_FORMAT></Query_Options>
<Product_Organisation><Granule_List>{granules}</Granule_List></Product_Organisation>
</Product_Info>
<Product_Image_Characteristics>
<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
<Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
{offsets}
<Spectral_Information_List>{spectral}</Spectral_Information_List>
</Product_Image_Characteristics>
</n1:General_Info>
</n1:Level-1C_User_Product>
"""


def _product_info(product: str, mission: str, when: datetime.datetime, absolute_orbit: int, baseline: str, tile_paths: dict[str, str]) -> dict:
    """The bucket's ``productInfo.json`` of a product whose tiles lie at ``tile_paths``."""
    timestamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    datastrip = f"{mission}_OPER_MSI_L1C_DS_SGS__{when:%Y%m%dT%H%M%S}_S{when:%Y%m%dT%H%M%S}_N{baseline}"
    product_path = f"products/{when.year}/{when.month}/{when.day}/{product}"
    tiles = [
        {
            "path": path,
            "timestamp": timestamp,
            "utmZone": int(tile[:2]),
            "latitudeBand": tile[2],
            "gridSquare": tile[3:],
            "datastrip": {"id": datastrip, "path": f"{product_path}/datastrip/0"},
        }
        for tile, path in tile_paths.items()
    ]
    return {
        "name": product,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, product)),
        "path": product_path,
        "timestamp": timestamp,
        "datatakeIdentifier": f"G{mission}_{when:%Y%m%dT%H%M%S}_{absolute_orbit:06d}_N{baseline}",
        "tiles": tiles,
        "datastrips": [{"id": datastrip, "path": f"{product_path}/datastrip/0"}],
    }


def _tile_info(product_info: dict, tile: str, size: int, b02: np.ndarray) -> dict:
    """The bucket's ``tileInfo.json`` of ``tile``: its corners and how much of it holds data (from B02)."""
    geometry = Geometry(tile, size)
    x0, _, _, y0, _, _ = geometry.geotransform(10)
    x1, y1 = x0 + 10 * size, y0 - 10 * size
    crs = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG:8.8.1:{geometry.epsg}"}}
    polygon = {"type": "Polygon", "crs": crs, "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
    (entry,) = [t for t in product_info["tiles"] if f"{t['utmZone']:02d}{t['latitudeBand']}{t['gridSquare']}" == tile]
    return {
        **entry,
        "tileGeometry": polygon,
        "tileOrigin": {"type": "Point", "crs": crs, "coordinates": [x0, y0]},
        "dataCoveragePercentage": round(100 * float(np.count_nonzero(b02)) / b02.size, 2),
        "productName": product_info["name"],
        "productPath": product_info["path"],
    }


def _tile_metadata(granule: str, geometry: Geometry, sensing: str) -> str:
    sizes = "".join(
        f'<Size resolution="{r}"><NROWS>{geometry.size * 10 // r}</NROWS><NCOLS>{geometry.size * 10 // r}</NCOLS></Size>' for r in (10, 20, 60)
    )
    x0, _, _, y0, _, _ = geometry.geotransform(10)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd">
<n1:General_Info><TILE_ID>{granule}</TILE_ID><SENSING_TIME>{sensing}</SENSING_TIME></n1:General_Info>
<n1:Geometric_Info><Tile_Geocoding>
<HORIZONTAL_CS_CODE>EPSG:{geometry.epsg}</HORIZONTAL_CS_CODE>{sizes}
<Geoposition resolution="10"><ULX>{x0:.0f}</ULX><ULY>{y0:.0f}</ULY><XDIM>10</XDIM><YDIM>-10</YDIM></Geoposition>
</Tile_Geocoding></n1:Geometric_Info>
</n1:Level-1C_Tile_ID>
"""


def _manifest_safe(product: str, files: list[str]) -> str:
    items = "".join(f'<dataObject ID="{i}"><byteStream><fileLocation href="./{escape(f)}"/></byteStream></dataObject>' for i, f in enumerate(files))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">
<metadataSection><metadataObject ID="productName"><metadataWrap><xmlData>{product}</xmlData></metadataWrap></metadataObject></metadataSection>
<dataObjectSection>{items}</dataObjectSection>
</xfdu:XFDU>
"""
