"""What the synthetic land reflects: surface reflectance of its materials per Sentinel-2 band, and
the clear atmosphere that turns it into the top-of-atmosphere (TOA) reflectance of an L1C product.

Where each number comes from:

- Bands: centre and width of Sentinel-2A MSI's bands (ESA, Sentinel-2 User Handbook, Table 1).
- Vegetation (:data:`CANOPY`) and soil (:data:`SOIL`): PROSPECT-5 + 4SAIL (Jacquemoud et al. 2009,
  Remote Sens. Environ. 113, S56-S66) run by ``scripts/spectra.py`` for green and senescent
  leaves (:data:`LEAVES`) at the leaf area indices of :data:`LAI` over a half-wet soil, and the
  dry and wet soil spectra shipped with PROSAIL; each spectrum averaged over the band's centre
  +- half width. Leaf parameters: typical values of the PROSPECT literature (chlorophyll 40 ug/cm2
  for green leaves, 8 with brown pigments for senescent ones), our choice.
- Water and the built materials (:data:`MATERIALS`): our choice, typical shapes rather than
  measurements: water dark and falling to almost nothing in SWIR (liquid water absorbs there);
  asphalt dark, rising slowly with wavelength; concrete bright and flat; clay roof tiles rising
  steeply from green to red (iron oxides).
- Atmosphere (:func:`to_toa`): single scattering of a sea-level molecular atmosphere (Rayleigh
  optical depth of Hansen and Travis 1974, Space Sci. Rev. 16, eq. 2.30) and of a continental
  aerosol (optical depth 0.1 at 550 nm, Angstrom exponent 1.3, Henyey-Greenstein phase function
  with asymmetry 0.7, single-scattering albedo 0.9: typical values, our choice), seen at nadir
  with the sun at :data:`SUN_ZENITH`; water vapour absorbing in B09 and B10 (transmittances our
  choice, so that land is as dark in B10 as real L1C products show it).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.bands import ALL_BANDS

#: ESA's centre and width of each band, nm (Sentinel-2A), in ALL_BANDS order
BAND_WIDTH_NM = {
    "B01": (443, 20),
    "B02": (490, 65),
    "B03": (560, 35),
    "B04": (665, 30),
    "B05": (705, 15),
    "B06": (740, 15),
    "B07": (783, 20),
    "B08": (842, 115),
    "B8A": (865, 20),
    "B09": (945, 20),
    "B10": (1375, 30),
    "B11": (1610, 90),
    "B12": (2190, 180),
}
#: the sun's zenith angle of every synthetic scene, degrees (mid-latitude spring morning)
SUN_ZENITH = 40.0
#: the sun's azimuth, degrees clockwise from north (a descending morning orbit sees it in the
#: south-east)
SUN_AZIMUTH = 150.0
#: the leaf area indices :data:`CANOPY` is tabulated at
LAI = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
#: PROSPECT-5 leaf parameters: structure, chlorophyll and carotenoids (ug/cm2), brown pigments,
#: equivalent water and dry matter (g/cm2)
LEAVES = {
    "green": dict(n=1.5, cab=40.0, car=8.0, cbrown=0.0, cw=0.012, cm=0.009),
    "senescent": dict(n=1.8, cab=8.0, car=4.0, cbrown=1.0, cw=0.004, cm=0.009),
}

# fmt: off
#: surface reflectance of PROSAIL's dry and wet soil per band (ALL_BANDS order)
SOIL = {
    "dry":
        [0.222, 0.2312, 0.2636, 0.3177, 0.3386, 0.3584, 0.3788, 0.4038, 0.4129, 0.4409, 0.4976,
         0.509, 0.4943],
    "wet":
        [0.0262, 0.0252, 0.0286, 0.0384, 0.0432, 0.0504, 0.0574, 0.0684, 0.0724, 0.0883, 0.1369,
         0.1571, 0.1129],
}
#: surface reflectance of a canopy of green or senescent leaves per band, one row per LAI
CANOPY = {
    "green": [
        # LAI 0.0
        [0.1241, 0.1282, 0.1461, 0.178, 0.1909, 0.2044, 0.2181, 0.2361, 0.2426, 0.2646, 0.3172,
         0.3331, 0.3036],
        # LAI 0.25
        [0.0964, 0.1004, 0.1218, 0.1369, 0.1664, 0.2145, 0.2324, 0.2485, 0.2543, 0.2732, 0.3004,
         0.3072, 0.2536],
        # LAI 0.5
        [0.0757, 0.0795, 0.1028, 0.1059, 0.1468, 0.2248, 0.247, 0.2613, 0.2664, 0.2825, 0.2857,
         0.2845, 0.2128],
        # LAI 1.0
        [0.0486, 0.052, 0.0767, 0.0652, 0.1189, 0.2449, 0.2762, 0.2874, 0.2913, 0.3021, 0.2626,
         0.2484, 0.1535],
        # LAI 2.0
        [0.025, 0.0278, 0.0523, 0.0296, 0.0912, 0.2796, 0.3292, 0.3359, 0.3382, 0.3405, 0.2358,
         0.2058, 0.0931],
        # LAI 3.0
        [0.0178, 0.0203, 0.0441, 0.0185, 0.0813, 0.3043, 0.3703, 0.3745, 0.3757, 0.372, 0.2245,
         0.1871, 0.071],
        # LAI 4.0
        [0.0156, 0.018, 0.0415, 0.0151, 0.078, 0.32, 0.3993, 0.4019, 0.4025, 0.3946, 0.2202, 0.1795,
         0.0633],
        # LAI 6.0
        [0.0148, 0.0171, 0.0406, 0.0138, 0.0768, 0.3348, 0.4307, 0.4319, 0.432, 0.4193, 0.2185,
         0.1758, 0.06],
    ],
    "senescent": [
        # LAI 0.0
        [0.1241, 0.1282, 0.1461, 0.178, 0.1909, 0.2044, 0.2181, 0.2361, 0.2426, 0.2646, 0.3172,
         0.3331, 0.3036],
        # LAI 0.25
        [0.0978, 0.1035, 0.1268, 0.1482, 0.1784, 0.2022, 0.2208, 0.2426, 0.2504, 0.273, 0.3138,
         0.3208, 0.2672],
        # LAI 0.5
        [0.0779, 0.0847, 0.1115, 0.125, 0.1682, 0.2007, 0.2237, 0.2492, 0.2584, 0.2818, 0.3114,
         0.31, 0.2364],
        # LAI 1.0
        [0.0519, 0.0597, 0.0904, 0.0932, 0.1533, 0.1992, 0.23, 0.2624, 0.2742, 0.2996, 0.3089,
         0.2929, 0.1901],
        # LAI 2.0
        [0.0291, 0.0375, 0.0704, 0.0636, 0.1381, 0.1995, 0.2414, 0.2858, 0.3022, 0.3327, 0.3104,
         0.2734, 0.14],
        # LAI 3.0
        [0.022, 0.0304, 0.0636, 0.0538, 0.1326, 0.2011, 0.2494, 0.3026, 0.3225, 0.3583, 0.315,
         0.2655, 0.1202],
        # LAI 4.0
        [0.0199, 0.0282, 0.0614, 0.0506, 0.1309, 0.2023, 0.2542, 0.3132, 0.3356, 0.3757, 0.3192,
         0.2627, 0.1129],
        # LAI 6.0
        [0.0191, 0.0275, 0.0608, 0.0496, 0.1306, 0.2039, 0.2585, 0.3231, 0.3479, 0.3935, 0.3242,
         0.262, 0.1098],
    ],
}
# fmt: on

#: surface reflectance of the other materials per band (ALL_BANDS order), our choice (above)
MATERIALS = {
    # B01    B02    B03    B04    B05    B06    B07    B08    B8A    B09    B10    B11    B12
    "water": [
        0.050,
        0.050,
        0.060,
        0.045,
        0.035,
        0.022,
        0.019,
        0.016,
        0.014,
        0.010,
        0.008,
        0.005,
        0.003,
    ],
    "asphalt": [
        0.050,
        0.055,
        0.060,
        0.065,
        0.070,
        0.072,
        0.075,
        0.080,
        0.082,
        0.085,
        0.090,
        0.100,
        0.100,
    ],
    "concrete": [
        0.200,
        0.220,
        0.250,
        0.270,
        0.280,
        0.290,
        0.300,
        0.310,
        0.310,
        0.310,
        0.310,
        0.330,
        0.300,
    ],
    "roof tiles": [
        0.060,
        0.070,
        0.090,
        0.200,
        0.250,
        0.280,
        0.300,
        0.320,
        0.330,
        0.330,
        0.340,
        0.380,
        0.350,
    ],
}

#: aerosol optical depth at 550 nm, Angstrom exponent, asymmetry, single-scattering albedo
AEROSOL = (0.1, 1.3, 0.7, 0.9)
#: water vapour transmittance (sun to ground to sensor) of the bands it absorbs in
WATER_VAPOUR = {"B09": 0.45, "B10": 0.03}


def rayleigh_depth(um: float) -> float:
    """Optical depth of the molecular atmosphere at sea level at ``um`` micrometres (Hansen and
    Travis 1974)."""
    return 0.008569 * um**-4 * (1 + 0.0113 * um**-2 + 0.00013 * um**-4)


def atmosphere(band: str) -> tuple[float, float]:
    """(path reflectance, two-way transmittance) of the clear atmosphere in ``band``: TOA
    reflectance = path + transmittance x surface reflectance (multiple reflections between the
    surface and the atmosphere left out)."""
    um = BAND_WIDTH_NM[band][0] / 1000
    mu_sun = math.cos(math.radians(SUN_ZENITH))
    cos_scattering = -mu_sun  # nadir view: 180 degrees minus the sun's zenith
    tau_r = rayleigh_depth(um)
    depth, angstrom, g, albedo = AEROSOL
    tau_a = depth * (um / 0.55) ** -angstrom
    rayleigh = tau_r * 0.75 * (1 + cos_scattering**2) / (4 * mu_sun)
    phase = (1 - g**2) / (1 + g**2 - 2 * g * cos_scattering) ** 1.5
    aerosol = albedo * tau_a * phase / (4 * mu_sun)
    # direct plus forward-scattered light: half the molecular and (1 - g) / 2 of the aerosol
    # extinction lost, on the sun's path and on the view's
    lost = 0.5 * tau_r + (1 - g) / 2 * tau_a
    transmittance = math.exp(-lost / mu_sun) * math.exp(-lost)
    vapour = WATER_VAPOUR.get(band, 1.0)
    return vapour * (rayleigh + aerosol), vapour * transmittance


def to_toa(surface: np.ndarray, band: str) -> np.ndarray:
    """TOA reflectance of ``band`` over ``surface`` reflectance (any shape, float32)."""
    path, transmittance = atmosphere(band)
    return (path + transmittance * surface).astype(np.float32)


def table(rows: dict[str, list[float]]) -> np.ndarray:
    """(len(rows), 13) float32 of a dict of per-band spectra, in its order."""
    spectra = np.array(list(rows.values()), np.float32)
    assert spectra.shape[-1] == len(ALL_BANDS)
    return spectra
