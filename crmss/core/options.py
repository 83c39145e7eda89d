"""The options of every command as frozen dataclasses: the one home of their defaults, their
meaning and their rules.

The functions of the public API take these (``crmss.predict(PredictOptions(...))``); the command
line only parses its arguments into them. Each field's type annotation is its rule
(crmss/core/validation.py): choices are ``Literal`` types, ranges ``Interval`` constraints, paths
that must exist ``Exists``; every options object checks its fields on construction and its
cross-field rules in ``_check``, raising :class:`~crmss.core.errors.InputError` whose message names
the field and its value as the caller gave it (``tile=100: out of range; give a whole number from 64
to 16384, a multiple of 32`` from Python, ``--tile 100: ...`` on the command line). The command
line's ``--help`` texts are the fields' ``help`` metadata with ``{default}`` filled from the field
(:func:`describe`), its choices the ``Literal`` types'. Values may be given as the command line's
text (``"5"`` for 5): they are parsed as the command line parses them. This module imports neither
TensorFlow nor GDAL.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from .bands import CLOUD_REFLECTANCE, STACKS
from .errors import InputError, optional_module
from .validation import Exists, Interval, Matches, argument, check_fields, shown

#: ``--precision``: the type the generator computes in (crmss/nn/precision.py)
Precision = Literal["auto", "float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
#: the classical methods (crmss/evaluation/classical.py), as the tables and ``--methods`` name them
ClassicalMethod = Literal["dark_channel_prior", "hot"]
CLASSICAL_NAMES: tuple[str, ...] = typing.get_args(ClassicalMethod)
#: ``--compress``: the lossless codecs of the COGs
Compression = Literal["zstd", "deflate"]
COG_COMPRESSIONS: tuple[str, ...] = typing.get_args(Compression)
Checkpoint = Literal["last", "best"]
Subset = Literal["test", "train"]
#: what ``--devices`` accepts besides ``all``: TensorFlow device names separated by commas
DEVICE_LIST = re.compile(r"(CPU|GPU):\d+(,(CPU|GPU):\d+)*")
Devices = Annotated[
    str,
    Matches(
        f"all|{DEVICE_LIST.pattern}",
        "give 'all' or device names separated by commas, e.g. GPU:0,GPU:1",
    ),
]
#: where ``--scheduler`` runs the work: a LocalCluster, the address in DASK_SCHEDULER_ADDRESS, or a
#: scheduler's address
Scheduler = Annotated[
    str,
    Matches(
        r"local|env|(tcp|tls|ws|wss)://\S+",
        "give local, env or a Dask scheduler's address such as tcp://host:8786",
    ),
]
#: a method's name in tables and on the command line (NAME=RUN), an evaluation's label
#: (LABEL=RESULTS)
METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*")


def named_path(spec: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` (a model's or an evaluation's name, then its path) as (NAME, PATH); a bare
    ``PATH`` as (None, PATH)."""
    name, equals, path = spec.partition("=")
    return (name, Path(path)) if equals and METHOD_NAME.fullmatch(name) else (None, Path(spec))


#: the bands a model is trained on: all ten, or the Vis/NIR ablation's four (crmss/core/bands.py:
#: BAND_SETS)
Bands = Literal["all", "visnir"]


#: default of ``--cloud-threshold`` (our choice): the B02 reflectance by which a cloud-affected
#: pixel of the cloudy patch is brighter than the clear one (crmss/evaluation/metrics.py has the
#: mask)
CLOUD_THRESHOLD = 0.02
#: what ``--mask`` of predict and ``mask=`` of crmss.clean default to (docs/cleaned-scenes.md)
MASK_DEFAULT = "haze"

Seed = Annotated[int, Interval(0, 2**32 - 1)]
#: the rules of the training options that ``crmss reproduce`` passes on (one home for both classes)
Epochs = Annotated[int, Interval(1, 100_000)]
BatchSize = Annotated[int, Interval(1, 256)]
Width = Annotated[int, Interval(1, 256)]
Head = Literal["sigmoid", "residual"]
LearningRate = Annotated[float, Interval(0, 1, low_open=True)]
StepsPerEpoch = Annotated[int, Interval(1, 10_000_000)] | None
Strategy = Literal["default", "mirrored", "multiworker"]
Workers = Annotated[int, Interval(1, 1024)]
Weight = Annotated[float, Interval(0, 1e6)]
Folder = Annotated[Path, Exists("folder")]
File = Annotated[Path, Exists("file")]

