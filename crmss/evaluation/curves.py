"""Learning curves: the validation PSNR of trained models per epoch, beside the cloudy input's
and the classical methods' on the same validation patches (the protocol's learning_curves.png).

Reads runs' history.csv and a prepared tree; the classical methods and the baseline from
crmss.evaluation, the PSNR of a stack from crmss.nn.losses.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def learning_curves(runs: Path, data: Path, models: tuple[str, ...]) -> pd.DataFrame:
    """Validation PSNR per epoch, as a pandas DataFrame (method, epoch, stack, psnr,
    checkerboard): the mean over the stack's bands of the per-band PSNR of the history.csv of
    each run ``runs/<model>`` of ``models`` (epoch from 1; the first model's validation pairs
    are the baselines') and its output's checkerboard (dB of power at the Nyquist frequencies
    above the truth's; empty for runs trained before crmss logged it), and for the cloudy input
    and the classical methods, constant over the epochs, the PSNR on the same validation patches
    (epoch 0 and the last epoch, the ends of a line)."""

    from ..core.bands import STACKS
    from ..nn.runs import read_config

    frames, last = [], 0
    for name in models:
        history = pd.read_csv(runs / name / "history.csv")
        last = max(last, int(history["epoch"].max()) + 1)
        for stack, bands in STACKS.items():
            columns = [f"val_psnr_{b}" for b in bands if f"val_psnr_{b}" in history]
            if columns:
                frames.append(
                    pd.DataFrame(
                        {
                            "method": name,
                            "epoch": history["epoch"] + 1,
                            "stack": stack,
                            "psnr": history[columns].mean(axis=1),
                            "checkerboard": history.get(f"val_checkerboard_{stack}", float("nan")),
                        }
                    )
                )
    val_pairs = (read_config(runs / models[0]) or {})["val_pairs"]
    for method, values in validation_baselines(data, val_pairs).items():
        for stack, psnr in values.items():
            frames.append(
                pd.DataFrame({"method": method, "epoch": [0, last], "stack": stack, "psnr": psnr})
            )
    curves = pd.concat(frames, ignore_index=True)
    return curves.reindex(columns=["method", "epoch", "stack", "psnr", "checkerboard"])


def validation_baselines(data: Path, val_pairs: list[str]) -> dict[str, dict[str, float]]:
    """Mean over the validation patches of the per-band PSNR, averaged over each stack's bands,
    of the cloudy input and of each classical method: ``{method: {"10m": dB, "20m": dB}}``."""
    import numpy as np

    from ..dataset.tree import STACK_KEYS, load_patches
    from ..nn.pipeline import read_patch
    from .classical import CLASSICAL_METHODS
    from .results import BASELINE

    sets = load_patches(data, "train")
    sums: dict[str, np.ndarray] = {}
    count = 0
    for key in val_pairs:
        files = sets[key].files
        for f10, f20, c10, c20 in zip(*(files[stack] for stack in STACK_KEYS)):
            x = [read_patch(f10, "10m")[None], read_patch(f20, "20m")[None]]
            clear = [read_patch(c10, "10m"), read_patch(c20, "20m")]
            outputs = {
                BASELINE: x,
                **{name: method(*x) for name, method in CLASSICAL_METHODS.items()},
            }
            for name, (y10, y20) in outputs.items():
                scores = np.array([_stack_psnr(y10[0], clear[0]), _stack_psnr(y20[0], clear[1])])
                sums[name] = sums.get(name, 0) + scores
            count += 1
    return {
        name: {"10m": float(total[0] / count), "20m": float(total[1] / count)}
        for name, total in sums.items()
    }


def _stack_psnr(predicted, clear) -> float:
    """:func:`crmss.nn.losses.psnr` of one (H, W, C) reflectance patch, in dB."""
    import keras

    from ..nn.losses import psnr

    return float(keras.ops.convert_to_numpy(psnr(predicted[None], clear[None])))
