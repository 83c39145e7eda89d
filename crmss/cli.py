"""The ``crmss`` command line: a thin argparse layer over the pipeline modules.

Exit status 0 on success, 2 on bad usage or bad input (one message on stderr naming the file
and the fix), 3 when training diverged (a NaN or infinite loss), 1 on an internal error (a
message asking for a bug report; its traceback with ``--verbose``), 130 when interrupted. Without ``--verbose`` (or CRMSS_VERBOSE=1) only crmss's
own lines and progress bars are shown: GDAL's warnings and TensorFlow's log lines are not.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

from osgeo import gdal

from . import __version__
from .errors import CrmssError, DiskFullError, InputError, InternalError
from .raster import COG_COMPRESSIONS
from .tables import CLASSICAL_NAMES, CLOUD_THRESHOLD

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
    prepare.add_argument(
        "--products",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder holding the L1C products as <name>.SAFE folders or <name>.zip / <name>.SAFE.zip files (read in place, never "
        "unpacked), or tile folders of the public bucket (sentinel-s2-l1c: B01.jp2 ..., productInfo.json) at any depth below it",
    )
    prepare.add_argument("--out", required=True, type=Path, metavar="DATA", help="output folder for the patch tree and manifest.json")
    prepare.add_argument(
        "--split",
        type=Path,
        metavar="CSV",
        help="split list in the published WHUS2-CR CSV format (default: the published WHUS2-CR list shipped with crmss)",
    )
    prepare.add_argument(
        "--windows",
        type=Path,
        metavar="CSV",
        help="restrict to these windows: CSV with header 'pair,window' (e.g. 'R075_T50TMK,17'); pairs it does not name are skipped",
    )
    prepare.add_argument("--workers", type=POSITIVE, metavar="N", help="threads for decoding bands and writing patches (default: all cores)")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bars (one line per pair is still printed)")
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
    evaluate.add_argument("--data", required=True, type=Path, metavar="DATA", help="a folder prepared by 'crmss prepare' or 'crmss simulate'")
    evaluate.add_argument(
        "--model",
        required=True,
        nargs="+",
        metavar="RUN",
        help="one or more models, each a run folder of 'python train.py' or a .keras file with the generator's "
        "interface (other deep-learning methods), as NAME=RUN to name it in the tables (default: 'crmss' for "
        "a single model, else the folder's or file's name); a Vis/NIR model is scored on the 10 m bands only",
    )
    evaluate.add_argument("--out", required=True, type=Path, metavar="RESULTS", help="a new folder for the results")
    evaluate.add_argument(
        "--methods",
        nargs="*",
        choices=CLASSICAL_NAMES,
        default=list(CLASSICAL_NAMES),
        metavar="METHOD",
        help="classical methods beside the models: dark_channel_prior (He et al. 2011), hot (the haze-optimised "
        "transform, Zhang et al. 2002); default: both; give the option alone for none",
    )
    evaluate.add_argument(
        "--cloud-threshold",
        type=number(0, 1, high_open=True),
        default=CLOUD_THRESHOLD,
        metavar="R",
        help="a 10 m pixel is cloud-affected where B02 of the cloudy patch exceeds B02 of the clear one by more than "
        f"R reflectance (a 20 m pixel where any of its four is); default {CLOUD_THRESHOLD} (our choice)",
    )
    evaluate.add_argument("--subset", default="test", choices=("test", "train"), help="the prepared subset to evaluate (default test)")
    evaluate.add_argument(
        "--checkpoint",
        default="last",
        choices=("last", "best"),
        help="last: RUN/generator.keras (default); best: RUN/generator_best.keras (best validation PSNR)",
    )
    evaluate.add_argument(
        "--reference",
        type=Path,
        metavar="CSV",
        help="a table in the format of metrics.csv (the pixels column optional: all), e.g. numbers you take from "
        "the paper, its methods named as in these results; shown beside ours with the differences",
    )
    evaluate.add_argument("--batch-size", type=POSITIVE, default=8, metavar="B", help="patches per batch (default 8)")
    evaluate.add_argument("--figures", type=COUNT, default=4, metavar="N", help="sample patches shown in samples.png (default 4; 0 for none)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    predict.add_argument(
        "products",
        nargs="+",
        type=Path,
        metavar="PRODUCT",
        help="L1C products: <name>.SAFE folders (or their MTD_MSIL1C.xml), <name>.zip files, or tile folders of the public "
        "bucket sentinel-s2-l1c (B01.jp2 ... B12.jp2, metadata.xml, productInfo.json, tileInfo.json)",
    )
    predict.add_argument("--model", required=True, type=Path, metavar="RUN", help="the run folder of 'python train.py'")
    predict.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    predict.add_argument(
        "--tile", type=POSITIVE, default=1024, metavar="PX", help="tile side in 10 m px, a multiple of 32 (default 1024; may exceed the scene)"
    )
    predict.add_argument(
        "--overlap", type=COUNT, default=128, metavar="PX", help="overlap of neighbouring tiles in 10 m px, even (default 128; 0 for none)"
    )
    predict.add_argument("--batch-size", type=POSITIVE, metavar="N", help="tiles per model call (default 4 on a GPU, 1 on a CPU)")
    predict.add_argument(
        "--checkpoint", default="last", choices=("last", "best"), help="last: RUN/generator.keras (default); best: RUN/generator_best.keras"
    )
    predict.add_argument("--workers", type=POSITIVE, metavar="N", help="threads decoding bands (default: all cores)")
    predict.add_argument(
        "--compress",
        default="zstd",
        choices=COG_COMPRESSIONS,
        help="lossless codec of the COGs: zstd (default; read by GDAL >= 2.3, QGIS, rasterio, R terra) or deflate "
        "(for tools built without ZSTD; about 4x slower to write, 5%% smaller)",
    )
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    simulate.add_argument("--data", required=True, type=Path, metavar="DATA", help="a folder prepared by 'crmss prepare'")
    simulate.add_argument("--out", required=True, type=Path, metavar="SIM", help="a new folder for the simulated set (never overwritten)")
    simulate.add_argument(
        "--subset", default="test", choices=("test", "train"), help="the prepared subset whose clear patches are used (default test)"
    )
    simulate.add_argument("--seed", type=SEED, default=0, help="seed of the cloud fields (default 0)")
    simulate.add_argument(
        "--thickness",
        type=number(0),
        nargs=2,
        default=(0.1, 1.0),
        metavar=("MIN", "MAX"),
        help="range of each patch's peak optical thickness at 0.55 um (default 0.1 1.0: thin cloud through which "
        "the surface stays visible, transmittance down to 0.37 in B02)",
    )
    simulate.add_argument(
        "--cover",
        type=number(0, 1, low_open=True),
        nargs=2,
        default=(0.3, 1.0),
        metavar=("MIN", "MAX"),
        help="range of the fraction of each patch under the cloud (default 0.3 1.0)",
    )
    simulate.add_argument(
        "--cloud-reflectance",
        type=number(0, 1, low_open=True),
        default=0.56,
        metavar="R",
        help="the cloud's reflectance in B02 (default 0.56, an optically thick water cloud); the other bands keep "
        "the spectrum of crmss/clouds.py (lower in SWIR)",
    )
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    report.add_argument("results", nargs="+", metavar="RESULTS", help="results folders of 'crmss test', each also as LABEL=RESULTS")
    report.add_argument("--out", required=True, type=Path, metavar="TABLES", help="the folder for the merged tables")
    report.add_argument(
        "--reference",
        type=Path,
        metavar="CSV",
        help="a table in the format of metrics.csv (optional columns pixels and evaluation, a LABEL), shown beside "
        "ours with the differences; its methods named as in the results",
    )
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
    demo.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the demo's products/ and data/")
    demo.add_argument(
        "--size",
        type=POSITIVE,
        default=1536,
        metavar="PX",
        help="10 m side of the synthetic tiles in px, a multiple of 6 (default 1536; a real tile is 10980)",
    )
    demo.add_argument("--seed", type=SEED, default=0, help="random seed of the synthetic scenes and of training (default 0)")
    demo.add_argument("--epochs", type=POSITIVE, default=4, help="training epochs of the demo's small model (default 4)")
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
    add = train.add_argument
    add("--data", required=True, type=Path, metavar="DATA", help="a folder prepared by 'crmss prepare'")
    add("--out", required=True, type=Path, metavar="RUN", help="the run folder (created, or continued)")
    add("--epochs", type=POSITIVE, metavar="N", help="total number of epochs (default 100, as in WHUS2-CRv)")
    add("--batch-size", type=POSITIVE, metavar="B", help="patch pairs per step, over all devices (default 1, as in WHUS2-CRv)")
    add("--width", type=POSITIVE, metavar="G", help="generator width gf_dim (default 64, the published CR-MSS; the critic uses the same)")
    add(
        "--bands",
        choices=("all", "visnir"),
        help="all (default): CR-MSS, the 10 m and the 20 m stack in and out; visnir: the paper's ablation without the "
        "VRE/SWIR bands, B02, B03, B04, B08 in and out (our construction, the paper's network was not published: "
        "CR-MSS without its 20 m input branch and 20 m output head; the critic sees the 10 m bands only)",
    )
    add("--lr", type=RATE, metavar="LR", help="Adam learning rate of both networks (default 2e-4, WHUS2-CRv)")
    add("--beta1", type=BETA, help="Adam beta_1 (default 0.5, WHUS2-CRv)")
    add("--beta2", type=BETA, help="Adam beta_2 (default 0.9, WHUS2-CRv)")
    add(
        "--lr-schedule",
        choices=("constant", "cyclic"),
        help="constant (default), or cyclic: WHUS2-CRv's decay, constant for 100k steps, then in cycle n of 100k steps "
        "lr x 0.96^n x 0.98^floor(step in cycle / 100)",
    )
    add("--steps-per-epoch", type=POSITIVE, metavar="S", help="steps per epoch (default: one pass over the training patches)")
    add("--adversarial-weight", type=WEIGHT, metavar="W", help="weight of the least-squares adversarial loss (default 1, CR-GAN-PM)")
    add("--l1-weight", type=WEIGHT, metavar="W", help="weight of L1(G(x), y) per resolution (default 10, WHUS2-CRv)")
    add("--gradient-weight", type=WEIGHT, metavar="W", help="weight of L1 between image-gradient maps per resolution (default 1, WHUS2-CRv)")
    add("--identity-weight", type=WEIGHT, metavar="W", help="weight of L1(G(y), y), the identity term (default 0; WHUS2-CRv used 0.1)")
    add("--identity-gradient-weight", type=WEIGHT, metavar="W", help="weight of the identity term's gradient L1 (default 0; WHUS2-CRv used 0.01)")
    add("--kernel-l2", type=WEIGHT, metavar="W", help="L2 penalty on the generator's kernels (default 0; WHUS2-CRv used 1e-4)")
    add(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="no paired augmentation (default: one random rot90 x k, flip or none per pair, the same for all four stacks)",
    )
    add(
        "--val-pairs",
        type=COUNT,
        metavar="N",
        help="training pairs held out whole for validation, the last N of the manifest (default 1 with 2 or more pairs, else 0)",
    )
    add("--seed", type=SEED, help="random seed of weights, shuffling and augmentation (default 0)")
    add(
        "--mixed-precision",
        action="store_const",
        const=True,
        help="mixed precision: float16 with loss scaling on GPUs, bfloat16 on CPUs (default off)",
    )
    add(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        help="default: one device; mirrored: all local GPUs; multiworker: several machines from TF_CONFIG (default: default)",
    )
    add("--cache", action="store_const", const=True, help="keep decoded patches in memory after the first epoch")
    add("--samples", type=integer(0, 64), metavar="N", help="sample images written to TensorBoard per epoch (default 4)")
    train.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from .training import resolve_options, train

    given = {k: v for k, v in vars(args).items() if k not in ("command", "run", "verbose") and v is not None}
    given["data"], given["out"] = str(given["data"]), str(given["out"])
    train(resolve_options(given))
    return 0


def _run_test(args) -> int:
    from .evaluation import evaluate

    rows = evaluate(
        args.data,
        args.model,
        args.out,
        subset=args.subset,
        checkpoint=args.checkpoint,
        reference=args.reference,
        batch_size=args.batch_size,
        figures=args.figures,
        methods=tuple(args.methods),
        cloud_threshold=args.cloud_threshold,
        progress=not args.no_progress,
    )
    _print_test_summary(rows)
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

    predict_products(
        args.products,
        args.model,
        args.out,
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        checkpoint=args.checkpoint,
        workers=args.workers,
        compress=args.compress,
        progress=not args.no_progress,
    )
    return 0


def _run_simulate(args) -> int:
    from .simulation import CloudParameters, simulate

    for option, (low, high) in (("--thickness", args.thickness), ("--cover", args.cover)):
        if low > high:
            raise InputError(f"{option} {low:g} {high:g}: the minimum exceeds the maximum")
    parameters = CloudParameters(tuple(args.thickness), tuple(args.cover), args.cloud_reflectance, args.seed)
    simulate(args.data, args.out, subset=args.subset, parameters=parameters, progress=not args.no_progress)
    return 0


def _run_report(args) -> int:
    from .tables import merge_evaluations

    merge_evaluations(args.results, args.out, reference=args.reference)
    return 0


def _run_prepare(args) -> int:
    from .preparation import prepare

    manifest = prepare(args.products, args.out, split=args.split, windows=args.windows, workers=args.workers, progress=not args.no_progress)
    _print_prepare_summary(manifest, args.out)
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

    results = run_demo(args.out, size=args.size, seed=args.seed, epochs=args.epochs)
    for label, rows in results.items():
        print(f"{label} test pair:")
        _print_test_summary(rows)
    print(f"merged tables: {args.out / 'tables' / 'report.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
