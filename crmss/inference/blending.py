"""Seamless tiling geometry: where tiles start, how their outputs are weighted and summed.

Instance normalisation makes each tile's output depend on the tile's own statistics, so tiles
overlap and are blended: each output is weighted by a product of linear ramps that fall from 1
to almost 0 over the overlap towards the tile's edges, divided by the sum of all tiles' weights
at that pixel. Both are separable (tiles form a grid), so each tile's weights are the outer
product of a row and a column vector that sum to 1 over the scene. Tiles that reach past the
scene are reflect-padded. This module knows no model and no file: numpy arrays only.
"""

from __future__ import annotations

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Even start offsets (10 m px) of tiles of side ``tile`` overlapping by at least ``overlap``
    that cover 0..length; one tile (padded) where the scene is smaller than a tile."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append((length - tile) // 2 * 2)
    return starts


def ramp(size: int, overlap: int) -> np.ndarray:
    """(size,) blending weights: 1 inside, falling linearly to 1/(2 overlap) at both edges."""
    if overlap == 0:
        return np.ones(size, np.float32)
    i = np.arange(size, dtype=np.float32) + 0.5
    return np.minimum(1.0, np.minimum(i, size - i) / overlap).astype(np.float32)


def blend_weights(length: int, starts: list[int], size: int, overlap: int) -> np.ndarray:
    """(len(starts), size) float32: the ramp of each tile starting at ``starts`` divided by
    the sum of all tiles' ramps at each position, so they add up to 1 over 0..length (a tile's
    positions past ``length`` are cropped away later)."""
    weights = np.zeros((len(starts), size), np.float32)
    total = np.zeros(max(length, max(starts) + size), np.float32)
    for i, start in enumerate(starts):
        weights[i] = ramp(size, overlap)
        total[start : start + size] += weights[i]
    for i, start in enumerate(starts):
        weights[i] /= total[start : start + size]
    return weights


def cut(strip: np.ndarray, left: int, size: int) -> np.ndarray:
    """A (size, size, bands) tile of a (rows, cols, bands) strip, reflect-padded past the scene."""
    window = strip[:, left : left + size]
    pad_rows, pad_cols = size - window.shape[0], size - window.shape[1]
    if pad_rows or pad_cols:
        window = np.pad(window, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="symmetric")
    return window


class Strip:
    """Blended outputs (reflectance x 10000) over the rows of one strip of tiles, one
    resolution: (rows, cols, bands) float32, reused from strip to strip."""

    def __init__(self, rows: int, cols: int, bands: int):
        self.sum = np.zeros((rows, cols, bands), np.float32)
        self.nodata = np.zeros((rows, cols), bool)

    def add(self, weighted: np.ndarray, left: int) -> None:
        """Add one tile's weighted (tile, tile, bands) output at column ``left``, cropped to the
        scene."""
        rows = min(weighted.shape[0], self.sum.shape[0])
        cols = min(weighted.shape[1], self.sum.shape[1] - left)
        self.sum[:rows, left : left + cols] += weighted[:rows, :cols]

    def finished(self, rows: int) -> np.ndarray:
        """(rows, cols, bands) uint16 output of the first ``rows`` rows: reflectance x 10000,
        at least 1, 0 where no data. Overwrites those rows of the sums (``advance`` drops them)."""
        values = self.sum[:rows]
        valid = (~self.nodata[:rows]).astype(np.float32)[..., None]
        # round half up by truncation after + 0.5, within [1, 65535] (no data: [0, 0]); whole-
        # array passes with float bounds, faster than np.clip or boolean indexing with masks
        np.add(values, 0.5, out=values)
        np.multiply(values, valid, out=values)
        np.maximum(values, valid, out=values)
        np.minimum(values, 65535.0, out=values)
        return values.astype(np.uint16)

    def advance(self, rows: int) -> None:
        """Drop the first ``rows`` rows (written): the rest moves to the top, zeros below."""
        for array in (self.sum, self.nodata):
            keep = array.shape[0] - rows
            if keep > 0:
                array[:keep] = array[rows:]  # numpy copies through a buffer where these overlap
            array[max(keep, 0) :] = 0
