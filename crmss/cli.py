"""The ``crmss`` command line: a thin argparse layer over the pipeline modules.

Exit status 0 on success, 2 on bad usage or bad input (one message on stderr naming the file
and the fix), 3 when training diverged (a NaN or infinite loss), 1 on an internal error (a
message asking for a bug report; its traceback with ``--verbose``), 130 when interrupted. Without ``--verbose`` (or CRMSS_VERBOSE=1) only crmss's
own lines and progress bars are shown: GDAL's warnings and TensorFlow's log lines are not.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

from osgeo import gdal

from . import __version__
from .errors import CrmssError, DiskFullError, InternalError
from .options import (
    DEVICE_LIST,
    PRECISIONS,
    CloudParameters,
    DemoOptions,
    EvaluateOptions,
    PredictOptions,
    PrepareOptions,
    ReportOptions,
    SimulateOptions,
    TrainOptions,
    describe,
)
from .raster import COG_COMPRESSIONS
from .tables import CLASSICAL_NAMES

#: commands that run TensorFlow
TENSORFLOW_COMMANDS = ("train", "test", "predict", "simulate", "demo")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("CRMSS_VERBOSE", "") not in ("", "0")
    if not verbose:  # GDAL's errors still raise (gdal.UseExceptions); its warnings are not printed
        gdal.SetErrorHandler("CPLQuietErrorHandler")  # for every thread (a pushed handler is per thread)
    try:
        if args.command in TENSORFLOW_COMMANDS:
            load_tensorflow(verbose)
        return args.run(args) or 0
    except InternalError as exc:
        print(
            f"crmss {args.command}: internal error: {exc}\nthis is a bug in crmss, not in your input: please report it "
            f"with this message and 'crmss --version'",
            file=sys.stderr,
        )
        if verbose:
            raise
        return exc.exit_status
    except CrmssError as exc:
        print(f"crmss {args.command}: error: {exc}", file=sys.stderr)
        if isinstance(exc, DiskFullError) and args.command == "train":
            # a checkpoint that the full disk cut short stays open in HDF5, which crashes the
            # process as it closes it at exit: end here, the message given and nothing else to do
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_status)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"crmss {args.command}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130


def integer(low: int, high: int | None = None):
    """argparse type: an integer in [low, high] (high None: no upper bound), with the range in the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {_range(low, high)}")
        return value

    return parse


def number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """argparse type: a finite number in the interval given (open ends excluded), with the interval in the message."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        below = value <= low if low_open else value < low
        above = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or below or above:
            interval = f"{'(' if low_open else '['}{low:g}, {'inf)' if high is None else f'{high:g}' + (')' if high_open else ']')}"
            raise argparse.ArgumentTypeError(f"{text} is not allowed: give a finite number in {interval}")
        return value

    return parse


def _range(low: int, high: int | None) -> str:
    return f"a whole number from {low}" if high is None else f"a whole number from {low} to {high}"


def device_list(text: str) -> str:
    """argparse type: ``all`` or TensorFlow device names separated by commas (checked against
    the machine's devices when the command runs)."""
    if text != "all" and not DEVICE_LIST.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: give 'all' or device names separated by commas, e.g. GPU:0,GPU:1")
    return text


POSITIVE = integer(1)
COUNT = integer(0)
SEED = integer(0, 2**32 - 1)
RATE = number(0, low_open=True)
WEIGHT = number(0)
BETA = number(0, 1, high_open=True)


def load_tensorflow(verbose: bool) -> None:
    """Import TensorFlow quietly: without ``verbose`` its C++ logging is off (unless the user set
    TF_CPP_MIN_LOG_LEVEL), the lines it writes to stderr while starting (absl's pre-init notice,
    CUDA probing on machines without a GPU) are held back and shown only if the import fails,
    and Python warnings from TensorFlow, Keras and absl are hidden. Real errors still reach the
    user as exceptions, which crmss reports in its own words."""
    if verbose:
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl|h5py)(\.|$)")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            tf.config.list_physical_devices("GPU")  # CUDA probing prints here, once per process
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _adder(parser: argparse.ArgumentParser, options: type, defaults: bool = True):
    """``add_argument`` for a field of the dataclass ``options`` (named by the flag or ``dest``):
    its help text, and its default unless ``defaults`` is False (train: an option left out is
    None, 'not said', and keeps the run's config.json value when continuing a run). A
    ``progress`` field becomes ``--no-progress`` at once."""
    fields = {f.name: f for f in dataclasses.fields(options)}
    if "progress" in fields:
        parser.add_argument("--no-progress", dest="progress", action="store_false", help=f"no {describe(options, 'progress')}")

    def add(flag: str, *, dest: str | None = None, help: str | None = None, **kwargs) -> None:
        name = dest or flag.lstrip("-").replace("-", "_")
        default = fields[name].default
        if defaults and default is not dataclasses.MISSING and "action" not in kwargs:
            kwargs["default"] = default
        parser.add_argument(flag, **({"dest": dest} if dest else {}), help=help or describe(options, name), **kwargs)

    return add


