"""The anatomy of a trained generator's error per band on its run's validation pair.

For each band: the clear patches' mean reflectance, the model's mean error (bias), its RMSE
beside the cloudy input's, the RMSE relative to the band's mean, the share of the squared
error that is each patch's own offset (the mean error per patch, squared, over the MSE), and
the PSNR of the pooled squared error (data range 1), the model's and the cloudy input's.
BENCHMARKS.md ("The 20 m floor") reads these tables.

    .venv/bin/python bench/band_errors.py RUN [RUN ...] [--checkpoint last|best]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from crmss.core.bands import STACKS
from crmss.dataset.tree import load_patches
from crmss.nn.model import generator_stacks, load_generator, run_generator
from crmss.nn.pipeline import read_patch


def band_errors(run: Path, checkpoint: str = "last") -> pd.DataFrame:
    """One row per band the generator of ``run`` returns (10 m bands first)."""
    config = json.loads((run / "config.json").read_text())
    sets = load_patches(config["options"]["data"], "train")
    generator = load_generator(run, checkpoint)
    stacks = generator_stacks(generator)
    rows = {key: [] for key in ("clear", "squared", "offset", "cloudy")}
    for pair in config["val_pairs"]:
        files = sets[pair].files
        for index in range(len(files["clear_10m"])):
            cloudy = [read_patch(files[f"cloudy_{s}"][index], s) for s in stacks]
            clear = [read_patch(files[f"clear_{s}"][index], s) for s in stacks]
            outputs = [
                np.asarray(y)[0] for y in run_generator(generator, [x[None] for x in cloudy])
            ]

            def per_band(values):
                return np.concatenate([v.reshape(-1, v.shape[-1]).mean(axis=0) for v in values])

            rows["clear"].append(per_band(clear))
            rows["squared"].append(per_band([(y - c) ** 2 for y, c in zip(outputs, clear)]))
            rows["offset"].append(per_band([y - c for y, c in zip(outputs, clear)]))
            rows["cloudy"].append(per_band([(x - c) ** 2 for x, c in zip(cloudy, clear)]))
    mean, mse, offsets, cloudy = (
        np.mean(rows[k], axis=0) for k in ("clear", "squared", "offset", "cloudy")
    )
    return pd.DataFrame(
        {
            "band": [band for stack in stacks for band in STACKS[stack]],
            "reflectance": mean,
            "bias": offsets,
            "rmse": np.sqrt(mse),
            "rmse_cloudy": np.sqrt(cloudy),
            "relative_rmse_%": 100 * np.sqrt(mse) / mean,
            "patch_offset_share_%": 100 * np.mean(np.square(rows["offset"]), axis=0) / mse,
            "psnr": -10 * np.log10(mse),
            "psnr_cloudy": -10 * np.log10(cloudy),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--checkpoint", choices=("last", "best"), default="last")
    args = parser.parse_args()
    for run in args.runs:
        print(f"{run} ({args.checkpoint}):")
        print(
            band_errors(run, args.checkpoint).to_string(
                index=False, float_format=lambda v: f"{v:.4f}"
            )
        )


if __name__ == "__main__":
    main()
