"""The JAX pass: crmss on Keras's JAX backend in a process where TensorFlow cannot be imported,
as on a GPU machine without it. The data path, training, a run resumed on JAX and one started on
TensorFlow continued there, and predict within 1 DN of TensorFlow's; the rest of the suite runs
on TensorFlow."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from osgeo import gdal

from conftest import cloudy_product, run_on_jax
from crmss.core.options import EvaluateOptions, PredictOptions, PrepareOptions, TrainOptions
from crmss.dataset.prepare import prepare
from crmss.dataset.splits import write_split
from crmss.dataset.tree import load_patches, merge
from crmss.evaluation.evaluate import evaluate
from crmss.inference.predict import predict_products
from crmss.nn.pipeline import make_dataset
from crmss.nn.training import build_gan

pytest.importorskip("jax")

#: a finder that refuses TensorFlow, as a machine without it does
WITHOUT_TENSORFLOW = """
import sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTensorFlow())
"""

#: (KERAS_BACKEND=jax) argv: the shared tree, a copy of its TensorFlow run, a tree of two training
#: pairs (one validates), a new run folder, the cloudy product, the output folder. Writes a drawn
#: batch, trains, predicts, evaluates; prints what the backend and the data path were
ON_JAX = (
    WITHOUT_TENSORFLOW
    + """
import json
from pathlib import Path
import keras, numpy as np
import crmss
from crmss.dataset.tree import load_patches, merge
from crmss.nn.pipeline import make_dataset
from crmss.nn.training import build_gan
data, continued, two, fresh, product, out = map(Path, sys.argv[1:])
patches = merge(list(load_patches(data).values()))
batches = make_dataset(patches, 2, repeat=True, seed=3, first_epoch=1, last_epoch=3, steps=2)
(x10, x20), (y10, y20) = batches[2]  # epoch 2's first batch
np.savez(out.parent / "batch.npz", x10, x20, y10, y20)
from crmss.nn.training import run_options
crmss.train(run_options(data=str(data), out=str(continued), epochs=2), verbose=0)
options = dict(data=str(two), width=8, steps_per_epoch=2, samples=1)
crmss.train(crmss.TrainOptions(out=str(fresh), epochs=1, **options), verbose=0)
crmss.train(crmss.TrainOptions(out=str(fresh), epochs=2, **options), verbose=0)
crmss.predict(
    crmss.PredictOptions(products=(str(product),), model=continued, out=out, progress=False)
)
results = out.parent / "results"
crmss.evaluate(crmss.EvaluateOptions(data=data, models=(str(continued),), out=results, figures=0))
print(json.dumps({"backend": keras.backend.backend(), "batches": type(batches).__name__,
                  "tensorflow": "tensorflow" in sys.modules}))
