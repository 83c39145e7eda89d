"""Sentinel-2 MSI bands as CR-MSS uses them (ESA names everywhere).

``ALL_BANDS`` is the order of ``bandId`` 0..12 in the L1C metadata. The CR-MSS stacks are
``BANDS_10M`` (B02, B03, B04, B08) and ``BANDS_20M`` (B05, B06, B07, B8A, B11, B12), in that
order, as in the authors' code; the 60 m bands are not used by the network.
"""

ALL_BANDS = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
BANDS_60M = ("B01", "B09", "B10")
STACKS = {"10m": BANDS_10M, "20m": BANDS_20M}

#: Ground sampling distance in metres of every band.
RESOLUTION = {
    **{b: 10 for b in BANDS_10M},
    **{b: 20 for b in BANDS_20M},
    **{b: 60 for b in BANDS_60M},
}

#: Central wavelength in micrometres (Sentinel-2A, ESA spectral response functions).
WAVELENGTH_UM = {
    "B01": 0.443,
    "B02": 0.490,
    "B03": 0.560,
    "B04": 0.665,
    "B05": 0.705,
    "B06": 0.740,
    "B07": 0.783,
    "B08": 0.842,
    "B8A": 0.865,
    "B09": 0.945,
    "B10": 1.375,
    "B11": 1.610,
    "B12": 2.190,
}

#: The band sets a generator can be trained on: the stacks it takes and returns.
#: ``all`` is CR-MSS; ``visnir`` its ablation without the VRE/SWIR bands (the 10 m stack alone).
BAND_SETS = {"all": ("10m", "20m"), "visnir": ("10m",)}

#: Reflectance of an optically thick water cloud per band (ALL_BANDS order): the spectrum of the
#: thin-cloud model of crmss/dataset/clouds.py (our choice of typical values, not a measurement).
CLOUD_REFLECTANCE = dict(
    zip(ALL_BANDS, (0.56, 0.56, 0.55, 0.55, 0.545, 0.54, 0.535, 0.53, 0.53, 0.22, 0.34, 0.40, 0.30))
)

#: what a granule's band files are named like, as a prepared tree records it: the two forms
#: inside a .SAFE, a tile folder of the public bucket (B02.jp2), a STAC item's assets
BAND_FILE_NAMINGS = ("compact", "long", "bucket", "stac")
