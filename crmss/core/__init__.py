"""The vocabulary and guarantees every stage uses: bands, errors, files, the console, the
schemas of the files crmss reads, the options of every command and their validation, and the
Dask cluster runner. Pure Python: no TensorFlow, no GDAL."""