"""
)


@pytest.fixture(scope="module")
def on_jax(tmp_path_factory, trained, products, pairs):
    """What ON_JAX wrote: the folder, and the run it continued (copied before, as it was)."""
    root = tmp_path_factory.mktemp("jax")
    shutil.copytree(trained / "run", root / "continued")
    shutil.copytree(trained / "run", root / "on_tensorflow")
    for index in (0, 1):
        for product in products(index).iterdir():
            shutil.copytree(product, root / "products" / product.name)
    write_split(root / "split.csv", pairs[:2])
    prepare(
        PrepareOptions(root / "products", root / "two", split=root / "split.csv", progress=False)
    )
    product = cloudy_product(products(0))
    args = [
        trained / "data",
        root / "continued",
        root / "two",
        root / "fresh",
        product,
        root / "out",
    ]
    said, stderr = run_on_jax(ON_JAX, *args)
    assert said == {"backend": "jax", "batches": "PatchBatches", "tensorflow": False}
    return root, stderr


def test_the_pydataset_on_jax_draws_what_tf_data_draws(on_jax, trained):
    root, _ = on_jax
    patches = merge(list(load_patches(trained / "data").values()))
    batches = make_dataset(patches, 2, repeat=True, seed=3, first_epoch=1, last_epoch=3, steps=2)
    ours = [np.asarray(s) for pair in next(iter(batches.skip(2))) for s in pair]
    theirs = np.load(root / "batch.npz")
    for i, stack in enumerate(ours):
        np.testing.assert_array_equal(stack, theirs[f"arr_{i}"])


def test_a_run_trains_and_resumes_on_jax_and_records_its_backend(on_jax):
    root, _ = on_jax
    config = json.loads((root / "fresh/config.json").read_text())
    assert config["versions"]["backend"] == "jax" and config["versions"]["jax"]
    assert "tensorflow" not in config["versions"]
    rows = (root / "fresh/history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]
    assert json.loads((root / "fresh/backup/training_metadata.json").read_text())["epoch"] == 2
    assert (root / "fresh/generator.keras").exists()
    # validated on the second pair, through the JAX test step
    header = rows[0].split(",")
    assert {"val_psnr", "val_cloudy_psnr", "val_psnr_B12"} <= set(header)
    best = json.loads((root / "fresh/best.json").read_text())
    assert best["epoch"] in (1, 2) and 0 < best["val_psnr"] < 100 and best["val_cloudy_psnr"] > 0
    assert (root / "fresh/generator_best.keras").exists()
    assert not (root / "fresh/logs").exists()  # TensorBoard's files need TensorFlow


def test_a_run_started_on_tensorflow_goes_on_on_jax_from_its_backup(on_jax, trained):
    root, stderr = on_jax
    assert "trained on Keras's tensorflow backend so far, continued on jax" in stderr
    rows = (root / "continued/history.csv").read_text().splitlines()
    before = (root / "on_tensorflow/history.csv").read_text().splitlines()
    assert rows[:2] == before[:2] and rows[2].startswith("1,")  # epoch 1 kept, epoch 2 added
    # both optimisers went on counting from the TensorFlow run's steps
    counts = []
    for run in ("on_tensorflow", "continued"):
        gan = build_gan(TrainOptions(data=str(root), out=str(root / run), width=8))
        gan.g_optimizer.build(gan.generator.trainable_variables)
        gan.d_optimizer.build(gan.discriminator.trainable_variables)
        gan.load_weights(root / run / "backup/latest.weights.h5")
        counts.append([int(gan.g_optimizer.iterations), int(gan.d_optimizer.iterations)])
    steps = len(merge(list(load_patches(trained / "data").values())))  # batch 1, no steps
    assert counts[1] == [counts[0][0] + steps, counts[0][1] + steps]


def test_crmss_test_on_jax_scores_as_on_tensorflow(on_jax, trained, tmp_path):
    """The same run evaluated on both backends: the classical methods' scores agree to float32
    rounding (the same keras.ops on either backend), the model's PSNR within 0.01 dB (its outputs
    round differently)."""
    root, _ = on_jax
    options = EvaluateOptions(
        data=trained / "data", models=(str(root / "continued"),), out=tmp_path / "r", figures=0
    )
    evaluate(options)
    ours, theirs = (pd.read_csv(f / "metrics.csv") for f in (tmp_path / "r", root / "results"))
    keys = [c for c in ours.columns if c != "value"]
    both = ours.merge(theirs, on=keys, suffixes=("_tf", "_jax"), validate="1:1")
    assert len(both) == len(ours) == len(theirs) > 0
    model = both["method"] == "crmss"
    assert model.any() and (~model).any()
    tf_values, jax_values = both["value_tf"], both["value_jax"]
    assert np.allclose(tf_values[~model], jax_values[~model], rtol=1e-5, atol=1e-6)
    psnr = model & (both["metric"] == "PSNR")
    assert np.allclose(tf_values[psnr], jax_values[psnr], rtol=0, atol=0.01)


def test_predict_on_jax_is_within_1_dn_of_tensorflow(on_jax, products, tmp_path):
    root, _ = on_jax
    product = cloudy_product(products(0))
    options = PredictOptions(
        products=(str(product),), model=root / "continued", out=tmp_path, progress=False
    )
    outputs = predict_products(options)
    assert len(outputs) == 3  # 10 m, 20 m and the cloud weights (the same on both backends)
    for ours in outputs:
        theirs = gdal.Open(str(root / "out" / ours.name))
        a, b = gdal.Open(str(ours)).ReadAsArray(), theirs.ReadAsArray()
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        assert (a != b).mean() < 0.1  # measured: 4-5 % of the values 1 DN apart
