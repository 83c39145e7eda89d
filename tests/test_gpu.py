"""The GPU paths, where a GPU is present (``pytest -m gpu``; bench/gpu.sh runs them): mixed
float16 and bfloat16 training steps, a mirrored epoch, ``predict --devices GPU:0`` at precision
``auto``, and JPEG2000 decoded on the GPU with nvImageCodec giving GDAL's pixels. Skipped where
TensorFlow (or nvImageCodec) sees no GPU, as in CI."""

import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from osgeo import gdal

from conftest import cloudy_product
from crmss.core.options import PredictOptions, TrainOptions
from crmss.dataset.tree import load_patches, merge
from crmss.inference.predict import predict_products
from crmss.io.gpu_decode import decode_jp2, gpu_decoder
from crmss.io.metadata import USED_BANDS
from crmss.io.open import open_product
from crmss.io.raster import read_band, read_file
from crmss.nn.pipeline import make_dataset
from crmss.nn.training import build_gan, train

pytestmark = pytest.mark.gpu
needs_gpu = pytest.mark.skipif(
    not tf.config.list_physical_devices("GPU"), reason="TensorFlow sees no GPU here"
)
needs_gpu_decoder = pytest.mark.skipif(
    gpu_decoder() is None, reason="nvImageCodec is not installed or finds no GPU here"
)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(
        1 / np.mean((a.astype(np.float64) / 1e4 - b.astype(np.float64) / 1e4) ** 2)
    )


@needs_gpu
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training_steps_on_the_gpu(trained, policy):
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        gan = build_gan(
            TrainOptions(data=str(trained / "data"), out="unused", width=8, mixed_precision=True)
        )
        batches = iter(
            make_dataset(merge(list(load_patches(trained / "data").values())), 1, repeat=True)
        )
        for _ in range(3):
            logs = gan.train_step(next(batches))
        assert all(np.isfinite(float(v)) for v in logs.values())
        assert all(
            w.dtype == "float32" and np.isfinite(w.numpy()).all() for w in gan.generator.weights
        )
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == (
            policy == "mixed_float16"
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


@needs_gpu
def test_a_mirrored_mixed_precision_epoch_on_the_gpus(trained, tmp_path):
    run = tmp_path / "run"
    options = TrainOptions(
        data=str(trained / "data"),
        out=str(run),
        width=8,
        epochs=1,
        steps_per_epoch=4,
        samples=0,
        strategy="mirrored",
        mixed_precision=True,
    )
    train(options, verbose=0)
    history = pd.read_csv(run / "history.csv")
    assert (
        (run / "generator.keras").exists()
        and len(history) == 1
        and np.isfinite(history["g_loss"]).all()
    )


@needs_gpu
def test_predict_on_gpu0_at_auto_precision_stays_near_float32(products, trained, tmp_path):
    product = cloudy_product(products(0))
    for precision in ("auto", "float32"):
        predict_products(
            PredictOptions(
                [product],
                trained / "run",
                tmp_path / precision,
                tile=512,
                devices="GPU:0",
                precision=precision,
                progress=False,
            )
        )
    for res in ("10m", "20m"):
        auto, reference = (
            gdal.Open(str(next((tmp_path / p).glob(f"*_CR_{res}.tif"))))
            for p in ("auto", "float32")
        )
        major = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )["compute_capability"][0]
        assert auto.GetMetadataItem("CRMSS_PRECISION").startswith(
            "bfloat16" if major >= 8 else "float16"
        )
        valid = reference.ReadAsArray() > 0
        assert psnr(auto.ReadAsArray()[valid], reference.ReadAsArray()[valid]) > 45


@needs_gpu_decoder
def test_the_gpu_decodes_a_products_bands_to_gdals_pixels(products):
    product = open_product(cloudy_product(products(0)))
    files = [product.band_files[band] for band in USED_BANDS]
    for name, pixels in zip(files, decode_jp2([read_file(name) for name in files])):
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, read_band(name)), name


@needs_gpu
@needs_gpu_decoder
def test_predict_with_the_gpu_decoder_writes_gdals_outputs(products, trained, tmp_path):
    product = cloudy_product(products(0))
    for decoder in ("gpu", "gdal"):
        predict_products(
            PredictOptions(
                [product],
                trained / "run",
                tmp_path / decoder,
                tile=512,
                decoder=decoder,
                progress=False,
            )
        )
    for res in ("10m", "20m"):
        on_gpu, on_cpu = (
            gdal.Open(str(next((tmp_path / d).glob(f"*_CR_{res}.tif")))).ReadAsArray()
            for d in ("gpu", "gdal")
        )
        assert np.array_equal(on_gpu, on_cpu)