PRECISION_HELP = (
    "the type the generator computes in: auto (default) picks bfloat16 on CPUs with native "
    "bfloat16 (AVX512_BF16 or "
    "AMX) and on GPUs of compute capability 8.0 or more, float16 on GPUs of compute capability "
    "7.x, else float32; "
    "variables, the output layers, scaling and blending stay float32. The choice is printed and "
    "recorded with the "
    "outputs (BENCHMARKS.md compares the precisions)"
)


def option(
    help: str,
    default: Any = dataclasses.MISSING,
    *,
    flag: str | None = None,
    metavar: str | tuple[str, ...] | None = None,
    nargs: str | None = None,
) -> Any:
    """A dataclass field with its help text (``{default}`` stands for the default) and how the
    command line shows it: ``flag`` (default ``--name-with-dashes``; a metavar alone for a
    positional argument), ``metavar``, and ``nargs`` where it is not the type's."""
    metadata = {"help": help, "flag": flag, "metavar": metavar, "nargs": nargs}
    return field(default=default, metadata={k: v for k, v in metadata.items() if v is not None})


def describe(options: type, name: str) -> str:
    """The help text of field ``name`` of ``options``, its default filled in, escaped for
    argparse."""
    chosen = {f.name: f for f in dataclasses.fields(options)}[name]
    return chosen.metadata["help"].format(default=shown(chosen.default)).replace("%", "%%")


def same_as(options: type, name: str) -> Any:
    """Field ``name`` of ``options`` again (default, help text, flag), for a command that passes
    it on."""
    chosen = {f.name: f for f in dataclasses.fields(options)}[name]
    return field(default=chosen.default, metadata=chosen.metadata)


class Checked:
    """Base of the options classes: fields converted and checked on construction, then the
    class's cross-field rules (``_check``)."""

    def __post_init__(self) -> None:
        check_fields(self)
        self._check()

    def _check(self) -> None:
        """Rules between fields; InputError where one is broken."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator's loss terms (crmss/nn/losses.py); defaults as in the group's
    WHUS2-CRv code, with the identity terms and the kernel penalty off (that code used 0.1,
    0.01, 1e-4)."""

    adversarial: float = 1.0
    l1: float = 10.0
    gradient: float = 1.0
    identity: float = 0.0
    identity_gradient: float = 0.0
    kernel_l2: float = 0.0


