"""crmss: CR-MSS thin-cloud removal for Sentinel-2 L1C (Li et al., Remote Sens. 2021, 13(1), 157).

The pipeline, one module per stage: ``names``, ``metadata``, ``products``, ``granule`` and
``discovery`` (L1C products in any packaging, known by their content) -> ``raster`` (GDAL; ``gpu_decode``: nvImageCodec on a GPU)
-> ``tiling`` (the 256/128 px window grid) -> ``preparation`` (the WHUS2-CR tree) -> ``data``
(tf.data input) -> ``model``, ``gan``, ``losses``, ``training`` -> ``evaluation`` (its
``results`` a tidy DataFrame), ``tables`` (renderings), ``reporting`` -> ``blending``,
``runner``, ``scene``, ``arrays`` (``clean``) and ``prediction`` (whole products).
``simulation`` and ``reproduce`` run the paper's experiments; ``synthetic`` writes realistic L1C
products with simulated thin cloud for tests and the demo. Messages go to the ``crmss``
logger (``logging``); importing crmss changes nothing global.

The public API (docs/api.md walks through it): :func:`load_generator`, :func:`clean` (numpy
arrays), :func:`open_product`, and the commands as functions, each taking its options as a
frozen dataclass (crmss/options.py, the one home of every default and of the command line's
help texts): :func:`prepare` (:class:`PrepareOptions`), :func:`train` (:class:`TrainOptions`),
:func:`evaluate` (:class:`EvaluateOptions`), :func:`simulate` (:class:`SimulateOptions` with
:class:`CloudParameters`), :func:`report` (:class:`ReportOptions`), :func:`predict`
(:class:`PredictOptions`), :func:`reproduce` (:class:`ReproduceOptions`: the whole protocol).
They are imported on first use, so ``import crmss`` stays light (no TensorFlow until a
function needs it).
"""

import importlib

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API = {
    "load_generator": ("model", "load_generator"),
    "clean": ("arrays", "clean"),
    "open_product": ("products", "open_product"),
    "prepare": ("preparation", "prepare"),
    "PrepareOptions": ("options", "PrepareOptions"),
    "train": ("training", "train"),
    "TrainOptions": ("options", "TrainOptions"),
    "evaluate": ("evaluation", "evaluate"),
    "EvaluateOptions": ("options", "EvaluateOptions"),
    "simulate": ("simulation", "simulate"),
    "SimulateOptions": ("options", "SimulateOptions"),
    "CloudParameters": ("options", "CloudParameters"),
    "report": ("reporting", "merge_evaluations"),
    "ReportOptions": ("options", "ReportOptions"),
    "predict": ("prediction", "predict_products"),
    "PredictOptions": ("options", "PredictOptions"),
    "reproduce": ("reproduce", "reproduce"),
    "ReproduceOptions": ("options", "ReproduceOptions"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'crmss' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(f"crmss.{module}"), attribute)


def __dir__() -> list[str]:
    return sorted(__all__)
