"""crmss: CR-MSS thin-cloud removal for Sentinel-2 L1C (Li et al., Remote Sens. 2021, 13(1), 157).

The pipeline, one module per stage:
``safe`` (find L1C products, read their metadata) -> ``raster`` (GDAL reads and atomic
GeoTIFF writes) -> ``tiling`` (the 256/128 px window grid) -> ``prepare`` (the WHUS2-CR tree).
``synthetic`` writes realistic L1C products with simulated thin cloud for tests and the demo.
"""

__version__ = "0.1.0"
