"""The ``crmss`` command line: a thin argparse layer over the pipeline modules.

Every command's arguments are its options class's fields (crmss/core/options.py): flags, metavars,
choices, help texts and defaults come from there, and the values are checked by the options
class itself, so the command line refuses exactly what the Python API refuses, with the same
message. Exit status 0 on success, 2 on bad usage or bad input (one message on stderr naming
the file and the fix), 3 when training diverged (a NaN or infinite loss), 1 on an internal
error (a message asking for a bug report; its traceback with ``--verbose``), 130 when
interrupted, 143 when terminated (SIGTERM; temporary files are removed first). Without
``--verbose`` (or CRMSS_VERBOSE=1) only crmss's own lines and progress bars are shown: GDAL's
warnings and TensorFlow's log lines are not.

:func:`main` returns the status and leaves the process as it found it (GDAL's error handler,
the SIGTERM handler, the ``crmss`` logger), so a notebook or a test may call it; the console
script, ``python -m crmss``, ``train.py`` and ``test.py`` call :func:`console`, which ends the
process with that status. ``--help`` needs neither GDAL nor TensorFlow: both are imported only
when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .core.errors import CrmssError, InputError, InternalError
from .core.options import (
    CloudParameters,
    DemoOptions,
    EvaluateOptions,
    PredictOptions,
    PrepareOptions,
    ReportOptions,
    ReproduceOptions,
    SimulateOptions,
    TrainOptions,
    describe,
)
from .core.validation import arity_of, bare_type, choices_of, flag_of, speaking_command_line

#: commands that run TensorFlow
TENSORFLOW_COMMANDS = ("train", "test", "predict", "simulate", "demo", "reproduce")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` removes its temporary files."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one crmss command.

    Args:
        argv: the arguments after ``crmss`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 done, 2 bad usage or input, 3 training diverged, 1 an internal error,
        130 interrupted, 143 terminated. ``--help``, ``--version`` and usage errors exit through
        argparse (SystemExit) as usual.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("CRMSS_VERBOSE", "") not in ("", "0")
    # only there may a handler be set
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    messages, level = _show_messages()
    try:
        with _gdal_messages(verbose), speaking_command_line(), _process_state_kept():
            # checked before TensorFlow loads and before anything is written
            options = args.options(args)
            if args.command in TENSORFLOW_COMMANDS:
                load_backend(verbose)
            return args.run(options) or 0
    except InternalError as exc:
        print(
            f"crmss {args.command}: internal error: {exc}\nthis is a bug in crmss, not in your "
            "input: please report it "
            f"with this message and 'crmss --version'",
            file=sys.stderr,
        )
        if verbose:
            raise
        return exc.exit_status
    except CrmssError as exc:
        print(f"crmss {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except Terminated:
        print(
            f"crmss {args.command}: terminated; run the same command again to continue",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(
            f"crmss {args.command}: interrupted; run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    finally:
        logging.getLogger("crmss").removeHandler(messages)
        logging.getLogger("crmss").setLevel(level)
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Give back at the block's end the warning filters and the environment variables that a
    command sets (the backend's quiet start, :func:`load_backend`)."""
    environment = dict(os.environ)
    with warnings.catch_warnings():
        try:
            yield
        finally:
            for name in set(os.environ) - set(environment):
                del os.environ[name]
            os.environ.update(environment)