@dataclass(frozen=True)
class PrepareOptions(Checked):
    """``crmss prepare``: cut WHUS2-CR product pairs into the patch tree.

    Example:
        ``crmss.prepare(crmss.PrepareOptions(products="L1C", out="data"))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    products: Folder = option(
        "folder holding the L1C products as <name>.SAFE folders or <name>.zip / <name>.SAFE.zip "
        "files (read in place, never "
        "unpacked), tile folders of the public bucket (sentinel-s2-l1c: B01.jp2 ..., "
        "productInfo.json), or STAC items and "
        "ItemCollections (.json, their assets read in place) at any depth below it",
        metavar="DIR",
    )
    out: Path = option("output folder for the patch tree and manifest.json", metavar="DATA")
    split: File | None = option(
        "split list in the published WHUS2-CR CSV format (default: the published WHUS2-CR list "
        "shipped with crmss)",
        None,
        metavar="CSV",
    )
    windows: File | None = option(
        "restrict to these windows: CSV with header 'pair,window' (e.g. 'R075_T50TMK,17'); pairs "
        "it does not name are skipped",
        None,
        metavar="CSV",
    )
    workers: Workers | None = option(
        "threads for decoding bands and writing patches (default: all cores)", None, metavar="N"
    )
    progress: bool = option("progress bars (one line per pair is printed either way)", True)
    scheduler: Scheduler | None = option(
        "prepare the pairs on a Dask cluster, one task per pair: local (a LocalCluster on this "
        "machine), env (the scheduler "
        "in DASK_SCHEDULER_ADDRESS) or a scheduler's address (tcp://host:8786); DATA must be a "
        "folder every worker writes "
        "(checked first). Without it the pairs are prepared here, one after another",
        None,
        metavar="ADDRESS",
    )


@dataclass(frozen=True)
class TrainOptions(Checked):
    """``crmss train`` / ``train.py``: every option of a run.

    Its defaults come from the same group's public code (CR-GAN-PM, WHUS2-CRv), as each help
    text says: the paper's recipe was not published. Continuing a run takes the options of its
    config.json (``crmss.nn.training.run_options`` fills in what is not said).

    Example:
        ``crmss.train(crmss.TrainOptions(data="data", out="runs/crmss", epochs=100))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    data: Folder = option("a folder prepared by 'crmss prepare'", metavar="DATA")
    out: Path = option("the run folder (created, or continued)", metavar="RUN")
    epochs: Epochs = option(
        "total number of epochs (default {default}, as in WHUS2-CRv)", 100, metavar="N"
    )
    batch_size: BatchSize = option(
        "patch pairs per step, over all devices (default {default}, as in WHUS2-CRv); refused "
        "where it cannot fit in memory",
        1,
        metavar="B",
    )
    width: Width = option(
        "generator width gf_dim (default {default}, the published CR-MSS; the critic uses the "
        "same); refused where it cannot fit in memory",
        64,
        metavar="G",
    )
    bands: Bands = option(
        "all (default): CR-MSS, the 10 m and the 20 m stack in and out; visnir: the paper's "
        "ablation without the "
        "VRE/SWIR bands, B02, B03, B04, B08 in and out (our construction, the paper's network was "
        "not published: "
        "CR-MSS without its 20 m input branch and 20 m output head; the critic sees the 10 m "
        "bands only)",
        "all",
    )
    head: Head = option(
        "the generator's output layers. sigmoid (default): the published CR-MSS, y = "
        "sigmoid(conv(features)); residual "
        "(our option, not the paper's): y = sigmoid(logit(x) + conv(features)), the conv starting "
        "at zero, so the generator "
        "starts as the identity on its cloudy input and learns a correction (docs/study.md: which "
        "bands each improves)",
        "sigmoid",
    )
    lr: LearningRate = option(
        "Adam learning rate of both networks (default {default}, WHUS2-CRv)", 2e-4, metavar="LR"
    )
    beta1: Annotated[float, Interval(0, 1, high_open=True)] = option(
        "Adam beta_1 (default {default}, WHUS2-CRv)", 0.5
    )
    beta2: Annotated[float, Interval(0, 1, high_open=True)] = option(
        "Adam beta_2 (default {default}, WHUS2-CRv)", 0.9
    )
    lr_schedule: Literal["constant", "cyclic"] = option(
        "constant (default), or cyclic: WHUS2-CRv's decay, constant for 100k steps, then in cycle "
        "n of 100k steps "
        "lr x 0.96^n x 0.98^floor(step in cycle / 100)",
        "constant",
    )
    steps_per_epoch: StepsPerEpoch = option(
        "steps per epoch (default: one pass over the training patches)", None, metavar="S"
    )
    adversarial_weight: Weight = option(
        "weight of the least-squares adversarial loss (default {default}, CR-GAN-PM)",
        LossWeights.adversarial,
        metavar="W",
    )
    l1_weight: Weight = option(
        "weight of L1(G(x), y) per resolution (default {default}, WHUS2-CRv)",
        LossWeights.l1,
        metavar="W",
    )
    gradient_weight: Weight = option(
        "weight of L1 between image-gradient maps per resolution (default {default}, WHUS2-CRv)",
        LossWeights.gradient,
        metavar="W",
    )
    identity_weight: Weight = option(
        "weight of L1(G(y), y), the identity term (default {default}; WHUS2-CRv used 0.1)",
        LossWeights.identity,
        metavar="W",
    )
    identity_gradient_weight: Weight = option(
        "weight of the identity term's gradient L1 (default {default}; WHUS2-CRv used 0.01)",
        LossWeights.identity_gradient,
        metavar="W",
    )
    kernel_l2: Weight = option(
        "L2 penalty on the generator's kernels (default {default}; WHUS2-CRv used 1e-4)",
        LossWeights.kernel_l2,
        metavar="W",
    )
    augment: bool = option(
        "paired augmentation: one random rot90 x k, flip or none per pair, the "
        "same for all four stacks",
        True,
    )
    val_pairs: Annotated[int, Interval(0, 10_000)] | None = option(
        "training pairs held out whole for validation, the last N of the manifest (default 1 with "
        "2 or more pairs, else 0)",
        None,
        metavar="N",
    )
    seed: Seed = option("random seed of weights, shuffling and augmentation (default {default})", 0)
    mixed_precision: bool = option(
        "mixed precision (default off): bfloat16 on GPUs of compute capability 8.0 or more "
        "(Ampere, Hopper) and on "
        "CPUs, float16 with dynamic loss scaling on older GPUs; variables and the output layers "
        "stay float32. On a "
        "CPU it is faster only with native bfloat16 (AVX512_BF16 or AMX); elsewhere it is "
        "emulated and much slower "
        "(BENCHMARKS.md)",
        False,
    )
    strategy: Strategy = option(
        "default: one device; mirrored: all local GPUs; multiworker: several machines from "
        "TF_CONFIG (default: {default})",
        "default",
    )
    cache: bool = option("keep decoded patches in memory after the first epoch", False)
    samples: Annotated[int, Interval(0, 64)] = option(
        "sample images written to TensorBoard per epoch (default {default})", 4, metavar="N"
    )

    #: options that may differ between the runs that make up one training
    FREE = ("data", "out", "epochs", "strategy", "cache", "samples")

    def _check(self) -> None:
        if self.adversarial_weight == self.l1_weight == self.gradient_weight == 0:
            weights = ", ".join(
                argument(name, 0.0)
                for name in ("adversarial_weight", "l1_weight", "gradient_weight")
            )
            raise InputError(
                f"{weights}: the generator would learn nothing; give one of them a positive weight"
            )

    def loss_weights(self) -> LossWeights:
        return LossWeights(
            self.adversarial_weight,
            self.l1_weight,
            self.gradient_weight,
            self.identity_weight,
            self.identity_gradient_weight,
            self.kernel_l2,
        )


