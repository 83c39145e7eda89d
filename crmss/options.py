"""The options of every command as frozen dataclasses: the one home of their defaults and of
their meaning.

The functions of the public API take these (``crmss.predict(PredictOptions(...))``); the
command line only parses its arguments into them, and its ``--help`` texts are the fields'
``help`` metadata with ``{default}`` filled from the field (:func:`describe`). This module
imports neither TensorFlow nor GDAL.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from .bands import STACKS
from .clouds import CLOUD_REFLECTANCE
from .errors import InputError
from .tables import CLASSICAL_NAMES, CLOUD_THRESHOLD

#: what ``--devices`` accepts besides ``all``: TensorFlow device names separated by commas
DEVICE_LIST = re.compile(r"(CPU|GPU):\d+(,(CPU|GPU):\d+)*")
#: ``--precision``: the type the generator computes in (crmss/precision.py)
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
PRECISION_HELP = (
    "the type the generator computes in: auto (default) picks bfloat16 on CPUs with native bfloat16 (AVX512_BF16 or "
    "AMX) and on GPUs of compute capability 8.0 or more, float16 on GPUs of compute capability 7.x, else float32; "
    "variables, the output layers, scaling and blending stay float32. The choice is printed and recorded with the "
    "outputs. Measured on a trained model: bfloat16 differs from float32 by far less than the model's own error "
    "(BENCHMARKS.md)"
)


def option(help: str, default=dataclasses.MISSING):
    """A dataclass field with its help text (``{default}`` stands for the default)."""
    return field(default=default, metadata={"help": help})


def describe(options: type, name: str) -> str:
    """The help text of field ``name`` of ``options``, its default filled in, escaped for argparse."""
    chosen = {f.name: f for f in dataclasses.fields(options)}[name]
    default = chosen.default
    shown = " ".join(map(_shown, default)) if isinstance(default, tuple) else _shown(default)
    return chosen.metadata["help"].format(default=shown).replace("%", "%%")


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator's loss terms (crmss/losses.py); defaults as in the group's
    WHUS2-CRv code, with the identity terms and the kernel penalty off (that code used 0.1,
    0.01, 1e-4)."""

    adversarial: float = 1.0
    l1: float = 10.0
    gradient: float = 1.0
    identity: float = 0.0
    identity_gradient: float = 0.0
    kernel_l2: float = 0.0


@dataclass(frozen=True)
class PrepareOptions:
    """``crmss prepare``: cut WHUS2-CR product pairs into the patch tree."""

    products: Path = option(
        "folder holding the L1C products as <name>.SAFE folders or <name>.zip / <name>.SAFE.zip files (read in place, never "
        "unpacked), or tile folders of the public bucket (sentinel-s2-l1c: B01.jp2 ..., productInfo.json) at any depth below it"
    )
    out: Path = option("output folder for the patch tree and manifest.json")
    split: Path | None = option("split list in the published WHUS2-CR CSV format (default: the published WHUS2-CR list shipped with crmss)", None)
    windows: Path | None = option(
        "restrict to these windows: CSV with header 'pair,window' (e.g. 'R075_T50TMK,17'); pairs it does not name are skipped", None
    )
    workers: int | None = option("threads for decoding bands and writing patches (default: all cores)", None)
    progress: bool = option("progress bars (one line per pair is printed either way)", True)


