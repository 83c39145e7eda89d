"""The synthetic land: a 10 m land-cover map with the structures real Sentinel-2 scenes have, and
its surface reflectance per band.

A scene is laid out from the ground up (:class:`Land`):

1. **Terrain**: fractional Brownian relief (spectral slope of natural terrain; Hurst exponent
   :data:`HURST`), its lowlands flattened, lit by the sun of crmss/dataset/spectra.py with the
   cosine model of topographic illumination plus a diffuse sky (Teillet, Guindon and Goodenough
   1982, Can. J. Remote Sens. 8).
2. **Water**: lakes in the lowest ground and meandering rivers a few pixels wide.
3. **Hills**: forest (evergreen conifers high up, broadleaf below) with crown texture on steep or
   high ground, bare rock on the steepest.
4. **Towns** on flat lowland: a street grid around blocks that mix concrete, clay-tile roofs,
   asphalt and greenery at 10 to 20 m, joined by roads.
5. **Farmland** on the rest: districts of parcels (strips 100 to 400 m wide, cut into fields)
   sown with winter wheat, summer maize, rice or left fallow, field margins of grass between
   them; each crop's leaf area and senescence on the scene's day follow its calendar
   (:data:`CROP_CALENDARS`).

Every layout parameter is drawn from the seed within ranges stated where it is defined; they are
our choices, made to give the sizes real features have at 10 m (field widths, river and road
widths, town sizes), not measurements. tests/dataset/test_land.py checks the outcome against
what is known of real imagery: the visible bands correlated with each other, red and NIR not,
and a power spectrum falling as natural images' do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree

from ..core.bands import ALL_BANDS
from .spectra import CANOPY, LAI, MATERIALS, SOIL, SUN_AZIMUTH, SUN_ZENITH, to_toa

#: the land-cover classes of :attr:`Land.cover`
CLASSES = (
    "water",
    "conifer forest",
    "broadleaf forest",
    "grass",
    "winter wheat",
    "summer maize",
    "rice",
    "bare soil",
    "concrete",
    "roof tiles",
    "asphalt",
)
WATER, CONIFER, BROADLEAF, GRASS, WHEAT, MAIZE, RICE, BARE, CONCRETE, ROOF, ASPHALT = range(11)
#: each class's group, as :class:`Landscape` states fractions: water, vegetation, soil, built-up
GROUPS = np.array([0, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3], np.uint8)
VEGETATION = (CONIFER, BROADLEAF, GRASS, WHEAT, MAIZE, RICE)

#: (day of year, leaf area index, senescent share of the leaves) through each crop's year in the
#: northern hemisphere, as the North China Plain and the Yangtze plain grow them (winter wheat
#: sown in October, green from March, harvested in June; maize sown after it, harvested in
#: September; rice transplanted into flooded paddies in June): typical calendars, our choice
CROP_CALENDARS = {
    WHEAT: ((0, 0.8, 0.3), (60, 0.8, 0.3), (110, 4.5, 0.0), (135, 5.0, 0.0), (150, 3.0, 0.7),
            (160, 0.3, 1.0), (285, 0.0, 0.0), (300, 0.3, 0.0), (330, 0.8, 0.1), (365, 0.8, 0.3)),
    MAIZE: ((0, 0.0, 0.0), (165, 0.0, 0.0), (190, 1.0, 0.0), (220, 4.0, 0.0), (240, 4.0, 0.1),
            (260, 2.5, 0.8), (275, 0.0, 0.0), (365, 0.0, 0.0)),
    RICE: ((0, 0.0, 0.0), (150, 0.0, 0.0), (170, 0.5, 0.0), (210, 5.0, 0.0), (240, 5.0, 0.1),
           (265, 3.0, 0.8), (280, 0.2, 1.0), (290, 0.0, 0.0), (365, 0.0, 0.0)),
}  # fmt: skip
#: the crops a field is sown with, in the order a field's draw picks them
CROPS = np.array([WHEAT, MAIZE, RICE], np.uint8)
#: :data:`CANOPY` as arrays: (len(LAI), 13) per leaf state
_CANOPY = {state: np.array(rows) for state, rows in CANOPY.items()}
#: the days rice paddies stand flooded (water between the young plants)
PADDY_FLOODED = (140, 185)
#: Hurst exponent of the relief: natural terrain's is 0.7 to 0.9 (its power spectrum falls as
#: 1 / f ** (2 + 2 H))
HURST = 0.8
#: the share of the sky's diffuse light in the illumination of a flat surface
DIFFUSE = 0.15


@dataclass(frozen=True)
class Landscape:
    """What a synthetic tile's surface is made of: the fractions of water, bare soil and built-up
    land (vegetation is the rest), how green its natural vegetation is (``greenness``, 1: growing
    season, 0: dormant), the ``day`` of the year its crops are at (northern hemisphere's
    calendar: a southern scene's day is shifted by half a year) and its ``relief`` in metres
    (0: a plain)."""

    water: float = 0.08
    soil: float = 0.12
    built: float = 0.12
    greenness: float = 1.0
    day: int = 196
    relief: float = 400.0


class Land:
    """The land of a ``size`` x ``size`` px scene at 10 m, laid out from ``rng``.

    Attributes:
        cover: (size, size) uint8 class per pixel (:data:`CLASSES`).
        vigour: (size, size) float32 leaf area scale of vegetation and brightness of the rest
            (1 on average): differences between fields and texture within them.
        direct: (size, size) float32 direct sunlight on each pixel's slope against flat ground
            (the cosine of the sun's incidence over the cosine of its zenith; 0 on slopes facing
            away from the sun: the terrain casts no shadows).
        moisture: (size, size) float32 share of wet soil in bare soil's spectrum.
        lai: (len(CLASSES),) leaf area index of each class on the scene's day.
        senescent: (len(CLASSES),) senescent share of each class's leaves.
    """

    def __init__(self, size: int, landscape: Landscape, rng: np.random.Generator):
        self.size, self.landscape = size, landscape
        height = _terrain(size, rng)  # 0 to 1
        elevation = np.float32(landscape.relief) * height
        self.direct = _direct_sun(elevation)
        slope = _slope_degrees(elevation)
        del elevation
        cover = np.full((size, size), GRASS, np.uint8)
        self.vigour = np.ones((size, size), np.float32)
        hills = _hills(cover, self.vigour, height, slope, rng)
        farmland = max(0.2, 1 - hills - landscape.built - landscape.water)
        _farmland(cover, self.vigour, min(0.9, landscape.soil / farmland), rng)
        towns = _towns(cover, height, slope, landscape.built, rng)
        _roads(cover, towns, rng)
        _water(cover, height, landscape.water, rng)
        self.vigour *= 1 + 0.06 * _fbm(size, (16, 4), 0.5, rng)
        self.cover = cover
        self.moisture = np.clip(0.4 + 0.25 * _fbm(size, (256, 64), 0.8, rng), 0, 1)
        self.lai, self.senescent = _season(landscape)

    def groups(self) -> np.ndarray:
        """(size, size) uint8 group of each pixel: 0 water, 1 vegetation, 2 soil, 3 built-up."""
        return GROUPS[self.cover]

    def surface(self, band: str, sunlit: np.ndarray | None = None) -> np.ndarray:
        """(size, size) float32 surface reflectance of ``band`` at 10 m as lit: the diffuse sky's
        share everywhere, the direct sun's by the slope and, where ``sunlit`` (size, size) says,
        dimmed by a cloud between the pixel and the sun (its shadow)."""
        index = ALL_BANDS.index(band)
        fixed = np.zeros(len(CLASSES), np.float32)  # the classes of one spectrum
        for name, cls in (
            ("water", WATER),
            ("concrete", CONCRETE),
            ("roof tiles", ROOF),
            ("asphalt", ASPHALT),
        ):
            fixed[cls] = MATERIALS[name][index]
        reflectance = fixed[self.cover] * self.vigour
        soil = self.moisture * SOIL["wet"][index] + (1 - self.moisture) * SOIL["dry"][index]
        bare = self.cover == BARE
        reflectance[bare] = soil[bare] * self.vigour[bare]
        reflectance += self._canopy(index)
        direct = self.direct if sunlit is None else self.direct * sunlit
        return reflectance * ((1 - DIFFUSE) * direct + DIFFUSE)

    def toa(self, band: str, sunlit: np.ndarray | None = None) -> np.ndarray:
        """(size, size) float32 TOA reflectance of ``band`` at 10 m under a clear sky (but for a
        cloud's shadow, ``sunlit``: see :meth:`surface`)."""
        return to_toa(self.surface(band, sunlit), band)

    def _canopy(self, index: int) -> np.ndarray:
        """The vegetation's reflectance of band ``index`` (0 elsewhere): PROSAIL's canopy at the
        pixel's leaf area index, green and senescent leaves mixed; young rice in its flooded
        paddy mixed with water."""
        vegetated = np.isin(self.cover, VEGETATION)
        cover = self.cover[vegetated]
        lai = self.lai[cover] * self.vigour[vegetated]
        senescent = self.senescent[cover]
        green = np.interp(lai, LAI, _CANOPY["green"][:, index]).astype(np.float32)
        brown = np.interp(lai, LAI, _CANOPY["senescent"][:, index]).astype(np.float32)
        canopy = (1 - senescent) * green + senescent * brown
        flooded = _flooded(self.landscape.day) * np.clip(1 - lai / 3, 0, 1) * (cover == RICE)
        canopy = (1 - flooded) * canopy + flooded * MATERIALS["water"][index]
        reflectance = np.zeros(self.cover.shape, np.float32)
        reflectance[vegetated] = canopy
        return reflectance


def _fbm(size: int, scales: tuple[int, int], hurst: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32 fractional Brownian noise, zero mean and unit variance: octaves of
    bilinearly interpolated white noise from ``scales[0]`` down to ``scales[1]`` px, each octave's
    amplitude its scale ** ``hurst``."""
    largest, smallest = scales
    field = np.zeros((size, size), np.float32)
    scale = largest
    while scale >= smallest:
        field += np.float32(scale**hurst) * _octave(size, scale, rng)
        scale //= 2
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


def _octave(size: int, scale: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32 white noise on a grid ``scale`` px apart, bilinearly interpolated:
    as two small matrix products where the grid is coarse, by ``ndimage.zoom`` where it is fine
    (which would interpolate a margin of up to 2 ``scale`` px for nothing)."""
    nodes = size // scale + 2
    coarse = rng.standard_normal((nodes, nodes)).astype(np.float32)
    if nodes > 64:
        return ndimage.zoom(coarse, scale, order=1, prefilter=False)[:size, :size]
    position = np.arange(size, dtype=np.float32) / scale
    weights = np.maximum(0, 1 - np.abs(position[:, None] - np.arange(nodes, dtype=np.float32)))
    return weights @ coarse @ weights.T


def _terrain(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32 height from 0 (the lowest ground) to 1 (the highest): fractional
    Brownian terrain whose lowest 40 % is flattened into plains."""
    terrain = _fbm(size, (2048, 16), HURST, rng)
    plain = np.quantile(terrain[::7, ::7], 0.4)
    terrain = np.where(terrain > plain, terrain - plain, 0.15 * (terrain - plain))
    terrain -= terrain.min()
    return (terrain / max(float(terrain.max()), 1e-6)).astype(np.float32)


def _slope_degrees(elevation: np.ndarray) -> np.ndarray:
    rows, cols = np.gradient(elevation, 10.0)
    return np.degrees(np.arctan(np.hypot(rows, cols))).astype(np.float32)


def _direct_sun(elevation: np.ndarray) -> np.ndarray:
    """(size, size) float32 direct sunlight on each pixel against flat ground: the cosine of the
    sun's incidence on the slope over the cosine of its zenith, 0 on slopes facing away."""
    rows, cols = np.gradient(elevation, 10.0)
    east, north = cols, -rows  # rows run south
    zenith, azimuth = math.radians(SUN_ZENITH), math.radians(SUN_AZIMUTH)
    sun = (
        math.sin(zenith) * math.sin(azimuth),
        math.sin(zenith) * math.cos(azimuth),
        math.cos(zenith),
    )
    incidence = (-east * sun[0] - north * sun[1] + sun[2]) / np.sqrt(1 + east**2 + north**2)
    return (np.maximum(incidence, 0) / math.cos(zenith)).astype(np.float32)


def _unit_hash(*keys: np.ndarray | int) -> np.ndarray:
    """A uniform number in [0, 1) for each combination of integer ``keys`` (broadcast): the same
    keys give the same number (SplitMix64's finaliser)."""
    value = np.full(np.broadcast_shapes(*map(np.shape, keys)), 0x9E3779B97F4A7C15, np.uint64)
    with np.errstate(over="ignore"):  # the hash multiplies modulo 2 ** 64
        for key in keys:
            value = (value ^ np.asarray(key, np.int64).astype(np.uint64)) * np.uint64(
                0xBF58476D1CE4E5B9
            )
            value ^= value >> np.uint64(31)
        value *= np.uint64(0x94D049BB133111EB)
    value ^= value >> np.uint64(29)
    return (value >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)


def _rotated(
    size: int,
    angle: float,
    origin: tuple[float, float] = (0.0, 0.0),
    rows: slice = slice(None),
    cols: slice = slice(None),
):
    """(along, across) px coordinates of the pixels of ``rows`` and ``cols`` in axes turned by
    ``angle`` radians about ``origin`` (row, column)."""
    row = np.arange(size, dtype=np.float32)[rows, None] - np.float32(origin[0])
    col = np.arange(size, dtype=np.float32)[None, cols] - np.float32(origin[1])
    return _turned(row, col, np.float32(math.cos(angle)), np.float32(math.sin(angle)))


def _turned(row, col, cos, sin):
    """(along, across) of positions (``row``, ``col``) in axes turned by the angle of ``cos``
    and ``sin``."""
    return col * cos + row * sin, row * cos - col * sin


def _box(size: int, points: list[tuple[float, float]], margin: float) -> tuple[slice, slice]:
    """The rows and columns of the scene within ``margin`` px of the box around ``points``."""
    rows, cols = zip(*points)
    first = [max(0, int(min(v) - margin)) for v in (rows, cols)]
    last = [min(size, int(max(v) + margin) + 1) for v in (rows, cols)]
    return slice(first[0], last[0]), slice(first[1], last[1])


#: rows of the scene laid out at a time where the layout takes many full-size arrays
BLOCK_ROWS = 1024


def _farmland(
    cover: np.ndarray, vigour: np.ndarray, fallow: float, rng: np.random.Generator
) -> None:
    """Lay fields where ``cover`` is still grass: districts (1.5 to 4 km squares of one
    orientation) cut into strips 10 to 40 px wide and fields 20 to 80 px long, each field one
    crop or (a share ``fallow`` of them) bare soil, a grass margin of one pixel between fields;
    each field's own vigour (0.75 to 1.15)."""
    district, base, key = rng.uniform(150, 400), rng.uniform(0, math.pi), int(rng.integers(1 << 30))
    for first in range(0, cover.shape[0], BLOCK_ROWS):
        rows = slice(first, first + BLOCK_ROWS)
        along, across = _rotated(cover.shape[0], base, rows=rows)
        cell = (
            np.floor(along / district).astype(np.int64),
            np.floor(across / district).astype(np.int64),
        )
        # each district turned up to 17 degrees from the base, its own strip width and field length
        turn = (_unit_hash(key, *cell) - 0.5) * 0.6
        width = 10 + 30 * _unit_hash(key + 1, *cell)
        length = 20 + 60 * _unit_hash(key + 2, *cell)
        u = along * np.cos(turn) + across * np.sin(turn)
        v = across * np.cos(turn) - along * np.sin(turn)
        strip = np.floor(u / width)
        shifted = v / length + _unit_hash(key + 3, *cell, strip.astype(np.int64))
        field = (*cell, strip.astype(np.int64), np.floor(shifted).astype(np.int64))
        chance = _unit_hash(key + 4, *field)
        sown = CROPS[np.clip((chance - fallow) / (1 - fallow) * 3, 0, 2.999).astype(np.int64)]
        block = np.where(chance < fallow, BARE, sown)
        block[(u - strip * width < 1) | (shifted - field[-1] < 1 / length)] = GRASS  # margins
        free = cover[rows] == GRASS
        cover[rows] = np.where(free, block, cover[rows])
        vigour[rows] *= np.where(free, 0.75 + 0.4 * _unit_hash(key + 5, *field), 1)


def _hills(
    cover: np.ndarray,
    vigour: np.ndarray,
    height: np.ndarray,
    slope: np.ndarray,
    rng: np.random.Generator,
) -> float:
    """Forest on ground steeper than 8 degrees or in the highest 15 % (conifers in the highest
    half of the forest, broadleaf below, mixed along a noisy line), patches of woodland in the
    lowland, bare rock steeper than 40 degrees; crowns 2 to 4 px across vary the vigour by a
    quarter. Returns the share of the scene they cover."""
    size = cover.shape[0]
    patches = _fbm(size, (256, 32), 0.7, rng) > 1.4
    high = height > np.quantile(height[::7, ::7], 0.85)
    forest = (slope > 8) | high | patches
    line = np.quantile(height[forest][::7], 0.5) if forest.any() else 0.0
    mixed = height + 0.1 * (line + 1) * _fbm(size, (128, 16), 0.7, rng)
    cover[forest] = np.where(mixed[forest] > line, CONIFER, BROADLEAF)
    crowns = _fbm(size, (4, 2), 0.3, rng)
    vigour[forest] *= 1 + 0.25 * crowns[forest]
    rock = slope > 40
    cover[rock] = BARE
    return float((forest | rock).mean())


def _towns(
    cover: np.ndarray,
    height: np.ndarray,
    slope: np.ndarray,
    built: float,
    rng: np.random.Generator,
) -> list[tuple[float, float]]:
    """Towns covering about ``built`` of the scene on its flattest lowland: discs 0.8 to 3 km
    across with ragged edges, a street grid 8 to 12 px apart, blocks mixing concrete (45 %), clay
    tiles (25 %), asphalt (10 %) and greenery (20 %) in 2 x 2 px lots. Returns the centres (row,
    column)."""
    size = cover.shape[0]
    if built <= 0:
        return []
    area = built / 0.8 * size * size  # a fifth of a town's lots are green
    radius = min(rng.uniform(40, 150), math.sqrt(area / math.pi))
    count = max(1, round(area / (math.pi * radius**2)))
    flat = (slope < 3) & (height < np.quantile(height[::7, ::7], 0.6))
    candidates = np.argwhere(flat[::16, ::16]) * 16
    if not len(candidates):
        candidates = np.argwhere(np.ones((size // 16 + 1,) * 2, bool)) * 16
    picked = candidates[rng.integers(len(candidates), size=count)]
    centres = [(float(row), float(col)) for row, col in picked]
    ragged = radius * (1 + 0.25 * _fbm(size, (64, 8), 0.7, rng))
    town = np.zeros(cover.shape, bool)
    for row, col in centres:
        window = _box(size, [(row, col)], float(ragged.max()))
        ys = np.arange(size, dtype=np.float32)[window[0], None]
        xs = np.arange(size, dtype=np.float32)[None, window[1]]
        town[window] |= np.hypot(ys - row, xs - col) < ragged[window]
    spacing, angle, key = (
        rng.uniform(8, 12),
        rng.uniform(0, math.pi / 2),
        int(rng.integers(1 << 30)),
    )
    rows, cols = np.nonzero(town)  # the town's pixels alone: a tile's towns hold a fraction of it
    along, across = _turned(rows, cols, math.cos(angle), math.sin(angle))
    lots = _unit_hash(key, (along // 2).astype(np.int64), (across // 2).astype(np.int64))
    materials = np.select(
        [lots < 0.45, lots < 0.70, lots < 0.80], [CONCRETE, ROOF, ASPHALT], GRASS
    ).astype(np.uint8)
    materials[(np.mod(along, spacing) < 1) | (np.mod(across, spacing) < 1)] = ASPHALT  # streets
    cover[rows, cols] = materials
    return centres


def _line_distance(
    size: int,
    start: tuple[float, float],
    angle: float,
    bend: tuple[float, float],
    rng: np.random.Generator,
    window: tuple[slice, slice] = (slice(None), slice(None)),
    length: float = math.inf,
) -> np.ndarray:
    """float32 distance in px of the pixels of ``window`` (rows, columns) from a line that leaves
    ``start`` (row, column) at ``angle`` (both ways when ``length`` is infinite), bent sideways by
    a smooth random curve of (amplitude, wavelength) px: a cubic spline through random offsets
    half a wavelength apart. Pixels beyond the ends of a finite line are infinitely far."""
    along, across = _rotated(size, angle, start, *window)
    amplitude, wavelength = bend
    nodes = np.arange(-2 * size - wavelength, 2 * size + wavelength, wavelength / 2)
    curve = CubicSpline(nodes, amplitude * rng.standard_normal(len(nodes)))
    distance = np.abs(across - curve(along).astype(np.float32))
    if math.isfinite(length):
        distance[(along < 0) | (along > length)] = np.inf
    return distance


def _roads(cover: np.ndarray, towns: list[tuple[float, float]], rng: np.random.Generator) -> None:
    """Roads 1 to 2 px wide: from each town to its nearest neighbour and one to three across the
    scene, gently bent (amplitude 0 to 10 px over 300 to 900 px)."""
    size = cover.shape[0]
    lines = []
    if len(towns) > 1:
        _, nearest = cKDTree(towns).query(towns, k=2)
        for a, b in sorted({tuple(sorted(pair)) for pair in nearest.tolist()}):
            (r0, c0), (r1, c1) = towns[a], towns[b]
            lines.append(((r0, c0), math.atan2(r1 - r0, c1 - c0), math.dist((r0, c0), (r1, c1))))
    for _ in range(rng.integers(1, 4)):
        start = (rng.uniform(0, size), rng.uniform(0, size))
        lines.append((start, rng.uniform(0, math.pi), math.inf))
    for start, angle, length in lines:
        bend = (rng.uniform(0, 10), rng.uniform(300, 900))
        window = (slice(None), slice(None))
        if math.isfinite(length):  # a town's road: the box around its ends, wide enough to bend
            end = (start[0] + length * math.sin(angle), start[1] + length * math.cos(angle))
            window = _box(size, [start, end], 4 * bend[0] + 2)
        near = _line_distance(size, start, angle, bend, rng, window, length)
        cover[window][near < rng.uniform(0.5, 1.0)] = ASPHALT


def _water(cover: np.ndarray, height: np.ndarray, share: float, rng: np.random.Generator) -> None:
    """About ``share`` of the scene under water: one to three rivers 2 to 25 px wide meandering
    across it (amplitude 30 to 120 px over 300 to 800 px) taking up to three fifths of it, lakes
    in the lowest ground the rest."""
    size = cover.shape[0]
    if share <= 0:
        return
    rivers = int(rng.integers(1, 4))
    width = float(np.clip(0.6 * share * size / (rivers * 1.2), 2, 25))
    water = np.zeros(cover.shape, bool)
    for _ in range(rivers):
        start = (rng.uniform(0, size), rng.uniform(0, size))
        bend = (rng.uniform(30, 120), rng.uniform(300, 800))
        water |= _line_distance(size, start, rng.uniform(0, math.pi), bend, rng) < width / 2
    lakes = max(0.0, share - float(water.mean()))
    if lakes > 0:
        water |= height <= np.quantile(height[::5, ::5], lakes)
    cover[water] = WATER


def _season(landscape: Landscape) -> tuple[np.ndarray, np.ndarray]:
    """(leaf area index, senescent share) of each class on the landscape's day: the crops by their
    calendars, conifers evergreen (LAI 4), broadleaf forest and grass by the greenness."""
    lai, senescent = np.zeros(len(CLASSES)), np.zeros(len(CLASSES))
    green = landscape.greenness
    lai[CONIFER], lai[BROADLEAF], lai[GRASS] = 4.0, 0.5 + 4.5 * green, 0.5 + 2.0 * green
    senescent[BROADLEAF], senescent[GRASS] = 0.9 * (1 - green), 0.8 * (1 - green)
    for crop, calendar in CROP_CALENDARS.items():
        days, leaves, brown = np.array(calendar).T
        lai[crop] = np.interp(landscape.day % 365, days, leaves)
        senescent[crop] = np.interp(landscape.day % 365, days, brown)
    return lai.astype(np.float32), senescent.astype(np.float32)


def _flooded(day: int) -> float:
    """1 while rice paddies stand flooded, else 0."""
    first, last = PADDY_FLOODED
    return 1.0 if first <= day % 365 <= last else 0.0
