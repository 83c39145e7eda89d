"""Sentinel-2 L1C products and rasters through GDAL: product names and metadata, one type per
packaging (``.SAFE`` folder, zips, PDMC, bucket tile, STAC item), granules, discovery in a
folder, raster reading and Cloud-Optimized GeoTIFF writing, GPU decoding, and the writer of
ESA-format product files. No TensorFlow."""
