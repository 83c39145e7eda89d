"""A scene run strip by strip: the engine under ``crmss predict`` and :func:`crmss.clean`.

The scene is cut in square tiles of ``tile`` px at 10 m (``tile / 2`` at 20 m, offsets even, so both
resolutions stay aligned) overlapping by ``overlap`` px and blended (crmss/inference/blending.py).
It is processed in strips of one tile row: the next strip is read while the model runs on this one
(crmss/inference/runner.py), its tiles run in batches, and the finished rows are handed on, so
memory does not grow with the scene. Where any input band of a resolution is 0, that resolution's
outputs are 0. Where the strips come from and where they go is the caller's.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..core.bands import STACKS
from ..core.console import progress_bar
from ..dataset.cloud_masks import CloudWeights, blend_clear
from ..dataset.windows import SCALE
from .blending import Strip, blend_weights, cut, tile_starts
from .runner import TileRunner


@dataclass(frozen=True)
class Settings:
    """How a scene is run: tiles of ``tile`` px at 10 m overlapping by ``overlap``,
    ``batch_size`` tiles per model call, with a progress bar or without."""

    tile: int
    overlap: int
    batch_size: int
    progress: bool

    def fitted(self, height: int, width: int) -> Settings:
        """The same with the tile no larger than a scene of ``height`` x ``width`` px needs (in
        steps of 32 px)."""
        return dataclasses.replace(
            self, tile=min(self.tile, math.ceil(max(height, width) / 32) * 32)
        )


def yield_to_the_model() -> None:
    """Lower this (decoding) thread's priority, where the system allows it: on a CPU the model
    then keeps both its threads busy and decoding fills the gaps, instead of slowing every
    parallel op to its slowest thread; on a GPU machine the cores are free anyway."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: per thread
    except (AttributeError, OSError):  # no setpriority (Windows), or no per-thread nice (macOS)
        pass


#: rows ``top .. top + tile`` (10 m px) of every stack: res -> (uint16 reflectance x 10000 (rows,
#: cols, bands), no-data mask (rows, cols))
StripReader = Callable[[int], dict[str, tuple[np.ndarray, np.ndarray]]]
#: takes the finished uint16 rows (rows, cols, bands) of a stack from row ``top`` of its own grid:
#: (res, rows, top)
RowWriter = Callable[[str, np.ndarray, int], None]


def run_strips(
    read_strip: StripReader,
    write: RowWriter,
    height: int,
    width: int,
    runner: TileRunner,
    settings: Settings,
    label: str,
    clouds: CloudWeights | None = None,
) -> None:
    """Run and blend a scene of ``height`` x ``width`` px at 10 m strip by strip (one row of
    tiles each), for each of the generator's stacks.

    ``read_strip(top)`` gives rows ``top .. top + tile`` (10 m px) of every stack as
    ``{res: (uint16 reflectance x 10000 (rows, cols, bands), no-data mask (rows, cols))}``; it
    runs in a thread of its own, one strip ahead, so decoding overlaps the model.
    ``write(res, rows, top)`` receives the finished uint16 rows of a stack from row ``top`` of
    its own grid. Tile batches run on the runner's devices in turn; the sums add their outputs
    in one order whatever the devices, so the output does not depend on them. With ``clouds``
    (crmss/dataset/cloud_masks.py), the finished rows are the network's output where the
    weight is 1 and the input where it is 0, blended between."""
    stacks = {res: SCALE[res] for res in runner.stacks}
    tile, overlap, batch_size = settings.tile, settings.overlap, settings.batch_size
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    weights = {
        res: (
            blend_weights(height // s, [r // s for r in rows], tile // s, overlap // s),
            blend_weights(width // s, [c // s for c in cols], tile // s, overlap // s),
        )
        for res, s in stacks.items()
    }
    strips = {res: Strip(tile // s, width // s, len(STACKS[res])) for res, s in stacks.items()}
    with (
        progress_bar(
            settings.progress, total=len(rows) * len(cols), desc=label, unit="tile"
        ) as bar,
        ThreadPoolExecutor(1, initializer=yield_to_the_model) as prefetch,
    ):
        upcoming = prefetch.submit(read_strip, rows[0])
        for index, top in enumerate(rows):
            inputs = upcoming.result()
            if index + 1 < len(rows):
                upcoming = prefetch.submit(read_strip, rows[index + 1])
            for res in stacks:
                strips[res].nodata[: inputs[res][1].shape[0]] |= inputs[res][1]
            batches = [
                range(first, min(first + batch_size, len(cols)))
                for first in range(0, len(cols), batch_size)
            ]

            def tiles_of(batch: range, index=index, inputs=inputs) -> tuple[list, list]:
                x = [
                    np.stack([cut(inputs[res][0], cols[j] // s, tile // s) for j in batch])
                    for res, s in stacks.items()
                ]
                w = [
                    (row_weights[index], col_weights[batch.start : batch.stop])
                    for row_weights, col_weights in weights.values()
                ]
                return x, w

            for batch, outputs in zip(batches, runner.map_weighted(map(tiles_of, batches))):
                for res, y in zip(stacks, outputs):
                    for j, out in zip(batch, y):
                        strips[res].add(out, cols[j] // stacks[res])
                bar.update(len(batch))
            bottom = rows[index + 1] if index + 1 < len(rows) else height
            for res, s in stacks.items():
                done = bottom // s - top // s
                rows_done = strips[res].finished(done)
                if clouds is not None:
                    weights_done = clouds.rows(s, top // s, done, width // s)
                    rows_done = blend_clear(rows_done, inputs[res][0][:done], weights_done)
                write(res, rows_done, top // s)
                strips[res].advance(done)
