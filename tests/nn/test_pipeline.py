"""The input pipeline: aligned reflectance batches, draws from the seed and the epoch alone,
augmentation that moves every stack of a pair alike, and the same batches from tf.data and from
the PyDataset of the other backends."""

import numpy as np
import pytest
import tensorflow as tf

from crmss.core.errors import InputError
from crmss.dataset.tree import load_patches, merge
from crmss.nn.pipeline import (
    BatchPlan,
    PairReader,
    PatchBatches,
    augment,
    epoch_draws,
    make_dataset,
    patch_errors,
)
from crmss.nn.tf_pipeline import as_tf_dataset


@pytest.fixture(scope="module")
def patches(trained):
    """The patches of the session's prepared training pair (256 px)."""
    return merge(list(load_patches(trained / "data").values()))


def test_dataset_yields_aligned_reflectance_batches(patches):
    from osgeo import gdal

    assert patches.size10 == 256 and len(patches) >= 3
    (x10, x20), (y10, y20) = next(iter(make_dataset(patches, 2, shuffle=False, augmentation=False)))
    assert (x10.shape, x20.shape, y20.shape) == (
        (2, 256, 256, 4),
        (2, 128, 128, 6),
        (2, 128, 128, 6),
    )
    assert (
        x10.dtype == tf.float32 and 0 < float(tf.reduce_min(y10)) and float(tf.reduce_max(x10)) <= 1
    )
    first = gdal.Open(patches.files["clear_20m"][0]).ReadAsArray()
    np.testing.assert_allclose(y20[0].numpy(), np.moveaxis(first, 0, -1) / 10000, rtol=1e-6)


def test_each_epoch_is_drawn_from_the_seed_and_its_number_alone(patches):
    def batches(first_epoch, count, **kw):
        dataset = make_dataset(
            patches, 2, repeat=True, seed=5, first_epoch=first_epoch, steps=4, stacks=("10m",), **kw
        )
        return [b[0][0].numpy() for _, b in zip(range(count), dataset)]

    uninterrupted, resumed = batches(0, 16), batches(3, 4)
    # epoch 3, wherever the run began
    assert all(np.array_equal(a, b) for a, b in zip(uninterrupted[12:], resumed))
    assert not np.array_equal(uninterrupted[0], uninterrupted[4])  # another epoch, another draw
    one_pass = make_dataset(patches, 1, augmentation=False, seed=1, stacks=("10m",))
    firsts = sorted(float(b[0][0][0, 0, 0, 0]) for b in one_pass)
    in_order = sorted(
        float(b[0][0][0, 0, 0, 0])
        for b in make_dataset(patches, 1, shuffle=False, augmentation=False, stacks=("10m",))
    )
    assert firsts == in_order  # an epoch of batch 1 without steps: every patch once


def test_draws_are_passes_over_the_patches_and_keep_numpys_raw_stream():
    indices, choices = epoch_draws(5, 12, epoch=3, seed=7, shuffle=True, augmentation=True)
    assert [sorted(indices[i : i + 5].tolist()) for i in (0, 5)] == [list(range(5))] * 2
    assert set(choices.tolist()) <= set(range(6)) and len(set(choices.tolist())) > 2
    again = epoch_draws(5, 12, epoch=3, seed=7, shuffle=True, augmentation=True)
    assert all(np.array_equal(a, b) for a, b in zip((indices, choices), again))
    # PCG64's raw output for SeedSequence([7, 3]), as NumPy defines it in every version: a change
    # here would change what every run reads
    assert indices[:5].tolist() == [2, 4, 3, 1, 0] and choices[:4].tolist() == [4, 3, 4, 1]
    plain, same = epoch_draws(5, 7, 0, 7, shuffle=False, augmentation=False)
    assert plain.tolist() == [0, 1, 2, 3, 4, 0, 1] and not same.any()


def test_augmentation_moves_cloudy_clear_10m_and_20m_together():
    grid = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64, 1) / 4096
    x10 = np.concatenate([grid] * 4, -1)[0]
    x20 = tf.nn.avg_pool2d(np.concatenate([grid] * 6, -1), 2, 2, "VALID")[0].numpy()
    seen = set()
    for choice in range(6):
        a10, a20, b10, b20 = augment(x10, x20, x10 + 1, x20 + 2, choice=choice)
        np.testing.assert_allclose(b10 - 1, a10)
        np.testing.assert_allclose(b20 - 2, a20)
        np.testing.assert_allclose(
            tf.nn.avg_pool2d(a10[None, ..., :1], 2, 2, "VALID")[0, ..., 0], a20[..., 0], rtol=1e-6
        )
        seen.add(tuple(np.round(a10[0, :2, 0], 4)))
    assert len(seen) == 6  # six different transforms
    # the rotations turn as TensorFlow's do
    for k in (1, 2, 3):
        np.testing.assert_array_equal(augment(x10, choice=k)[0], tf.image.rot90(x10, k).numpy())
    np.testing.assert_array_equal(augment(x10, choice=4)[0], tf.image.flip_left_right(x10).numpy())
    np.testing.assert_array_equal(augment(x10, choice=5)[0], tf.image.flip_up_down(x10).numpy())


@pytest.mark.parametrize(
    "plan",
    [
        dict(
            ordered=False,
            steps=3,
            first_epoch=2,
            last_epoch=4,
            seed=9,
            shuffle=True,
            augmentation=True,
        ),
        dict(ordered=True),
        dict(ordered=True, drop_remainder=True),
    ],
    ids=["drawn", "in order", "whole batches"],
)
def test_tf_data_and_the_pydataset_give_the_same_batches(patches, plan):
    """The TensorFlow backend's tf.data pipeline and the PyDataset of JAX's: same arrays."""
    plan = BatchPlan(len(patches), 2, **plan)
    reader = PairReader(patches, ("10m", "20m"), cache=False)
    from_tf = [tf.nest.map_structure(np.asarray, b) for b in as_tf_dataset(reader, plan)]
    from_py = list(PatchBatches(reader, plan))
    assert len(from_tf) == len(from_py) == plan.batches
    for a, b in zip(from_tf, from_py):
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, y)
    if not plan.drop_remainder and plan.ordered:
        assert len(from_py[-1][0][0]) == len(patches) - 2 * (plan.batches - 1)


def test_a_bad_patch_is_named_on_either_path(patches, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a TIFF")
    files = {k: [str(bad), *v[1:]] if k == "cloudy_20m" else v for k, v in patches.files.items()}
    damaged = type(patches)(patches.pairs, files, patches.size10)
    plan = BatchPlan(len(patches), 2)
    reader = PairReader(damaged, ("10m", "20m"), cache=False)
    for batches in (as_tf_dataset(reader, plan), PatchBatches(reader, plan)):
        with pytest.raises(InputError, match=rf"{bad}: cannot read this patch"), patch_errors():
            list(batches)
