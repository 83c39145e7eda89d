"""The CR-MSS window grid, as the authors' ``cutimg.py`` cuts it.

The 10 m stack is cut in 256 x 256 px windows with stride 256 and the 20 m stack in
128 x 128 px windows with stride 128, so window k of both covers the same 2560 m x 2560 m.
Windows are numbered k = row * cols + col + 1 over the whole grid, dropped ones included, so a
number means the same place in every product of a tile. Pixels past the last whole window
(228 px at 10 m for a 10980 px tile) are not used. A window is dropped where any pixel of any
band is 0 (no data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW = {"10m": 256, "20m": 128}
SCALE = {"10m": 1, "20m": 2}  # pixel size relative to the 10 m grid


@dataclass(frozen=True)
class WindowGrid:
    """Rows x cols of windows over a product whose 10 m bands are width x height px."""

    rows: int
    cols: int

    @classmethod
    def for_size(cls, width: int, height: int) -> WindowGrid:
        return cls(rows=height // WINDOW["10m"], cols=width // WINDOW["10m"])

    @property
    def count(self) -> int:
        return self.rows * self.cols

    def number(self, row: int, col: int) -> int:
        """Window number k (from 1) of the window at (row, col)."""
        return row * self.cols + col + 1

    def position(self, k: int) -> tuple[int, int]:
        """(row, col) of window k."""
        if not 1 <= k <= self.count:
            raise ValueError(f"window {k} is outside 1..{self.count}")
        return divmod(k - 1, self.cols)

    def offset(self, k: int, res: str) -> tuple[int, int]:
        """Pixel offset (col, row) of window k's top-left corner in the ``res`` band."""
        row, col = self.position(k)
        return col * WINDOW[res], row * WINDOW[res]

    def cut(self, stack: np.ndarray, k: int, res: str) -> np.ndarray:
        """Window k of a (bands, rows, cols) stack at resolution ``res`` (a view)."""
        x, y = self.offset(k, res)
        size = WINDOW[res]
        return stack[:, y : y + size, x : x + size]

    def nodata_windows(self, band: np.ndarray, res: str) -> np.ndarray:
        """(rows, cols) bool: windows holding at least one 0 pixel of this 2-D band."""
        size = WINDOW[res]
        used = band[: self.rows * size, : self.cols * size]
        blocks = used.reshape(self.rows, size, self.cols, size)
        return blocks.min(axis=(1, 3)) == 0  # no-data is 0, the smallest uint16


def check_patch_size(size10: int) -> None:
    """Raise ValueError unless a 10 m side of ``size10`` px fits the generator (multiple of 32)."""
    if size10 % 32:
        raise ValueError(
            f"the 10 m patch side must be a multiple of 32 px (e.g. 256), not {size10}"
        )
