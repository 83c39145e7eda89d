import numpy as np
from osgeo import gdal, osr

from crmss.core.bands import WAVELENGTH_UM
from crmss.dataset.land import BROADLEAF, CONIFER, GRASS
from crmss.dataset.synthetic import Landscape, Scene, greenness, swath_nodata, to_dn
from crmss.io.open import open_product


def test_thin_cloud_follows_the_physical_model_and_spares_swir():
    scene = Scene(size=384, seed=3)
    t = {b: scene.transmittance(b) for b in ("B02", "B04", "B8A", "B12")}
    cloudy_px = scene.tau > 0.3
    assert 0.5 < (scene.tau > 0).mean() < 0.7 and cloudy_px.mean() > 0.1  # 60 % under cloud
    # transmittance rises with wavelength wherever there is cloud
    assert np.all(t["B02"][cloudy_px] < t["B04"][cloudy_px])
    assert np.all(t["B8A"][cloudy_px] < t["B12"][cloudy_px])
    # cloudy = clear * t + cloud reflectance * (1 - t): blue brightens more than SWIR
    change = {b: np.abs(scene.cloudy(b) - scene.clear(b)).mean() for b in ("B02", "B12")}
    assert change["B02"] > 2 * change["B12"]
    clear_b02 = scene.clear("B02")
    assert scene.cloudy("B02")[cloudy_px].mean() > clear_b02[cloudy_px].mean() + 0.05
    assert WAVELENGTH_UM["B12"] > WAVELENGTH_UM["B02"]


def test_reflectance_and_dn_ranges_are_plausible_and_deterministic():
    a, b = Scene(size=192, seed=5), Scene(size=192, seed=5)
    assert np.array_equal(a.cloudy("B03"), b.cloudy("B03"))
    assert not np.array_equal(a.clear("B03"), Scene(size=192, seed=6).clear("B03"))
    blue, nir = a.clear("B02"), a.clear("B08")
    assert 0.05 < blue.mean() < 0.2 and nir.mean() > blue.mean()
    assert a.clear("B05").shape == (96, 96) and a.clear("B01").shape == (32, 32)
    dn = to_dn(blue, np.zeros(blue.shape, bool), offset=0)
    assert dn.dtype == np.uint16 and 300 < dn.mean() < 2000 and dn.min() >= 1
    assert np.array_equal(to_dn(blue, np.zeros(blue.shape, bool), offset=-1000), dn + 1000)


def test_swath_edge_leaves_a_consistent_nodata_border():
    m10, m20, m60 = (swath_nodata(600, r) for r in (10, 20, 60))
    assert m10.shape == (600, 600) and m20.shape == (300, 300) and m60.shape == (100, 100)
    assert 0.1 < m10.mean() < 0.4 and not m10[:, 0].any() and m10[0, -1]
    assert abs(m10.mean() - m20.mean()) < 0.01


def test_written_products_are_georeferenced_jp2_with_nodata_border(products):
    product = open_product(next(products(0).glob("*20160403*")))
    ds = gdal.Open(product.band_files["B02"])
    assert ds.GetDriver().ShortName == "JP2OpenJPEG"
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    assert srs.GetAuthorityCode(None) == "32650"
    b02 = ds.ReadAsArray()
    assert (b02 == 0).any() and b02[:, 0].all()
    b12 = gdal.Open(product.band_files["B12"])
    assert b12.RasterXSize * 2 == ds.RasterXSize and b12.GetGeoTransform()[1] == 20


def test_land_cover_and_season_follow_the_landscape_and_the_product():
    scene = Scene(
        size=384, seed=3, landscape=Landscape(water=0.2, soil=0.1, built=0.05, greenness=0.0)
    )
    groups = scene.land.groups()
    shares = np.bincount(groups.ravel(), minlength=4) / groups.size
    assert (
        abs(shares[0] - 0.2) < 0.05 and abs(shares[2] - 0.1) < 0.05 and abs(shares[3] - 0.05) < 0.04
    )
    green, dormant = (
        Scene(size=192, seed=3),
        Scene(size=192, seed=3, landscape=Landscape(greenness=0.0)),
    )
    # the natural vegetation (B8A is on the 20 m grid)
    vegetation = np.isin(green.land.cover[::2, ::2], (CONIFER, BROADLEAF, GRASS)) & (
        green.land.cover[::2, ::2] != CONIFER
    )
    # the red edge fades
    assert green.clear("B8A")[vegetation].mean() > dormant.clear("B8A")[vegetation].mean() + 0.05
    # latitude band T: 44 to 52 degrees north
    north = "S2A_MSIL1C_{}T030602_N0201_R075_T50TMK_20160403T031209"
    assert greenness(north.format("20160715")) > 0.95 and greenness(north.format("20160115")) < 0.05
    # band H: 40 to 32 degrees south
    south = "S2A_MSIL1C_{}T030602_N0201_R075_T56HLH_20160403T031209"
    assert greenness(south.format("20160715")) < 0.3 < 0.95 < greenness(south.format("20160115"))
    # band N, at the equator: always green
    assert greenness("S2A_MSIL1C_20160715T030602_N0201_R018_T47NPF_20160715T070148") > 0.95
