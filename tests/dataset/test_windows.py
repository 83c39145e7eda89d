import numpy as np
import pytest

from crmss.dataset.windows import WindowGrid


def test_full_tile_grid_is_42_by_42_and_numbers_run_row_major_from_1():
    grid = WindowGrid.for_size(10980, 10980)
    assert (grid.rows, grid.cols, grid.count) == (42, 42, 1764)
    assert grid.number(0, 0) == 1 and grid.number(0, 41) == 42 and grid.number(1, 0) == 43
    assert grid.number(41, 41) == 1764
    for k in (1, 42, 43, 1000, 1764):
        assert grid.number(*grid.position(k)) == k
    with pytest.raises(ValueError):
        grid.position(1765)


def test_window_offsets_of_both_resolutions_cover_the_same_ground():
    grid = WindowGrid.for_size(10980, 10980)
    assert grid.offset(1, "10m") == (0, 0)
    assert grid.offset(43, "10m") == (0, 256) and grid.offset(43, "20m") == (0, 128)
    assert grid.offset(1764, "10m") == (41 * 256, 41 * 256)
    for k in (2, 100, 1764):
        (x10, y10), (x20, y20) = grid.offset(k, "10m"), grid.offset(k, "20m")
        assert (x10 * 10, y10 * 10) == (x20 * 20, y20 * 20)
    # the last 228 px (10 m) and 114 px (20 m) are not used
    assert grid.offset(42, "10m")[0] + 256 == 10980 - 228
    assert grid.offset(42, "20m")[0] + 128 == 5490 - 114


def test_cut_returns_the_window_of_a_stack():
    grid = WindowGrid.for_size(600, 520)  # 2 rows x 2 cols
    stack = np.arange(3 * 260 * 300).reshape(3, 260, 300)
    window = grid.cut(stack, 4, "20m")
    assert window.shape == (3, 128, 128)
    assert np.array_equal(window, stack[:, 128:256, 128:256])


def test_nodata_windows_flags_any_zero_pixel_and_ignores_unused_margins():
    grid = WindowGrid.for_size(800, 560)  # 2 x 3 windows
    band = np.ones((560, 800), np.uint16)
    band[300, 600] = 0  # window (1, 2): k = 6
    band[555, 10] = 0  # beyond the last whole row of windows: not used
    band[0, 790] = 0  # beyond the last whole column: not used
    flagged = grid.nodata_windows(band, "10m")
    assert flagged.shape == (2, 3)
    assert np.flatnonzero(flagged.ravel()).tolist() == [5]
