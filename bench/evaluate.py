"""Benchmark ``crmss test``: the whole evaluation beside running the model alone.

Both read the same prepared patches and run the same width-64 generator (untrained: the speed
is the same) in batches of 8. The evaluation also runs the dark-channel-prior baseline,
computes every metric for three methods, writes the predictions, the tables and the figures.

    python bench/evaluate.py --work bench-data          # uses the tree bench/train.py prepared
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from crmss.core.options import EvaluateOptions  # noqa: E402
from crmss.dataset.tree import load_patches, merge
from crmss.evaluation.evaluate import evaluate  # noqa: E402
from crmss.nn.model import build_generator  # noqa: E402
from crmss.nn.pipeline import make_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="the folder bench/train.py used (its train-data/ is read)",
    )
    parser.add_argument("--data", type=Path, help="a prepared tree (default: WORK/train-data)")
    parser.add_argument(
        "--subset", default="train", help="the prepared subset to evaluate (default train)"
    )
    args = parser.parse_args()
    data = args.data or args.work / "train-data"
    run = args.work / "eval-run"
    run.mkdir(parents=True, exist_ok=True)
    build_generator(64).save(run / "generator.keras")
    generator = keras.saving.load_model(run / "generator.keras", compile=False)
    patches = merge(list(load_patches(data, args.subset).values()))
    predict = tf.function(
        lambda x10, x20: generator([x10, x20], training=False), reduce_retracing=True
    )

    def model_alone():
        for (x10, x20), _ in make_dataset(patches, 8, shuffle=False, augmentation=False):
            y10, y20 = predict(x10, x20)
        y10.numpy()

    def timed(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    out = args.work / "eval-results"

    def whole_evaluation():
        shutil.rmtree(out, ignore_errors=True)
        evaluate(EvaluateOptions(data, (run,), out, subset=args.subset, progress=False))

    # first calls: tracing, file cache
    alone_cold, whole_cold = timed(model_alone), timed(whole_evaluation)
    alone, whole = timed(model_alone), timed(whole_evaluation)

    gpu = tf.config.list_physical_devices("GPU")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{'GPU' if gpu else 'no GPU'}; TensorFlow {tf.__version__}"
    )
    print(f"{len(patches)} patch pairs of 256/128 px, width-64 generator, batches of 8")
    print(
        f"model alone (read + generator), first / second run:      {alone_cold:6.1f} s / "
        f"{alone:6.1f} s  ({len(patches) / alone:5.2f} patch pairs/s)"
    )
    print(
        f"crmss test (+ DCP, HOT, metrics, files), first / second run: {whole_cold:6.1f} s / "
        f"{whole:6.1f} s  "
        f"({len(patches) / whole:5.2f} patch pairs/s)"
    )
    print(
        f"ratio evaluation / model alone: {whole_cold / alone_cold:.2f} (first runs), "
        f"{whole / alone:.2f} (second runs)"
    )


if __name__ == "__main__":
    main()