def options_from(options: type, args: argparse.Namespace, **given):
    """An ``options`` dataclass from the parsed ``args`` (lists become tuples), ``given`` overriding."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(options) if hasattr(args, f.name)}
    return options(**{**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, **given})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmss",
        description="CR-MSS thin-cloud removal for Sentinel-2 L1C products (Li et al., Remote Sens. 2021, 13(1), 157).",
    )
    parser.add_argument("--version", action="version", version=f"crmss {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's and GDAL's own log lines and warnings, and tracebacks of internal errors "
        "(also: environment variable CRMSS_VERBOSE=1)",
    )

    prepare = commands.add_parser(
        "prepare",
        parents=[common],
        help="cut WHUS2-CR product pairs into the training and testing patch tree",
        description=(
            "Cut the cloudy/clear L1C product pairs of a split list into georeferenced patches: "
            "DATA/{train,test}/{cloudy,clear}/{10m,20m}/<pair>/<k>.tif (256 px windows of B02,B03,B04,B08; "
            "128 px windows of B05,B06,B07,B8A,B11,B12; reflectance x 10000 as uint16) and DATA/manifest.json. "
            "Windows with any no-data pixel in any of a pair's four stacks are dropped. Safe to interrupt: "
            "run the same command again and it finishes the work without redoing finished pairs."
        ),
    )
    option = _adder(prepare, PrepareOptions)
    option("--products", required=True, type=Path, metavar="DIR")
    option("--out", required=True, type=Path, metavar="DATA")
    option("--split", type=Path, metavar="CSV")
    option("--windows", type=Path, metavar="CSV")
    option("--workers", type=POSITIVE, metavar="N")
    prepare.set_defaults(run=_run_prepare)

    _add_train_parser(commands, common)

    evaluate = commands.add_parser(
        "test",
        parents=[common],
        help="evaluate trained generators and classical methods on a prepared subset: metrics, tables, figures",
        description=(
            "Run every model on DATA/<subset> (real pairs from 'crmss prepare', or a simulated testing set from 'crmss "
            "simulate') and score it per band (PSNR, SSIM, RMSE, MAE) and per stack (SAM) against the clear patches, on "
            "all, cloud-affected and clear pixels, beside the classical methods and the cloudy input itself. RESULTS "
            "receives the georeferenced predictions, metrics.csv (long format: method, scene, pixels, band, metric, "
            "value), metrics.json, evaluation.json, report.md and tables.tex (methods x bands, best marked) and figures; "
            "it must not exist yet (nothing is overwritten)."
        ),
    )
    option = _adder(evaluate, EvaluateOptions)
    option("--data", required=True, type=Path, metavar="DATA")
    option("--model", dest="models", required=True, nargs="+", metavar="RUN")
    option("--out", required=True, type=Path, metavar="RESULTS")
    option("--methods", nargs="*", choices=CLASSICAL_NAMES, metavar="METHOD")
    option("--cloud-threshold", type=number(0, 1, high_open=True), metavar="R")
    option("--subset", choices=("test", "train"))
    option("--checkpoint", choices=("last", "best"))
    option("--reference", type=Path, metavar="CSV")
    option("--batch-size", type=POSITIVE, metavar="B")
    option("--precision", choices=PRECISIONS)
    option("--figures", type=COUNT, metavar="N")
    evaluate.set_defaults(run=_run_test)

    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="clean whole L1C products into cloud-free 10 m and 20 m Cloud-Optimized GeoTIFFs",
        description=(
            "Run a trained generator over whole Sentinel-2 L1C products (S2A, S2B or S2C; .SAFE folders, zips, or tile folders of "
            "the public bucket): for each, "
            "DIR/<product>_CR_10m.tif (B02, B03, B04, B08) and DIR/<product>_CR_20m.tif (B05, B06, B07, B8A, B11, B12) "
            "(<product>_T<tile>_CR_... for each granule of a product of several tiles), "
            "uint16 TOA reflectance x 10000 without offset, 0 = no data, on the product's own grid, as COGs. Overlapping "
            "tiles are blended so that no seams show. Finished outputs are skipped; a product that fails is reported and "
            "the others still run (exit status 2 at the end)."
        ),
    )
    option = _adder(predict, PredictOptions)
    option("products", nargs="+", type=Path, metavar="PRODUCT")
    option("--model", required=True, type=Path, metavar="RUN")
    option("--out", required=True, type=Path, metavar="DIR")
    option("--tile", type=POSITIVE, metavar="PX")
    option("--overlap", type=COUNT, metavar="PX")
    option("--batch-size", type=POSITIVE, metavar="N")
    option("--precision", choices=PRECISIONS)
    option("--devices", type=device_list, metavar="LIST")
    option("--checkpoint", choices=("last", "best"))
    option("--workers", type=POSITIVE, metavar="N")
    option("--compress", choices=COG_COMPRESSIONS)
    predict.set_defaults(run=_run_predict)

    simulate = commands.add_parser(
        "simulate",
        parents=[common],
        help="make a simulated testing set: thin cloud from a physical model over the clear patches of a prepared subset",
        description=(
            "Give every clear patch pair of DATA/<subset> thin cloud from a single-layer model, cloudy = clear x t(band) + "
            "cloud reflectance(band) x (1 - t(band)), t = exp(-tau (0.55 um / wavelength)), with one optical-thickness field "
            "per patch (the 20 m one the 10 m one averaged 2 x 2). SIM becomes a prepared tree (clear patches copied, "
            "manifest.json with the parameters and seed) for 'crmss test --data SIM'; the clear patches are the exact truth. "
            "The paper's simulation recipe could not be obtained: the ranges below are our choices. Deterministic by seed."
        ),
    )
    option = _adder(simulate, SimulateOptions)
    option("--data", required=True, type=Path, metavar="DATA")
    option("--out", required=True, type=Path, metavar="SIM")
    option("--subset", choices=("test", "train"))
    option = _adder(simulate, CloudParameters)
    option("--seed", type=SEED)
    option("--thickness", type=number(0), nargs=2, metavar=("MIN", "MAX"))
    option("--cover", type=number(0, 1, low_open=True), nargs=2, metavar=("MIN", "MAX"))
    option("--cloud-reflectance", type=number(0, 1, low_open=True), metavar="R")
    simulate.set_defaults(run=_run_simulate)

    report = commands.add_parser(
        "report",
        parents=[common],
        help="merge evaluations (real and simulated sets, runs with and without VRE/SWIR) into one set of tables",
        description=(
            "Read the RESULTS folders of 'crmss test' and write TABLES/report.md, TABLES/tables.tex (booktabs) and "
            "TABLES/metrics.csv (with an evaluation column): per evaluated data set, methods x bands tables of every metric on "
            "all, cloud-affected and clear pixels with the best value marked, and the ablation table where models trained "
            "with and without VRE/SWIR were evaluated on the same data. Evaluations of the same data are merged (their "
            "models must have distinct names). TABLES may be a new folder or one an earlier report wrote."
        ),
    )
    option = _adder(report, ReportOptions)
    option("results", nargs="+", metavar="RESULTS")
    option("--out", required=True, type=Path, metavar="TABLES")
    option("--reference", type=Path, metavar="CSV")
    report.set_defaults(run=_run_report)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run the pipeline and the paper's experiments on synthetic products (minutes on a laptop CPU)",
        description="Write three synthetic L1C product pairs with simulated thin cloud (names from the WHUS2-CR list; zipped, "
        "bucket tile folders, pre-2016 PDMC), prepare them, train a small CR-MSS and its Vis/NIR ablation, make a simulated "
        "testing set, evaluate both models beside the classical methods on the real and the simulated test pair, merge the "
        "tables (DIR/tables/report.md), clean the whole cloudy test product, and print a summary.",
    )
    option = _adder(demo, DemoOptions)
    option("--out", required=True, type=Path, metavar="DIR")
    option("--size", type=POSITIVE, metavar="PX")
    option("--seed", type=SEED)
    option("--epochs", type=POSITIVE)
    demo.set_defaults(run=_run_demo)
    return parser


def _add_train_parser(commands, common: argparse.ArgumentParser) -> None:
    """``crmss train`` (also ``python train.py``). Options left out keep the run's config.json
    values when continuing a run, else the defaults shown (None in argparse marks 'not said')."""
    train = commands.add_parser(
        "train",
        parents=[common],
        help="train CR-MSS on a prepared tree (resumable)",
        description=(
            "Train the CR-MSS generator with a PatchGAN critic on DATA/train. RUN receives config.json, backup/ "
            "(both networks, both optimisers, the epoch), logs/ (TensorBoard), history.csv, generator.keras (every "
            "epoch) and generator_best.keras (best validation PSNR). --epochs is the total: run the same command "
            "again to continue a killed run, or with a larger --epochs to train further; options that contradict "
            "RUN/config.json are refused. The paper's loss weights and training recipe were not published with its "
            "code: the defaults come from the same group's public code (CR-GAN-PM, WHUS2-CRv), as each option says."
        ),
    )
    add = _adder(train, TrainOptions, defaults=False)
    add("--data", required=True, type=Path, metavar="DATA")
    add("--out", required=True, type=Path, metavar="RUN")
    add("--epochs", type=POSITIVE, metavar="N")
    add("--batch-size", type=POSITIVE, metavar="B")
    add("--width", type=POSITIVE, metavar="G")
    add("--bands", choices=("all", "visnir"))
    add("--lr", type=RATE, metavar="LR")
    add("--beta1", type=BETA)
    add("--beta2", type=BETA)
    add("--lr-schedule", choices=("constant", "cyclic"))
    add("--steps-per-epoch", type=POSITIVE, metavar="S")
    add("--adversarial-weight", type=WEIGHT, metavar="W")
    add("--l1-weight", type=WEIGHT, metavar="W")
    add("--gradient-weight", type=WEIGHT, metavar="W")
    add("--identity-weight", type=WEIGHT, metavar="W")
    add("--identity-gradient-weight", type=WEIGHT, metavar="W")
    add("--kernel-l2", type=WEIGHT, metavar="W")
    add("--no-augment", dest="augment", action="store_const", const=False, help=f"no {describe(TrainOptions, 'augment')}")
    add("--val-pairs", type=COUNT, metavar="N")
    add("--seed", type=SEED)
    add("--mixed-precision", action="store_const", const=True)
    add("--strategy", choices=("default", "mirrored", "multiworker"))
    add("--cache", action="store_const", const=True)
    add("--samples", type=integer(0, 64), metavar="N")
    train.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from .training import resolve_options, train

    given = {k: v for k, v in vars(args).items() if k not in ("command", "run", "verbose") and v is not None}
    given["data"], given["out"] = str(given["data"]), str(given["out"])
    train(resolve_options(given))
    return 0


def _run_test(args) -> int:
    from .evaluation import evaluate

    _print_test_summary(evaluate(options_from(EvaluateOptions, args)))
    return 0


def _print_test_summary(rows) -> None:
    """Band means over all scenes and pixels, per method: PSNR, SSIM and SAM at 10 m and 20 m."""
    values = {(r["method"], r["band"], r["metric"]): r["value"] for r in rows if r["scene"] == "all" and r["pixels"] == "all"}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = max(20, *(len(m) + 2 for m in methods))
    print(f"{'all scenes':<{width}}" + "".join(f"{h:>10}" for h in ("PSNR 10m", "PSNR 20m", "SSIM 10m", "SSIM 20m", "SAM 10m", "SAM 20m")))
    for method in methods:
        cells = [values.get((method, f"mean_{r}", m)) for m in ("PSNR", "SSIM", "SAM") for r in ("10m", "20m")]
        print(f"{method:<{width}}" + "".join(f"{'–':>10}" if v is None else f"{v:>10.3f}" for v in cells))


def _run_predict(args) -> int:
    from .scene import predict_products

    predict_products(options_from(PredictOptions, args))
    return 0


def _run_simulate(args) -> int:
    from .simulation import simulate

    simulate(options_from(SimulateOptions, args, clouds=options_from(CloudParameters, args)))
    return 0


def _run_report(args) -> int:
    from .tables import merge_evaluations

    merge_evaluations(options_from(ReportOptions, args))
    return 0


def _run_prepare(args) -> int:
    from .preparation import prepare

    _print_prepare_summary(prepare(options_from(PrepareOptions, args)), args.out)
    return 0


def _print_prepare_summary(manifest: dict, out: Path) -> None:
    pairs = manifest["pairs"]
    for subset in ("train", "test"):
        done = [p for p in pairs.values() if p["subset"] == subset]
        print(f"{subset}: {len(done)} pairs, {sum(len(p['windows']) for p in done)} patch pairs")
    if manifest["missing"]:
        print(f"{len(manifest['missing'])} pairs of the split list were not found and are skipped (see {out / 'manifest.json'})")


def _run_demo(args) -> int:
    from .demo import run_demo

    for label, rows in run_demo(options_from(DemoOptions, args)).items():
        print(f"{label} test pair:")
        _print_test_summary(rows)
    print(f"merged tables: {args.out / 'tables' / 'report.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
