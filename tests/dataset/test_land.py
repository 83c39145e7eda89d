"""The synthetic land (crmss/dataset/land.py) and its clouds: statistics of real imagery, the
structures of 10 m scenes, the crops' calendars, relief shading, cloud textures and shadows."""

import math

import numpy as np
import pytest
from scipy import ndimage

from crmss.core.bands import ALL_BANDS
from crmss.dataset import spectra
from crmss.dataset.clouds import cloud_layer, sunlit, sunlit_band
from crmss.dataset.land import (
    ASPHALT,
    GRASS,
    MAIZE,
    RICE,
    WATER,
    WHEAT,
    Land,
    Landscape,
)
from crmss.dataset.synthetic import Scene, crop_day
from crmss.evaluation.spectrum import spectral_slope


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def summer():
    """A hilly midsummer scene without cloud, 768 px."""
    return Scene(768, seed=1, cloud_cover=0.0, landscape=Landscape(relief=800))


def test_the_bands_correlate_as_in_real_vegetated_scenes(summer):
    """Visible bands move together (atmosphere, soil brightness), the red edge and NIR bands
    almost as one, B11 with B12 (both follow water and soil), while red and NIR part over
    vegetation (the red edge): the structure every band-correlation matrix of Sentinel-2 land
    shows, and what the tasselled cap (Kauth and Thomas 1976) rests on."""
    b10 = {band: summer.clear(band) for band in ("B02", "B03", "B04", "B08")}
    b20 = {band: summer.clear(band) for band in ("B07", "B8A", "B11", "B12")}
    assert _correlation(b10["B02"], b10["B03"]) > 0.9
    assert _correlation(b10["B03"], b10["B04"]) > 0.85
    assert _correlation(b20["B07"], b20["B8A"]) > 0.95
    assert _correlation(b20["B11"], b20["B12"]) > 0.8
    assert _correlation(b10["B04"], b10["B08"]) < 0.3


def test_the_power_spectrum_falls_as_natural_images_do(summer):
    """Power falling with spatial frequency as 1 / f ** 2 within a few tenths (natural scenes
    1.9 to 2.1: van der Schaaf and van Hateren 1996, Vision Res. 36; Field 1987), not the flat
    spectrum of noise nor the steep one of smooth blobs."""
    for band in ("B04", "B08"):
        assert -2.6 < spectral_slope(summer.clear(band)) < -1.7, band


def test_a_scene_has_fields_roads_rivers_and_towns_at_their_sizes():
    land = Land(768, Landscape(water=0.1, soil=0.1, built=0.1), np.random.default_rng(4))
    cover = land.cover
    # fields: runs of one crop 50 to 800 m long along the rows, between one-pixel margins
    rows = cover[::50]
    starts = np.flatnonzero(np.diff(rows, axis=1).ravel() != 0)
    lengths, kinds = np.diff(starts), np.delete(rows, -1, axis=1).ravel()[starts[1:]]
    assert 5 < np.median(lengths[np.isin(kinds, (WHEAT, MAIZE, RICE))]) < 80
    assert 0.02 < (cover == GRASS).mean() < 0.3
    # roads and streets: asphalt, thin (few pixels with asphalt on all four sides)
    asphalt = cover == ASPHALT
    inside = asphalt[1:-1, 1:-1] & asphalt[:-2, 1:-1] & asphalt[2:, 1:-1]
    inside &= asphalt[1:-1, :-2] & asphalt[1:-1, 2:]
    assert asphalt.mean() > 0.002 and inside.mean() < 0.2 * asphalt.mean()
    # water: rivers a few pixels wide joined to lakes, about the share asked
    assert abs((cover == WATER).mean() - 0.1) < 0.03
    built = np.isin(land.groups(), 3).mean()
    assert 0.05 < built < 0.15


def test_the_crops_follow_their_calendars():
    """Winter wheat green in April and harvested by August; maize and rice the reverse."""
    ndvi = {}
    for day in (110, 225):
        land = Land(384, Landscape(day=day), np.random.default_rng(2))
        red, nir = land.toa("B04"), land.toa("B08")
        index = (nir - red) / (nir + red)
        ndvi[day] = {crop: float(np.median(index[land.cover == crop])) for crop in (WHEAT, MAIZE)}
    assert ndvi[110][WHEAT] > 0.6 > 0.3 > ndvi[225][WHEAT]
    assert ndvi[225][MAIZE] > 0.6 > 0.3 > ndvi[110][MAIZE]
    flooded = Land(384, Landscape(day=160), np.random.default_rng(2))
    rice = flooded.cover == RICE
    assert flooded.toa("B12")[rice].mean() < 0.5 * flooded.toa("B12")[flooded.cover == MAIZE].mean()
    # the southern hemisphere's crops are half a year later
    assert crop_day("S2A_MSIL1C_20160415T030602_N0201_R075_T50TMK_20160415T031209") == 106
    assert crop_day("S2A_MSIL1C_20160415T030602_N0201_R075_T56HLH_20160415T031209") == 288