@dataclass(frozen=True)
class EvaluateOptions(Checked):
    """``crmss test``: score models and classical methods on a prepared subset.

    Example:
        ``crmss.evaluate(crmss.EvaluateOptions(data="data", models=("runs/crmss",),
        out="results"))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    data: Folder = option(
        "a folder prepared by 'crmss prepare' or 'crmss simulate'", metavar="DATA"
    )
    models: tuple[str, ...] = option(
        "one or more models, each a run folder of 'python train.py' or a .keras file with the "
        "generator's "
        "interface (other deep-learning methods), as NAME=RUN to name it in the tables (default: "
        "'crmss' for "
        "a single model, else the folder's or file's name); a Vis/NIR model is scored on the 10 m "
        "bands only",
        flag="--model",
        metavar="RUN",
    )
    out: Path = option("a new folder for the results", metavar="RESULTS")
    methods: tuple[ClassicalMethod, ...] = option(
        "classical methods beside the models: dark_channel_prior (He et al. 2011), hot (the "
        "haze-optimised "
        "transform, Zhang et al. 2002); default: {default}; give the option alone for none",
        CLASSICAL_NAMES,
        metavar="METHOD",
        nargs="*",
    )
    cloud_threshold: Annotated[float, Interval(0, 1, high_open=True)] = option(
        "a 10 m pixel is cloud-affected where B02 of the cloudy patch exceeds B02 of the clear "
        "one by more than "
        "R reflectance (a 20 m pixel where any of its four is); default {default} (our choice)",
        CLOUD_THRESHOLD,
        metavar="R",
    )
    mask: Literal["none", "haze"] = option(
        "none (default): the models' raw output, as the paper's experiments score it; haze: "
        "each model's output where crmss's thin-cloud measure finds cloud in the cloudy patch, "
        "blended into the input elsewhere, as 'crmss predict' writes it",
        "none",
    )
    subset: Subset = option("the prepared subset to evaluate (default {default})", "test")
    checkpoint: Checkpoint = option(
        "last: RUN/generator.keras (default); best: "
        "RUN/generator_best.keras (best validation PSNR)",
        "last",
    )
    overwrite: bool = option(
        "replace the results of an earlier 'crmss test' in RESULTS (a folder holding metrics.csv) "
        "once the new ones are "
        "complete; without it an existing RESULTS is refused",
        False,
    )
    reference: File | None = option(
        "a table in the format of metrics.csv (the pixels column optional: all), e.g. numbers you "
        "take from "
        "the paper, its methods named as in these results; shown beside ours with the differences",
        None,
        metavar="CSV",
    )
    batch_size: Annotated[int, Interval(1, 256)] = option(
        "patches per batch (default {default})", 8, metavar="B"
    )
    precision: Precision = option(PRECISION_HELP, "auto")
    figures: Annotated[int, Interval(0, 64)] = option(
        "sample patches shown in samples.png (default {default}; 0 for none)", 4, metavar="N"
    )
    progress: bool = option("progress bar", True)

    def _check(self) -> None:
        if not self.models:
            raise InputError(
                f"{argument('models', owner=EvaluateOptions)}: give one or more "
                "models (run folders or .keras files)"
            )
        for spec in self.models:
            if not named_path(spec)[1].exists():
                raise InputError(
                    f"{argument('models', spec, EvaluateOptions)}: no such run "
                    "folder or .keras file"
                )
        if len(set(self.methods)) < len(self.methods):
            raise InputError(f"{argument('methods', self.methods)}: a method named twice")


@dataclass(frozen=True)
class PredictOptions(Checked):
    """``crmss predict``: clean whole L1C products into cloud-free COGs.

    Example:
        ``crmss.predict(crmss.PredictOptions(products=("S2A_MSIL1C_....SAFE",), model="runs/crmss",
        out="clean"))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    products: tuple[str, ...] = option(
        "L1C products: <name>.SAFE folders (or their MTD_MSIL1C.xml), <name>.zip files, tile "
        "folders of the public "
        "bucket sentinel-s2-l1c (B01.jp2 ... B12.jp2, metadata.xml, productInfo.json, "
        "tileInfo.json), or STAC items and "
        "ItemCollections as .json files or http(s) URLs (Earth Search's sentinel-2-l1c; bands "
        "read where the assets lie)",
        flag="PRODUCT",
    )
    model: Annotated[Path, Exists("any")] = option(
        "the run folder of 'python train.py'", metavar="RUN"
    )
    out: Path = option("output folder", metavar="DIR")
    tile: Annotated[int, Interval(64, 16384, multiple=32)] = option(
        "tile side in 10 m px, a multiple of 32 (default {default}; may exceed the scene)",
        1024,
        metavar="PX",
    )
    overlap: Annotated[int, Interval(0, 8192, multiple=2)] = option(
        "overlap of neighbouring tiles in 10 m px, even, at most half the tile (default "
        "{default}; 0 for none)",
        128,
        metavar="PX",
    )
    batch_size: Annotated[int, Interval(1, 64)] | None = option(
        "tiles per model call and device (default 4 on a GPU, 1 on a CPU)", None, metavar="N"
    )
    precision: Precision = option(PRECISION_HELP, "auto")
    devices: Devices = option(
        "all (default): every local GPU, one copy of the model on each, the tiles of each strip "
        "dealt among them (the "
        "CPU where there is no GPU); or TensorFlow device names separated by commas, e.g. "
        "GPU:0,GPU:2. The outputs "
        "do not depend on the number of devices",
        "all",
        metavar="LIST",
    )
    checkpoint: Checkpoint = option(
        "last: RUN/generator.keras (default); best: RUN/generator_best.keras", "last"
    )
    workers: Workers | None = option(
        "threads decoding bands with GDAL (default: all cores)", None, metavar="N"
    )
    decoder: Literal["auto", "gdal", "gpu"] = option(
        "JPEG2000 decoder: auto (default): on the GPU with nvImageCodec where it is installed "
        "(pip install 'crmss[gpu]') and "
        "finds a GPU, a product's bands in one batch, else GDAL; gdal: GDAL (OpenJPEG) on the "
        "CPU's cores, strip by strip; "
        "gpu: nvImageCodec, refused where it is missing or finds no GPU. Both give the same pixels",
        "auto",
    )
    compress: Compression = option(
        "lossless codec of the COGs: zstd (default; read by GDAL >= 2.3, QGIS, rasterio, R terra) "
        "or deflate "
        "(for tools built without ZSTD; slower to write, slightly smaller)",
        "zstd",
    )
    stacks: Literal["all", "10m"] = option(
        "all (default): every stack the generator makes, 10 m and 20 m; 10m: the 10 m output "
        "alone, for users who keep the "
        "product's own 20 m bands (the 20 m input is still read: CR-MSS uses it to clean the 10 m "
        "bands)",
        "all",
    )
    mask: str = option(
        "where the network's output is taken. haze (default): where crmss's thin-cloud measure "
        "(Fmask's HOT test, docs/cleaned-scenes.md) finds cloud, blended over 80 m into the input, "
        "which clear pixels keep exactly; none: the network's output everywhere (as the paper's "
        "experiments score it); s2cloudless: where Sinergise's detector, trained on real L1C "
        "pixels, finds cloud (ten bands, B01, B09 and B10 too; pip install "
        "'crmss[s2cloudless]'); or the path of a mask raster in any coordinate system, resampled "
        "to each product's grid: its non-zero pixels are cloud-affected (OmniCloudMask's classes, "
        "a 0/1 mask), 0.5 or more in a floating-point raster (a cloud probability), classes 3, 8, "
        "9 and 10 in an L2A scene classification named *SCL*. The weights are written beside the "
        "outputs as <product>_CR_mask.tif (percent of the network's output, 40 m)",
        MASK_DEFAULT,
        metavar="SOURCE",
    )
    overwrite: bool = option(
        "replace outputs that another model or other options made (each output records the "
        "generator file's SHA-256, "
        "the precision, tile and overlap); without it they are refused, and outputs of the same "
        "model and options are skipped",
        False,
    )
    progress: bool = option("progress bar", True)
    scheduler: Scheduler | None = option(
        "run the products on a Dask cluster, one task per product: local (a LocalCluster on this "
        "machine), env (the "
        "scheduler in DASK_SCHEDULER_ADDRESS) or a scheduler's address (tcp://host:8786); --out "
        "must be a folder every "
        "worker writes (checked first). Without it the products run here, one after another",
        None,
        metavar="ADDRESS",
    )

    def _check(self) -> None:
        if not self.products:
            raise InputError(
                f"{argument('products', owner=PredictOptions)}: give one or more products"
            )
        check_tiling(self.tile, self.overlap)
        check_mask(self.mask)