def _show_messages() -> tuple[logging.Handler, int]:
    """Print crmss's log messages (INFO and above) on stdout, each as it is, for this command;
    return the handler and the logger's level before, for the command's end to restore."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger, level = logging.getLogger("crmss"), logging.getLogger("crmss").level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler, level


def console(argv: list[str] | None = None) -> NoReturn:
    """The ``crmss`` console script (and ``python -m crmss``, ``train.py``, ``test.py``): run
    :func:`main` and end the process with its status.

    A TensorFlow command that failed ends at once (``os._exit``, its messages flushed): what it
    leaves may crash the interpreter as it finalises, an input pipeline's worker threads still
    reading ahead (``terminate called without an active exception``, SIGABRT), or a checkpoint
    that a full disk cut short, still open in HDF5."""
    status = main(argv)
    if status and "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


#: how to install GDAL's Python bindings, for the message of a command run without them
GDAL_INSTALL = (
    "GDAL's Python bindings (osgeo) are not installed: create the environment with "
    "'conda env create -f environment.yml', or on Debian/Ubuntu run 'bash scripts/bootstrap.sh' "
    "(docs/install.md)"
)


@contextlib.contextmanager
def _gdal_messages(verbose: bool) -> Iterator[None]:
    """Within the block GDAL is importable (InputError naming the install route otherwise) and,
    without ``verbose``, its warnings are not printed (its errors still raise: gdal.UseExceptions).
    The quiet handler is GDAL's global one, seen by every thread (a pushed handler is per thread);
    GDAL's default handler is set back at the end (the bindings cannot tell which was set
    before)."""
    try:
        from osgeo import gdal
    except ImportError as exc:
        raise InputError(GDAL_INSTALL) from exc
    if verbose:
        yield
        return
    gdal.SetErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.SetErrorHandler("CPLDefaultErrorHandler")


def load_backend(verbose: bool) -> None:
    """Import Keras and its backend (TensorFlow, or JAX under ``KERAS_BACKEND=jax``) quietly:
    without ``verbose`` TensorFlow's C++ logging is off (unless the user set TF_CPP_MIN_LOG_LEVEL),
    the lines a backend writes to stderr while starting (absl's pre-init notice, CUDA probing on
    machines without a GPU) are held back and shown only if the import fails, and Python
    warnings from TensorFlow, JAX, Keras and absl are hidden. Real errors still reach the user
    as exceptions, which crmss reports in its own words."""
    if verbose:
        _start_backend()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|jax|keras|absl|h5py)(\.|$)")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            _start_backend()
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _start_backend() -> None:
    """Import Keras and its backend (InputError naming the fix where it is missing or not one
    crmss runs on). TensorFlow looks for GPUs here, where its CUDA probing prints, once; JAX's
    GPU client is left to start when a command first needs it, after ``predict`` has asked it
    to share GPU memory with nvImageCodec (XLA_PYTHON_CLIENT_PREALLOCATE, read at its start)."""
    from .nn.backends import gpu_count, on_tensorflow

    if on_tensorflow():
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        gpu_count()


def add_options(parser: argparse.ArgumentParser, options: type, said_only: bool = False) -> None:
    """An argument for every field of the options class ``options`` (a nested options field
    excepted): its flag or positional name, metavar, choices shown, number of values and help
    text from the field; no ``type`` and no ``choices`` check here, the options class checks the
    values. A bool field becomes ``--name`` and ``--no-name``.
    ``said_only`` (train): every default is None, 'not said', so that a continued run keeps its
    config.json values."""
    for field in dataclasses.fields(options):
        kind = bare_type(options, field.name)
        if dataclasses.is_dataclass(kind):
            continue  # a nested options class: its fields are added on their own
        flag, help_text = flag_of(field), describe(options, field.name)
        if kind is bool:
            action = argparse.BooleanOptionalAction
            parser.add_argument(
                flag,
                dest=field.name,
                action=action,
                default=None if said_only else field.default,
                help=help_text,
            )
            continue
        choices = choices_of(options, field.name)
        kwargs: dict[str, Any] = {
            "metavar": field.metadata.get("metavar")
            or ("{" + ",".join(choices) + "}" if choices else None),
            "nargs": field.metadata.get("nargs") or arity_of(options, field.name),
            "help": help_text,
        }
        if flag.startswith("--"):
            required = field.default is dataclasses.MISSING
            kwargs.update(
                dest=field.name,
                required=required,
                default=None if said_only or required else field.default,
            )
        else:
            kwargs["metavar"] = flag
        parser.add_argument(flag if flag.startswith("--") else field.name, **kwargs)


def options_from(
    options: type, args: argparse.Namespace, said_only: bool = False, **given: Any
) -> Any:
    """An ``options`` object from the parsed ``args`` (``said_only``: the values said, as a
    dict), ``given`` overriding; InputError for a value the options refuse."""
    values = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(options) if hasattr(args, f.name)
    }
    values = {**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, **given}
    if said_only:
        return {k: v for k, v in values.items() if v is not None}
    return options(**values)


#: command -> (options class, help, description)
COMMANDS = {
    "prepare": (
        PrepareOptions,
        "cut WHUS2-CR product pairs into the training and testing patch tree",
        "Cut the cloudy/clear L1C product pairs of a split list into georeferenced patches: "
        "DATA/{train,test}/{cloudy,clear}/{10m,20m}/<pair>/<k>.tif (256 px windows of "
        "B02,B03,B04,B08; "
        "128 px windows of B05,B06,B07,B8A,B11,B12; reflectance x 10000 as uint16) and "
        "DATA/manifest.json. "
        "Windows with any no-data pixel in any of a pair's four stacks are dropped. Products are "
        "matched to the list by "
        "their name and checked against the identity their metadata states. Safe to interrupt: "
        "run the same command again and it finishes the work without redoing finished pairs.",
    ),
    "train": (
        TrainOptions,
        "train CR-MSS on a prepared tree (resumable)",
        "Train the CR-MSS generator with a PatchGAN critic on DATA/train. RUN receives "
        "config.json, backup/ "
        "(both networks, both optimisers, the epoch), logs/ (TensorBoard), history.csv, "
        "generator.keras (every "
        "epoch) and generator_best.keras (best validation PSNR). --epochs is the total: run the "
        "same command "
        "again to continue a killed run, or with a larger --epochs to train further; options left "
        "out keep RUN/config.json's "
        "values, options that contradict it are refused. The paper's loss weights and training "
        "recipe were not published with its "
        "code: the defaults come from the same group's public code (CR-GAN-PM, WHUS2-CRv), as "
        "each option says.",
    ),
    "test": (
        EvaluateOptions,
        "evaluate trained generators and classical methods on a prepared subset: metrics, tables, "
        "figures",
        "Run every model on DATA/<subset> (real pairs from 'crmss prepare', or a simulated "
        "testing set from 'crmss "
        "simulate') and score it per band (PSNR, SSIM, RMSE, MAE) and per stack (SAM) against the "
        "clear patches, on "
        "all, cloud-affected and clear pixels, beside the classical methods and the cloudy input "
        "itself. RESULTS "
        "receives the georeferenced predictions, metrics.csv (long format: method, scene, pixels, "
        "band, metric, "
        "value), metrics.json, evaluation.json, report.md and tables.tex (methods x bands, best "
        "marked) and figures; "
        "an existing RESULTS is refused, unless --overwrite replaces the results of an earlier "
        "'crmss test' there.",
    ),
    "predict": (
        PredictOptions,
        "clean whole L1C products into cloud-free 10 m and 20 m Cloud-Optimized GeoTIFFs",
        "Run a trained generator over whole Sentinel-2 L1C products (S2A, S2B or S2C; .SAFE "
        "folders, zips, or tile folders of "
        "the public bucket): for each, "
        "DIR/<product>_CR_10m.tif (B02, B03, B04, B08) and DIR/<product>_CR_20m.tif (B05, B06, "
        "B07, B8A, B11, B12) "
        "(<product>_T<tile>_CR_... for each granule of a product of several tiles; <product> is "
        "the name the product's "
        "metadata states), uint16 TOA reflectance x 10000 without offset, 0 = no data, on the "
        "product's own grid, as COGs. "
        "Overlapping tiles are blended so that no seams show. A product's outputs appear together "
        "or not at all; finished "
        "outputs are skipped; a product that fails is reported and the others still run (exit "
        "status 2 at the end).",
    ),
    "simulate": (
        SimulateOptions,
        "make a simulated testing set: thin cloud from a physical model over the clear patches of "
        "a prepared subset",
        "Give every clear patch pair of DATA/<subset> thin cloud from a single-layer model, "
        "cloudy = clear x t(band) + "
        "cloud reflectance(band) x (1 - t(band)), t = exp(-tau (0.55 um / wavelength)), with one "
        "optical-thickness field "
        "per patch (the 20 m one the 10 m one averaged 2 x 2). SIM becomes a prepared tree (clear "
        "patches copied, "
        "manifest.json with the parameters and seed) for 'crmss test --data SIM'; the clear "
        "patches are the exact truth. "
        "The paper's simulation recipe could not be obtained: the ranges below are our choices. "
        "Deterministic by seed.",
    ),
    "report": (
        ReportOptions,
        "merge evaluations (real and simulated sets, runs with and without VRE/SWIR) into one set "
        "of tables",
        "Read the RESULTS folders of 'crmss test' and write TABLES/report.md, TABLES/tables.tex "
        "(booktabs) and "
        "TABLES/metrics.csv (with an evaluation column): per evaluated data set, methods x bands "
        "tables of every metric on "
        "all, cloud-affected and clear pixels with the best value marked, and the ablation table "
        "where models trained "
        "with and without VRE/SWIR were evaluated on the same data. Evaluations of the same data "
        "are merged (their "
        "models must have distinct names). TABLES may be a new folder or one an earlier report "
        "wrote.",
    ),
    "reproduce": (
        ReproduceOptions,
        "run the paper's whole protocol in one resumable command: prepare, train CR-MSS and its "
        "ablation, simulate, evaluate, tables",
        "Run the paper's protocol into DIR, each stage skipped when done: [a synthetic WHUS2-CR] "
        "-> prepare the published split "
        "(DIR/data) -> train CR-MSS (DIR/runs/crmss) and its Vis/NIR ablation "
        "(DIR/runs/crmss_visnir) -> simulate the testing "
        "set (DIR/simulated) -> evaluate both models (best validation checkpoints) beside the "
        "classical methods and the cloudy "
        "input on the real and the simulated testing set (DIR/results/real, "
        "DIR/results/simulated) -> the merged tables and "
        "the learning curves (DIR/tables). At start it prints the plan, each stage's time "
        "estimated on this machine. "
        "DIR/reproduce.json records every stage's options, versions, timings and state. Run the "
        "same command again to "
        "continue a killed run (training resumes from its checkpoint); a larger --epochs trains "
        "further and redoes the "
        "stages after training; other changed options are refused.",
    ),
    "demo": (
        DemoOptions,
        "run the pipeline and the paper's experiments on small synthetic products, on a CPU",
        "Write three synthetic L1C product pairs with simulated thin cloud (names from the "
        "WHUS2-CR list; zipped, "
        "bucket tile folders, pre-2016 PDMC), prepare them, train a small CR-MSS and its Vis/NIR "
        "ablation, make a simulated "
        "testing set, evaluate both models beside the classical methods on the real and the "
        "simulated test pair, merge the "
        "tables (DIR/tables/report.md), clean the whole cloudy test product, and print a summary.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmss",
        description="CR-MSS thin-cloud removal for Sentinel-2 L1C products (Li et al., Remote "
        "Sens. 2021, 13(1), 157).",
    )
    parser.add_argument("--version", action="version", version=f"crmss {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's and GDAL's own log lines and warnings, and tracebacks of internal "
        "errors "
        "(also: environment variable CRMSS_VERBOSE=1)",
    )
    for name, (options, summary, description) in COMMANDS.items():
        command = commands.add_parser(name, parents=[common], help=summary, description=description)
        add_options(command, options, said_only=name == "train")
        if name == "simulate":
            add_options(command, CloudParameters)
        command.set_defaults(options=OPTIONS[name], run=RUNS[name])
    return parser


def _train_options(args) -> TrainOptions:
    from .nn.runs import run_options  # light: no TensorFlow

    return run_options(**options_from(TrainOptions, args, said_only=True))


OPTIONS = {
    "prepare": lambda args: options_from(PrepareOptions, args),
    "train": _train_options,
    "test": lambda args: options_from(EvaluateOptions, args),
    "predict": lambda args: options_from(PredictOptions, args),
    "simulate": lambda args: options_from(
        SimulateOptions, args, clouds=options_from(CloudParameters, args)
    ),
    "report": lambda args: options_from(ReportOptions, args),
    "demo": lambda args: options_from(DemoOptions, args),
    "reproduce": lambda args: options_from(ReproduceOptions, args),
}


def _run_train(options: TrainOptions) -> None:
    from .nn.training import train

    train(options)


def _run_test(options: EvaluateOptions) -> None:
    from .evaluation.evaluate import evaluate

    _print_test_summary(evaluate(options))


def _print_test_summary(results) -> None:
    """Band means over all scenes and pixels, per method: PSNR, SSIM and SAM at 10 m and 20 m."""
    from .evaluation.results import where

    values = where(results, scene="all", pixels="all").set_index(["method", "band", "metric"])[
        "value"
    ]
    methods = list(dict.fromkeys(results["method"]))
    width = max(20, *(len(m) + 2 for m in methods))
    print(
        f"{'all scenes':<{width}}"
        + "".join(
            f"{h:>10}"
            for h in ("PSNR 10m", "PSNR 20m", "SSIM 10m", "SSIM 20m", "SAM 10m", "SAM 20m")
        )
    )
    for method in methods:
        cells = [
            values.get((method, f"mean_{r}", m))
            for m in ("PSNR", "SSIM", "SAM")
            for r in ("10m", "20m")
        ]
        print(
            f"{method:<{width}}"
            + "".join(f"{'–':>10}" if v is None else f"{v:>10.3f}" for v in cells)
        )


def _run_predict(options: PredictOptions) -> None:
    from .inference.predict import predict_products

    predict_products(options)


def _run_simulate(options: SimulateOptions) -> None:
    from .dataset.simulate import simulate

    simulate(options)


def _run_report(options: ReportOptions) -> None:
    from .evaluation.report import merge_evaluations

    merge_evaluations(options)


def _run_prepare(options: PrepareOptions) -> None:
    from .dataset.prepare import prepare

    _print_prepare_summary(prepare(options), options.out)


def _print_prepare_summary(manifest: dict, out: Path) -> None:
    pairs = manifest["pairs"]
    for subset in ("train", "test"):
        done = [p for p in pairs.values() if p["subset"] == subset]
        print(f"{subset}: {len(done)} pairs, {sum(len(p['windows']) for p in done)} patch pairs")
    if manifest["missing"]:
        print(
            f"{len(manifest['missing'])} pairs of the split list were not found and are skipped "
            f"(see {out / 'manifest.json'})"
        )


def _run_demo(options: DemoOptions) -> None:
    from .protocol.demo import run_demo

    _print_reproduce_summary(run_demo(options))
    print(f"merged tables: {options.out / 'tables' / 'report.md'}")


def _run_reproduce(options: ReproduceOptions) -> None:
    from .protocol.reproduce import reproduce

    _print_reproduce_summary(reproduce(options))


def _print_reproduce_summary(record: dict) -> None:
    """Per testing set, the band means of PSNR and SSIM at 10 m and 20 m of every method."""
    for name, entry in record.get("stages", {}).items():
        if name.startswith("evaluate"):
            print(f"{name[9:]} testing set (band means over all scenes and pixels):")
            print(
                f"{'':<20}"
                + "".join(f"{h:>10}" for h in ("PSNR 10m", "PSNR 20m", "SSIM 10m", "SSIM 20m"))
            )
            for method, values in entry["summary"].items():
                cells = [
                    values.get(f"{m} {r} all") for m in ("PSNR", "SSIM") for r in ("10m", "20m")
                ]
                print(
                    f"{method:<20}"
                    + "".join(f"{'–':>10}" if v is None else f"{v:>10.3f}" for v in cells)
                )


RUNS = {
    "prepare": _run_prepare,
    "train": _run_train,
    "test": _run_test,
    "predict": _run_predict,
    "simulate": _run_simulate,
    "report": _run_report,
    "demo": _run_demo,
    "reproduce": _run_reproduce,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
