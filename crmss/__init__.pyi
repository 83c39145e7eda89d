"""The lazy public API of crmss, as IDEs and type checkers see it (crmss/__init__.py loads each
name on first use; tests/test_api.py checks that the two agree)."""

__version__: str

from .core.options import CloudParameters as CloudParameters
from .core.options import EvaluateOptions as EvaluateOptions
from .core.options import PredictOptions as PredictOptions
from .core.options import PrepareOptions as PrepareOptions
from .core.options import ReportOptions as ReportOptions
from .core.options import ReproduceOptions as ReproduceOptions
from .core.options import SimulateOptions as SimulateOptions
from .core.options import TrainOptions as TrainOptions
from .dataset.prepare import prepare as prepare
from .dataset.simulate import simulate as simulate
from .evaluation.evaluate import evaluate as evaluate
from .evaluation.report import merge_evaluations as report
from .inference.clean import clean as clean
from .inference.predict import predict_products as predict
from .io.open import open_product as open_product
from .nn.model import load_generator as load_generator
from .nn.training import train as train
from .protocol.reproduce import reproduce as reproduce

__all__ = [
    "__version__",
    "load_generator",
    "clean",
    "open_product",
    "prepare",
    "PrepareOptions",
    "train",
    "TrainOptions",
    "evaluate",
    "EvaluateOptions",
    "simulate",
    "SimulateOptions",
    "CloudParameters",
    "report",
    "ReportOptions",
    "predict",
    "PredictOptions",
    "reproduce",
    "ReproduceOptions",
]