#: the cloud masks named, not given as a raster's path (crmss/dataset/cloud_masks.py)
NAMED_MASKS = ("none", "haze", "s2cloudless")


def check_mask(mask: str) -> None:
    """``mask`` is a named mask (s2cloudless installed) or an existing file (the mask raster)."""
    if mask == "s2cloudless":
        optional_module("s2cloudless", "s2cloudless", argument("mask", mask))
    elif mask not in NAMED_MASKS and not Path(mask).is_file():
        raise InputError(
            f"{argument('mask', mask)}: give none, haze, s2cloudless or the path of a mask "
            "raster; no such file"
        )


def check_tiling(tile: int, overlap: int) -> None:
    """The rule between ``tile`` and ``overlap`` (each checked on its own already)."""
    if overlap > tile // 2:
        raise InputError(
            f"{argument('overlap', overlap)}: at most half the tile ({tile // 2} for "
            f"{argument('tile', tile)})"
        )


@dataclass(frozen=True)
class CloudParameters(Checked):
    """The thin cloud of ``crmss simulate``: the ranges each patch's cloud is drawn from (see
    crmss/dataset/simulate.py). Our choices: the paper's simulation recipe could not be obtained.

    Example:
        ``crmss.CloudParameters(thickness=(0.1, 0.5), seed=1)``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    thickness: tuple[Annotated[float, Interval(0, 5)], Annotated[float, Interval(0, 5)]] = option(
        "range of each patch's peak optical thickness at 0.55 um, at most 5 (default {default}: "
        "thin cloud through which "
        "the surface stays visible, transmittance down to 0.37 in B02)",
        (0.1, 1.0),
        metavar=("MIN", "MAX"),
    )
    cover: tuple[
        Annotated[float, Interval(0, 1, low_open=True)],
        Annotated[float, Interval(0, 1, low_open=True)],
    ] = option(
        "range of the fraction of each patch under the cloud (default {default})",
        (0.3, 1.0),
        metavar=("MIN", "MAX"),
    )
    cloud_reflectance: Annotated[float, Interval(0, 1, low_open=True)] = option(
        "the cloud's reflectance in B02 (default {default}, an optically thick water cloud); the "
        "other bands keep "
        "the spectrum of crmss/dataset/clouds.py (lower in SWIR)",
        CLOUD_REFLECTANCE["B02"],
        metavar="R",
    )
    seed: Seed = option("seed of the cloud fields (default {default})", 0)

    def _check(self) -> None:
        for name in ("thickness", "cover"):
            low, high = getattr(self, name)
            if low > high:
                raise InputError(f"{argument(name, (low, high))}: the minimum exceeds the maximum")
        if self.thickness[1] == 0:
            raise InputError(
                f"{argument('thickness', self.thickness)}: clouds of zero thickness "
                "add no cloud; give a positive maximum (e.g. 0.1 1)"
            )

    def spectrum(self) -> dict[str, float]:
        """The cloud's reflectance per band: crmss/dataset/clouds.py's spectrum scaled to
        ``cloud_reflectance`` in B02."""
        scale = self.cloud_reflectance / CLOUD_REFLECTANCE["B02"]
        return {
            band: CLOUD_REFLECTANCE[band] * scale for bands in STACKS.values() for band in bands
        }


@dataclass(frozen=True)
class SimulateOptions(Checked):
    """``crmss simulate``: a simulated testing set from the clear patches of a prepared subset.

    Example:
        ``crmss.simulate(crmss.SimulateOptions(data="data", out="simulated",
        clouds=crmss.CloudParameters()))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    data: Folder = option("a folder prepared by 'crmss prepare'", metavar="DATA")
    out: Path = option("a new folder for the simulated set (never overwritten)", metavar="SIM")
    subset: Subset = option(
        "the prepared subset whose clear patches are used (default {default})", "test"
    )
    clouds: CloudParameters = option("the cloud model's parameters", CloudParameters())
    progress: bool = option("progress bar", True)