def test_slopes_facing_the_sun_are_brighter_and_a_plain_is_flat():
    hilly = Land(384, Landscape(relief=1500), np.random.default_rng(5))
    plain = Land(384, Landscape(relief=0), np.random.default_rng(5))
    assert np.all(plain.direct == 1)
    assert hilly.direct.max() > 1.2 and hilly.direct.min() < 0.5
    toa = hilly.toa("B08")
    assert np.mean(toa[hilly.direct > 1.1]) > 1.2 * np.mean(toa[hilly.direct < 0.7])


def _edge(tau: np.ndarray) -> float:
    """The median thickness of the cloud's outer 3 pixels over its peak."""
    cloud = tau > 0
    return float(np.median(tau[cloud & ~ndimage.binary_erosion(cloud, iterations=3)]) / tau.max())


@pytest.mark.parametrize("seed", [0, 1])
def test_cloud_textures_cover_what_they_are_asked(seed):
    tau = {
        kind: cloud_layer(512, np.random.default_rng(seed), kind, 0.5, 1.0)
        for kind in ("haze", "cumulus", "cirrus")
    }
    for kind, layer in tau.items():
        assert abs((layer > 0).mean() - 0.5) < 0.05 and layer.max() <= 1.0, kind
    # cirrus: streaks, longer along one axis than across
    cirrus = tau["cirrus"]
    lagged = [
        _correlation(cirrus[:, :-40], cirrus[:, 40:]),
        _correlation(cirrus[:-40], cirrus[40:]),
    ]
    assert max(lagged) > 0.9 and min(lagged) < max(lagged) - 0.1
    # cumulus: thick right inside its edges, where haze thins out
    assert _edge(tau["cumulus"]) > 2 * _edge(tau["haze"])


def test_a_cloud_casts_its_shadow_away_from_the_sun():
    tau = np.zeros((300, 300), np.float32)
    tau[140:160, 140:160] = 1.0
    light = sunlit(tau, height=1000.0)  # 84 px away: 42 west and 73 north of the cloud
    reach = 1000 * math.tan(math.radians(spectra.SUN_ZENITH)) / 10
    rows, cols = np.nonzero(light < 1)
    assert abs(rows.mean() - (150 + reach * math.cos(math.radians(spectra.SUN_AZIMUTH)))) < 1
    assert abs(cols.mean() - (150 - reach * math.sin(math.radians(spectra.SUN_AZIMUTH)))) < 1
    assert light.min() == pytest.approx(math.exp(-1 / math.cos(math.radians(40))), rel=1e-5)
    # a shadow beyond the scene, no cloud at all, and a shadow's depth by wavelength
    assert np.all(sunlit(np.ones((200, 200), np.float32), height=9000.0) == 1)
    for kind in ("haze", "cumulus", "cirrus"):
        assert not cloud_layer(256, np.random.default_rng(0), kind, 0.0, 1.0).any()
    assert sunlit_band(light, "B02").min() < sunlit_band(light, "B12").min() < 1
    # in a scene: the shadow outside the cloud is darker than the clear date, by about the
    # direct light it lost
    scene = Scene(384, seed=2, cloud_cover=0.3, max_thickness=1.0, clouds="cumulus")
    shadow = (scene.sunlit < 0.6) & (scene.tau == 0)
    assert shadow.mean() > 0.005
    assert scene.cloudy("B08")[shadow].mean() < 0.8 * scene.clear("B08")[shadow].mean()


def test_water_is_dark_in_swir_and_the_atmosphere_brightens_blue_most():
    land = Land(384, Landscape(water=0.2), np.random.default_rng(1))
    water = land.cover == WATER
    assert land.toa("B12")[water].max() < 0.01 and land.toa("B02")[water].mean() > 0.08
    path = [spectra.atmosphere(band)[0] for band in ALL_BANDS]
    assert path[ALL_BANDS.index("B01")] > path[ALL_BANDS.index("B02")] > 0.05
    assert path[ALL_BANDS.index("B12")] < 0.002


def test_the_tables_are_what_prosail_gives():
    """crmss/dataset/spectra.py's tables as scripts/spectra.py derives them from PROSAIL (run
    where the prosail package is installed: it needs numba, which the test environment leaves
    out)."""
    pytest.importorskip("prosail")
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parents[2] / "scripts" / "spectra.py"
    module_spec = importlib.util.spec_from_file_location("spectra_script", script)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    for state, leaves in spectra.LEAVES.items():
        for lai, row in zip(spectra.LAI, spectra.CANOPY[state]):
            assert module.band_means(module.canopy(leaves, lai)) == row
    soils = module.prosail.spectral_lib.soil
    assert module.band_means(soils.rsoil1) == spectra.SOIL["dry"]
    assert module.band_means(soils.rsoil2) == spectra.SOIL["wet"]
