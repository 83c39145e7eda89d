"""crmss: CR-MSS thin-cloud removal for Sentinel-2 L1C (Li et al., Remote Sens. 2021, 13(1), 157).

The pipeline, one module per stage: ``safe`` (find L1C products, read their metadata) ->
``raster`` (GDAL reads and atomic GeoTIFF writes) -> ``tiling`` (the 256/128 px window grid)
-> ``prepare`` (the WHUS2-CR tree) -> ``data`` (tf.data input) -> ``model``, ``gan``,
``training`` -> ``evaluation``, ``tables`` -> ``scene`` (whole products). ``synthetic`` writes
realistic L1C products with simulated thin cloud for tests and the demo.

The public API (docs/api.md walks through it): :func:`load_generator`, :func:`clean` (numpy
arrays), :func:`open_product`, and the commands as functions: :func:`prepare`, :func:`train`
(with :class:`TrainOptions`), :func:`evaluate`, :func:`simulate` (with
:class:`CloudParameters`), :func:`report`, :func:`predict`. They are imported on first use, so
``import crmss`` stays light (no TensorFlow until a function needs it).
"""

import importlib

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API = {
    "load_generator": ("model", "load_generator"),
    "clean": ("scene", "clean"),
    "open_product": ("safe", "open_product"),
    "prepare": ("preparation", "prepare"),
    "train": ("training", "train"),
    "TrainOptions": ("training", "TrainOptions"),
    "evaluate": ("evaluation", "evaluate"),
    "simulate": ("simulation", "simulate"),
    "CloudParameters": ("simulation", "CloudParameters"),
    "report": ("tables", "merge_evaluations"),
    "predict": ("scene", "predict_products"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'crmss' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(f"crmss.{module}"), attribute)


def __dir__() -> list[str]:
    return sorted(__all__)