@dataclass(frozen=True)
class ReportOptions(Checked):
    """``crmss report``: merge evaluations into one set of tables.

    Example:
        ``crmss.report(crmss.ReportOptions(results=("real=results/real", "simulated=results/sim"),
        out="tables"))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    results: tuple[str, ...] = option(
        "results folders of 'crmss test', each also as LABEL=RESULTS", flag="RESULTS"
    )
    out: Path = option("the folder for the merged tables", metavar="TABLES")
    reference: File | None = option(
        "a table in the format of metrics.csv (optional columns pixels and evaluation, a LABEL), "
        "shown beside "
        "ours with the differences; its methods named as in the results",
        None,
        metavar="CSV",
    )

    def _check(self) -> None:
        if not self.results:
            raise InputError(
                f"{argument('results', owner=ReportOptions)}: give one or more "
                "results folders of 'crmss test'"
            )


@dataclass(frozen=True)
class DemoOptions(Checked):
    """``crmss demo``: the pipeline and the paper's experiments on synthetic products.

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    out: Path = option("folder for the demo's products/ and data/", metavar="DIR")
    size: Annotated[int, Interval(768, 10980, multiple=6)] = option(
        "10 m side of the synthetic tiles in px, a multiple of 6 from 768 (default {default}; a "
        "real tile is 10980)",
        1536,
        metavar="PX",
    )
    seed: Seed = option(
        "random seed of the synthetic scenes and of training (default {default})", 0
    )
    epochs: Annotated[int, Interval(1, 1000)] = option(
        "training epochs of the demo's small model (default {default})", 4
    )