@dataclass(frozen=True)
class TrainOptions:
    """``crmss train`` / ``train.py``: every option of a run. Its defaults come from the same
    group's public code (CR-GAN-PM, WHUS2-CRv), as each help text says: the paper's recipe
    was not published."""

    data: str = option("a folder prepared by 'crmss prepare'")
    out: str = option("the run folder (created, or continued)")
    epochs: int = option("total number of epochs (default {default}, as in WHUS2-CRv)", 100)
    batch_size: int = option("patch pairs per step, over all devices (default {default}, as in WHUS2-CRv)", 1)
    width: int = option("generator width gf_dim (default {default}, the published CR-MSS; the critic uses the same)", 64)
    bands: str = option(
        "all (default): CR-MSS, the 10 m and the 20 m stack in and out; visnir: the paper's ablation without the "
        "VRE/SWIR bands, B02, B03, B04, B08 in and out (our construction, the paper's network was not published: "
        "CR-MSS without its 20 m input branch and 20 m output head; the critic sees the 10 m bands only)",
        "all",
    )
    lr: float = option("Adam learning rate of both networks (default {default}, WHUS2-CRv)", 2e-4)
    beta1: float = option("Adam beta_1 (default {default}, WHUS2-CRv)", 0.5)
    beta2: float = option("Adam beta_2 (default {default}, WHUS2-CRv)", 0.9)
    lr_schedule: str = option(
        "constant (default), or cyclic: WHUS2-CRv's decay, constant for 100k steps, then in cycle n of 100k steps "
        "lr x 0.96^n x 0.98^floor(step in cycle / 100)",
        "constant",
    )
    steps_per_epoch: int | None = option("steps per epoch (default: one pass over the training patches)", None)
    adversarial_weight: float = option("weight of the least-squares adversarial loss (default {default}, CR-GAN-PM)", LossWeights.adversarial)
    l1_weight: float = option("weight of L1(G(x), y) per resolution (default {default}, WHUS2-CRv)", LossWeights.l1)
    gradient_weight: float = option("weight of L1 between image-gradient maps per resolution (default {default}, WHUS2-CRv)", LossWeights.gradient)
    identity_weight: float = option("weight of L1(G(y), y), the identity term (default {default}; WHUS2-CRv used 0.1)", LossWeights.identity)
    identity_gradient_weight: float = option(
        "weight of the identity term's gradient L1 (default {default}; WHUS2-CRv used 0.01)", LossWeights.identity_gradient
    )
    kernel_l2: float = option("L2 penalty on the generator's kernels (default {default}; WHUS2-CRv used 1e-4)", LossWeights.kernel_l2)
    augment: bool = option("paired augmentation: one random rot90 x k, flip or none per pair, the same for all four stacks", True)
    val_pairs: int | None = option(
        "training pairs held out whole for validation, the last N of the manifest (default 1 with 2 or more pairs, else 0)", None
    )
    seed: int = option("random seed of weights, shuffling and augmentation (default {default})", 0)
    mixed_precision: bool = option(
        "mixed precision (default off): bfloat16 on GPUs of compute capability 8.0 or more (Ampere, Hopper) and on "
        "CPUs, float16 with dynamic loss scaling on older GPUs; variables and the output layers stay float32. On a "
        "CPU it is faster only with native bfloat16 (AVX512_BF16 or AMX); elsewhere it is emulated, 10x slower on "
        "an AVX2 machine (BENCHMARKS.md)",
        False,
    )
    strategy: str = option(
        "default: one device; mirrored: all local GPUs; multiworker: several machines from TF_CONFIG (default: {default})", "default"
    )
    cache: bool = option("keep decoded patches in memory after the first epoch", False)
    samples: int = option("sample images written to TensorBoard per epoch (default {default})", 4)

    #: options that may differ between the runs that make up one training
    FREE = ("data", "out", "epochs", "strategy", "cache", "samples")

    def loss_weights(self) -> LossWeights:
        return LossWeights(
            self.adversarial_weight, self.l1_weight, self.gradient_weight, self.identity_weight, self.identity_gradient_weight, self.kernel_l2
        )


@dataclass(frozen=True)
class EvaluateOptions:
    """``crmss test``: score models and classical methods on a prepared subset."""

    data: Path = option("a folder prepared by 'crmss prepare' or 'crmss simulate'")
    models: tuple[str, ...] = option(
        "one or more models, each a run folder of 'python train.py' or a .keras file with the generator's "
        "interface (other deep-learning methods), as NAME=RUN to name it in the tables (default: 'crmss' for "
        "a single model, else the folder's or file's name); a Vis/NIR model is scored on the 10 m bands only"
    )
    out: Path = option("a new folder for the results")
    methods: tuple[str, ...] = option(
        "classical methods beside the models: dark_channel_prior (He et al. 2011), hot (the haze-optimised "
        "transform, Zhang et al. 2002); default: {default}; give the option alone for none",
        CLASSICAL_NAMES,
    )
    cloud_threshold: float = option(
        "a 10 m pixel is cloud-affected where B02 of the cloudy patch exceeds B02 of the clear one by more than "
        "R reflectance (a 20 m pixel where any of its four is); default {default} (our choice)",
        CLOUD_THRESHOLD,
    )
    subset: str = option("the prepared subset to evaluate (default {default})", "test")
    checkpoint: str = option("last: RUN/generator.keras (default); best: RUN/generator_best.keras (best validation PSNR)", "last")
    reference: Path | None = option(
        "a table in the format of metrics.csv (the pixels column optional: all), e.g. numbers you take from "
        "the paper, its methods named as in these results; shown beside ours with the differences",
        None,
    )
    batch_size: int = option("patches per batch (default {default})", 8)
    precision: str = option(PRECISION_HELP, "auto")
    figures: int = option("sample patches shown in samples.png (default {default}; 0 for none)", 4)
    progress: bool = option("progress bar", True)


