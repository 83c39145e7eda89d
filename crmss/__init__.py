"""crmss: CR-MSS thin-cloud removal for Sentinel-2 L1C (Li et al., Remote Sens. 2021, 13(1), 157).

The pipeline, one subpackage per stage, imports running one way (checked by import-linter in
``make lint``)::

    core        bands, errors, files, console, schemas, options, validation, cluster
    io          L1C products in any packaging, known by their content; rasters through GDAL
    dataset     split list, window grid, the prepared tree, preparation, clouds, simulation,
    synthetic
    nn          generator and critic, losses, the GAN, the input pipeline, backends, precision,
                training
    evaluation  metrics, classical baselines, evaluate, results, tables, figures, report
    inference   blending, runner, strips, clean (arrays), predict (products)
    protocol    reproduce (the paper's experiments), demo
    cli         the command line over all of them

Messages go to the ``crmss`` logger (``logging``); importing crmss changes nothing global.

The public API (docs/api.md walks through it): :func:`load_generator`, :func:`clean` (numpy
arrays), :func:`open_product`, and the commands as functions, each taking its options as a
frozen dataclass (crmss/core/options.py, the one home of every default and of the command
line's help texts): :func:`prepare` (:class:`PrepareOptions`), :func:`train`
(:class:`TrainOptions`), :func:`evaluate` (:class:`EvaluateOptions`), :func:`simulate`
(:class:`SimulateOptions` with :class:`CloudParameters`), :func:`report`
(:class:`ReportOptions`), :func:`predict` (:class:`PredictOptions`), :func:`reproduce`
(:class:`ReproduceOptions`: the whole protocol). They are imported on first use, so
``import crmss`` stays light (no TensorFlow until a function needs it); ``__init__.pyi``
shows them to IDEs and type checkers.
"""

import importlib

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API = {
    "load_generator": ("nn.model", "load_generator"),
    "clean": ("inference.clean", "clean"),
    "open_product": ("io.open", "open_product"),
    "prepare": ("dataset.prepare", "prepare"),
    "PrepareOptions": ("core.options", "PrepareOptions"),
    "train": ("nn.training", "train"),
    "TrainOptions": ("core.options", "TrainOptions"),
    "evaluate": ("evaluation.evaluate", "evaluate"),
    "EvaluateOptions": ("core.options", "EvaluateOptions"),
    "simulate": ("dataset.simulate", "simulate"),
    "SimulateOptions": ("core.options", "SimulateOptions"),
    "CloudParameters": ("core.options", "CloudParameters"),
    "report": ("evaluation.report", "merge_evaluations"),
    "ReportOptions": ("core.options", "ReportOptions"),
    "predict": ("inference.predict", "predict_products"),
    "PredictOptions": ("core.options", "PredictOptions"),
    "reproduce": ("protocol.reproduce", "reproduce"),
    "ReproduceOptions": ("core.options", "ReproduceOptions"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'crmss' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(f"crmss.{module}"), attribute)


def __dir__() -> list[str]:
    return sorted(__all__)