@dataclass(frozen=True)
class ReproduceOptions(Checked):
    """``crmss reproduce``: the paper's protocol, every stage resumable, into one folder.

    Example:
        ``crmss.reproduce(crmss.ReproduceOptions(out="protocol", synthetic=6, epochs=10))``

    Raises:
        InputError: a field's value breaks its rule, or fields contradict each other; the
            message names them as ``field=value``.
    """

    out: Path = option(
        "the protocol's folder, created or continued: data/, runs/crmss, runs/crmss_visnir, "
        "simulated/, results/real, "
        "results/simulated, tables/ and reproduce.json (every stage's options, versions, timings "
        "and state)",
        metavar="DIR",
    )
    products: Folder | None = option(
        "the WHUS2-CR L1C products, as for 'crmss prepare' (or --synthetic)", None, metavar="DIR"
    )
    synthetic: Annotated[int, Interval(2, 28)] | None = option(
        "instead of --products: write a synthetic WHUS2-CR of this many training pairs, 2 or more "
        "(the first of the "
        "published list, the last validating; varied land cover, season and cloud; packagings "
        "mixed) and --test-pairs "
        "testing pairs into DIR/products, then run the same protocol",
        None,
        metavar="PAIRS",
    )
    test_pairs: Annotated[int, Interval(1, 8)] = option(
        "with --synthetic: testing pairs (default {default})", 2, metavar="N"
    )
    size: Annotated[int, Interval(768, 10980, multiple=6)] = option(
        "with --synthetic: 10 m side of each tile in px, a multiple of 6 (default {default}; a "
        "real tile is 10980)",
        3072,
        metavar="PX",
    )
    seed: Seed = option(
        "seed of the synthetic scenes, of training and of the simulated cloud (default {default})",
        0,
    )
    epochs: Epochs = same_as(TrainOptions, "epochs")
    width: Width = same_as(TrainOptions, "width")
    batch_size: BatchSize = same_as(TrainOptions, "batch_size")
    lr: LearningRate = same_as(TrainOptions, "lr")
    steps_per_epoch: StepsPerEpoch = same_as(TrainOptions, "steps_per_epoch")
    head: Head = same_as(TrainOptions, "head")
    adversarial_weight: Weight = same_as(TrainOptions, "adversarial_weight")
    l1_weight: Weight = same_as(TrainOptions, "l1_weight")
    gradient_weight: Weight = same_as(TrainOptions, "gradient_weight")
    mixed_precision: bool = same_as(TrainOptions, "mixed_precision")
    strategy: Strategy = same_as(TrainOptions, "strategy")
    reference: File | None = same_as(ReportOptions, "reference")
    plan_only: bool = option(
        "print the plan with each stage's estimated time on this machine, then stop", False
    )
    progress: bool = option("progress bars", True)

    #: options that may differ between the runs that make up one protocol (a larger --epochs
    #: continues training and redoes the stages after it; another --reference redoes the tables)
    FREE = ("out", "epochs", "strategy", "reference", "plan_only", "progress")

    def _check(self) -> None:
        # made to apply the training options' own rules
        self.train_options("all", Path("."), self.out)
        if (self.products is None) == (self.synthetic is None):
            raise InputError(
                f"give {argument('products')} (the folder of the WHUS2-CR products) or "
                f"{argument('synthetic')} (the number of "
                "training pairs of a synthetic set), one of them"
            )

    def train_options(self, bands: Bands, data: Path, run: Path) -> TrainOptions:
        """The options of training the model of ``bands`` on ``data`` into ``run``: every
        training option the protocol has (:data:`TRAINED_WITH`), the others at their defaults."""
        values: dict[str, Any] = {name: getattr(self, name) for name in TRAINED_WITH}
        return TrainOptions(data=data, out=run, bands=bands, **values)


#: the fields of ``crmss reproduce`` that it passes to training: those named as TrainOptions' fields
#: (``out`` excepted: the protocol's folder, not a run's)
TRAINED_WITH: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(ReproduceOptions)
    if f.name in {t.name for t in dataclasses.fields(TrainOptions)} - {"out"}
)