@dataclass(frozen=True)
class PredictOptions:
    """``crmss predict``: clean whole L1C products into cloud-free COGs."""

    products: tuple[Path, ...] = option(
        "L1C products: <name>.SAFE folders (or their MTD_MSIL1C.xml), <name>.zip files, or tile folders of the public "
        "bucket sentinel-s2-l1c (B01.jp2 ... B12.jp2, metadata.xml, productInfo.json, tileInfo.json)"
    )
    model: Path = option("the run folder of 'python train.py'")
    out: Path = option("output folder")
    tile: int = option("tile side in 10 m px, a multiple of 32 (default {default}; may exceed the scene)", 1024)
    overlap: int = option("overlap of neighbouring tiles in 10 m px, even (default {default}; 0 for none)", 128)
    batch_size: int | None = option("tiles per model call and device (default 4 on a GPU, 1 on a CPU)", None)
    precision: str = option(PRECISION_HELP, "auto")
    devices: str = option(
        "all (default): every local GPU, one copy of the model on each, the tiles of each strip dealt among them (the "
        "CPU where there is no GPU); or TensorFlow device names separated by commas, e.g. GPU:0,GPU:2. The outputs "
        "do not depend on the number of devices",
        "all",
    )
    checkpoint: str = option("last: RUN/generator.keras (default); best: RUN/generator_best.keras", "last")
    workers: int | None = option("threads decoding bands (default: all cores)", None)
    compress: str = option(
        "lossless codec of the COGs: zstd (default; read by GDAL >= 2.3, QGIS, rasterio, R terra) or deflate "
        "(for tools built without ZSTD; about 4x slower to write, 5% smaller)",
        "zstd",
    )
    progress: bool = option("progress bar", True)


@dataclass(frozen=True)
class CloudParameters:
    """The thin cloud of ``crmss simulate``: the ranges each patch's cloud is drawn from (see
    crmss/simulation.py). Our choices: the paper's simulation recipe could not be obtained."""

    thickness: tuple[float, float] = option(
        "range of each patch's peak optical thickness at 0.55 um (default {default}: thin cloud through which "
        "the surface stays visible, transmittance down to 0.37 in B02)",
        (0.1, 1.0),
    )
    cover: tuple[float, float] = option("range of the fraction of each patch under the cloud (default {default})", (0.3, 1.0))
    cloud_reflectance: float = option(
        "the cloud's reflectance in B02 (default {default}, an optically thick water cloud); the other bands keep "
        "the spectrum of crmss/clouds.py (lower in SWIR)",
        CLOUD_REFLECTANCE["B02"],
    )
    seed: int = option("seed of the cloud fields (default {default})", 0)

    def __post_init__(self):
        for name in ("thickness", "cover"):
            low, high = getattr(self, name)
            if low > high:
                raise InputError(f"--{name} {low:g} {high:g}: the minimum exceeds the maximum")

    def spectrum(self) -> dict[str, float]:
        """The cloud's reflectance per band: crmss/clouds.py's spectrum scaled to ``cloud_reflectance`` in B02."""
        scale = self.cloud_reflectance / CLOUD_REFLECTANCE["B02"]
        return {band: CLOUD_REFLECTANCE[band] * scale for bands in STACKS.values() for band in bands}


@dataclass(frozen=True)
class SimulateOptions:
    """``crmss simulate``: a simulated testing set from the clear patches of a prepared subset."""

    data: Path = option("a folder prepared by 'crmss prepare'")
    out: Path = option("a new folder for the simulated set (never overwritten)")
    subset: str = option("the prepared subset whose clear patches are used (default {default})", "test")
    clouds: CloudParameters = option("the cloud model's parameters", CloudParameters())
    progress: bool = option("progress bar", True)


@dataclass(frozen=True)
class ReportOptions:
    """``crmss report``: merge evaluations into one set of tables."""

    results: tuple[str, ...] = option("results folders of 'crmss test', each also as LABEL=RESULTS")
    out: Path = option("the folder for the merged tables")
    reference: Path | None = option(
        "a table in the format of metrics.csv (optional columns pixels and evaluation, a LABEL), shown beside "
        "ours with the differences; its methods named as in the results",
        None,
    )


@dataclass(frozen=True)
class DemoOptions:
    """``crmss demo``: the pipeline and the paper's experiments on synthetic products."""

    out: Path = option("folder for the demo's products/ and data/")
    size: int = option("10 m side of the synthetic tiles in px, a multiple of 6 (default {default}; a real tile is 10980)", 1536)
    seed: int = option("random seed of the synthetic scenes and of training (default {default})", 0)
    epochs: int = option("training epochs of the demo's small model (default {default})", 4)
