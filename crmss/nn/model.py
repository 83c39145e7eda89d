"""The CR-MSS generator and a PatchGAN discriminator (Keras 3 functional models).

Generator (the authors' ``CRMSS.py``, reproduced layer for layer): inputs ``[x10, x20]``,
x10 = (batch, H, W, 4) with B02, B03, B04, B08 and x20 = (batch, H/2, W/2, 6) with B05, B06,
B07, B8A, B11, B12, reflectance in [0, 1]; outputs ``[y10, y20]`` of the same shapes, sigmoid.
H and W must be multiples of 32. At width 64 it has 24,602,240 trainable parameters and costs
about 44.3 GFLOP per 256/128 px patch pair.

The ablation without the VRE/SWIR bands (``bands="visnir"``; our construction, as the paper's
ablation network was not published): ``[x10] -> [y10]``, CR-MSS without its 20 m input branch
(no e0, so e20 = e2) and without its 20 m output head, everything else unchanged; 24,368,512
parameters at width 64.

The output heads (``head``): ``sigmoid`` (the published CR-MSS) is y = sigmoid(conv3x3(d));
``residual`` (our option, not the paper's) is y = sigmoid(logit(x) + conv3x3(d)) with the
conv initialised to zero, so that the generator starts as the identity on its own input and
learns a correction in logit space (BENCHMARKS.md, "The 20 m floor", has the evidence).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
from keras import layers

from ..core.bands import BAND_SETS, BANDS_10M, BANDS_20M, STACKS
from ..core.errors import InputError

#: what Keras layers and ops take and give: a TensorFlow tensor, a symbolic KerasTensor or an array
#: (Keras names no one type)
Tensor = Any

#: ``tf.contrib.layers.instance_norm``'s epsilon, which the published generator used.
INSTANCE_NORM_EPSILON = 1e-6


def instance_norm(name: str) -> layers.Layer:
    """Instance normalisation with learned scale (init 1) and offset (init 0).

    Keras's GroupNormalization with one group per channel is exactly instance normalisation
    (mean and variance over H, W per sample and channel), so no custom layer is needed and
    saved models load with plain ``keras.saving.load_model``.
    """
    return layers.GroupNormalization(groups=-1, epsilon=INSTANCE_NORM_EPSILON, name=name)


def _conv(filters: int, strides: int, name: str) -> layers.Layer:
    return layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)


#: the generator's output heads (see the module docstring)
HEADS = ("sigmoid", "residual")


@keras.saving.register_keras_serializable(package="crmss")
class LogitResidual(layers.Layer):
    """``[x, delta] -> sigmoid(logit(x) + delta)``: the input reflectance (clipped to
    [1e-4, 1 - 1e-4]) corrected in logit space, in float32; both (B, H, W, C)."""

    EPSILON = 1e-4

    def call(self, x: Tensor, delta: Tensor) -> Tensor:
        x = keras.ops.clip(keras.ops.cast(x, "float32"), self.EPSILON, 1.0 - self.EPSILON)
        return keras.ops.sigmoid(
            keras.ops.log(x) - keras.ops.log1p(-x) + keras.ops.cast(delta, "float32")
        )


def _output(d, x, bands: int, head: str, name: str):
    """One output stack from the decoder features ``d``: (B, H, W, bands) reflectance in [0, 1],
    in float32 also under a mixed-precision policy."""
    if head == "sigmoid":
        return layers.Conv2D(
            bands,
            3,
            padding="same",
            use_bias=False,
            activation="sigmoid",
            dtype="float32",
            name=name,
        )(d)
    delta = layers.Conv2D(
        bands,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="zeros",
        dtype="float32",
        name=f"{name}_delta",
    )(d)
    return LogitResidual(dtype="float32", name=name)(x, delta)


def build_generator(
    width: int = 64,
    size10: int | None = None,
    bands: str = "all",
    head: str = "sigmoid",
    name: str = "crmss_generator",
) -> keras.Model:
    """The CR-MSS generator: ``[x10, x20] -> [y10, y20]``, or with ``bands="visnir"`` its
    ablation ``[x10] -> [y10]``, with the output ``head`` of :data:`HEADS` (see the module
    docstring).

    ``width`` is the authors' ``gf_dim`` (64); smaller widths give the same architecture with
    fewer channels, for tests and quick tries. ``size10`` fixes the 10 m side (None: any
    multiple of 32).
    """
    g = width
    vre_swir = "20m" in BAND_SETS[bands]
    size20 = size10 // 2 if size10 else None
    x10 = keras.Input((size10, size10, len(BANDS_10M)), name="x10")
    x20 = keras.Input((size20, size20, len(BANDS_20M)), name="x20") if vre_swir else None
    lrelu = lambda n: layers.LeakyReLU(0.2, name=n)  # noqa: E731

    e1 = lrelu("e1")(_conv(g, 1, "e1_conv")(x10))
    e0 = lrelu("e0")(_conv(g, 1, "e0_conv")(x20)) if vre_swir else None
    e2 = lrelu("e2")(instance_norm("e2_in")(_conv(2 * g, 2, "e2_conv")(e1)))
    e20 = layers.Concatenate(name="e20")([e2, e0]) if vre_swir else e2
    encoder = [e20]
    for level, filters in ((3, 4 * g), (4, 8 * g), (5, 8 * g), (6, 8 * g)):
        conv = _conv(filters, 2, f"e{level}_conv")(encoder[-1])
        encoder.append(lrelu(f"e{level}")(instance_norm(f"e{level}_in")(conv)))
    e3, e4, e5, e6 = encoder[1:]

    d = e6
    for level, (filters, skip) in enumerate(
        ((8 * g, e5), (8 * g, e4), (4 * g, e3), (2 * g, e20), (g, e1)), start=1
    ):
        up = layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=False, name=f"d{level}_deconv"
        )(d)
        up = layers.ReLU(name=f"d{level}_relu")(instance_norm(f"d{level}_in")(up))
        d = layers.Concatenate(name=f"d{level}")([up, skip])
        if level == 4:
            d4 = d
    if not vre_swir:
        return keras.Model([x10], [_output(d, x10, len(BANDS_10M), head, "y10")], name=name)
    y20 = _output(d4, x20, len(BANDS_20M), head, "y20")
    y10 = _output(d, x10, len(BANDS_10M), head, "y10")
    return keras.Model([x10, x20], [y10, y20], name=name)


def generator_stacks(model: keras.Model) -> tuple[str, ...]:
    """The stacks a generator takes and returns, in order: ``("10m", "20m")`` for CR-MSS,
    ``("10m",)`` for its Vis/NIR ablation. Raises ValueError for a model of another interface
    (what it takes and returns is not (batch, H, W, 4) [and (batch, H/2, W/2, 6)])."""

    def channels(tensors):
        return [t.shape[-1] if len(t.shape) == 4 else None for t in tensors]

    for stacks in BAND_SETS.values():
        expected = [len(STACKS[s]) for s in stacks]
        if channels(model.inputs) == expected == channels(model.outputs):
            return stacks
    raise ValueError(
        f"takes {[tuple(t.shape) for t in model.inputs]} and returns "
        f"{[tuple(t.shape) for t in model.outputs]}, but a "
        "CR-MSS generator takes [x10 (batch, H, W, 4), x20 (batch, H/2, W/2, 6)] and returns the "
        "same, or [x10] and [y10] "
        "for the Vis/NIR ablation"
    )


def run_generator(
    model: keras.Model, inputs: Sequence[Tensor], training: bool = False
) -> list[Tensor]:
    """The generator's outputs as a list of stacks, also for a one-stack model (which Keras
    returns as a bare tensor)."""
    outputs = model(list(inputs), training=training)
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def build_discriminator(width: int = 64, bands: str = "all", name: str = "patchgan") -> keras.Model:
    """PatchGAN critic over all ten bands: ``[y10, y20] -> (batch, H/16, W/16, 1)`` scores
    (``bands="visnir"``: over the four 10 m bands, ``[y10] -> ...``).

    Layers as in the same group's CR-GAN-PM code (the CR-MSS paper's discriminator was not
    published): conv 4x4 stride 2 with ``width`` filters + LeakyReLU 0.2 (no norm); conv 4x4
    stride 2 with 2, 4, 8 x ``width`` filters, each + instance norm + LeakyReLU 0.2; conv 4x4
    stride 1 to one channel, no sigmoid (least-squares GAN); biases on.

    Applying it to both resolutions: the 20 m stack is upsampled 2x (nearest neighbour, values
    unchanged) and concatenated with the 10 m stack, so one critic judges all ten bands on one
    grid and can penalise spectra that disagree between the two outputs; two separate critics
    could not see that.
    """
    y10 = keras.Input((None, None, len(BANDS_10M)), name="y10")
    inputs = [y10]
    x = y10
    if "20m" in BAND_SETS[bands]:
        inputs.append(keras.Input((None, None, len(BANDS_20M)), name="y20"))
        x = layers.Concatenate(name="bands")(
            [y10, layers.UpSampling2D(2, interpolation="nearest", name="y20_up")(inputs[1])]
        )
    x = layers.LeakyReLU(0.2, name="c1_lrelu")(
        layers.Conv2D(width, 4, strides=2, padding="same", name="c1")(x)
    )
    for level, multiple in ((2, 2), (3, 4), (4, 8)):
        x = layers.Conv2D(width * multiple, 4, strides=2, padding="same", name=f"c{level}")(x)
        x = layers.LeakyReLU(0.2, name=f"c{level}_lrelu")(instance_norm(f"c{level}_in")(x))
    score = layers.Conv2D(1, 4, padding="same", dtype="float32", name="score")(x)
    return keras.Model(inputs, score, name=name)


#: the generator file of a run folder per ``checkpoint``
CHECKPOINTS = {"last": "generator.keras", "best": "generator_best.keras"}


def generator_file(run_or_file: str | Path, checkpoint: str = "last") -> Path:
    """The ``.keras`` file of a run folder (``last``: generator.keras, ``best``:
    generator_best.keras), or the ``.keras`` file given; InputError where there is none."""
    path = Path(run_or_file)
    if path.suffix == ".keras" and not path.is_dir():
        if not path.is_file():
            raise InputError(f"{path}: no such model file; give a run folder or a .keras file")
        return path
    path = path / CHECKPOINTS[checkpoint]
    if not path.exists():
        raise InputError(
            f"{path}: no trained generator here; give a run folder of 'python "
            "train.py' (after one epoch at least) or a .keras file"
        )
    return path


def load_generator(run_or_file: str | Path, checkpoint: str = "last") -> keras.Model:
    """Load a trained generator, checked to have the interface of CR-MSS or its Vis/NIR ablation.

    Args:
        run_or_file: a run folder of ``crmss train`` or a ``.keras`` file.
        checkpoint: of a run folder, ``last`` (``generator.keras``, the last epoch) or ``best``
            (``generator_best.keras``, the best validation PSNR).

    Returns:
        The generator: inputs ``[x10, x20]`` ((B, S, S, 4) with B02, B03, B04, B08 and
        (B, S/2, S/2, 6) with B05, B06, B07, B8A, B11, B12, reflectance in [0, 1]), outputs
        ``[y10, y20]`` of the same shapes; the Vis/NIR ablation takes and returns ``x10`` alone.

    Raises:
        InputError: no generator there, a damaged file, or a model of another interface.
    """
    path = generator_file(run_or_file, checkpoint)
    try:
        generator = keras.saving.load_model(path, compile=False)
    # a damaged zip, another Keras's file: any reason is the same for the user
    except Exception as exc:
        # Keras reports a file that is no zip as "File not found": say what it is
        reason = (
            "not a Keras archive: the file is damaged or truncated"
            if not zipfile.is_zipfile(path)
            else str(exc)
        )
        raise InputError(
            f"{path}: cannot load the generator ({reason}); train again or give another run"
        ) from exc
    try:
        generator_stacks(generator)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}; give a CR-MSS generator") from None
    return generator
