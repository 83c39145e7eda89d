import keras
import numpy as np
import pytest
import tensorflow as tf

from crmss.dataset.windows import check_patch_size
from crmss.nn.losses import (
    checkerboard,
    discriminator_loss,
    generator_adversarial_loss,
    image_gradient,
    nyquist_power,
    psnr,
    reconstruction_loss,
)
from crmss.nn.model import build_discriminator, build_generator, generator_stacks, run_generator
from crmss.nn.training import CyclicDecay


def _inputs(size, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.random((batch, size, size, 4), np.float32),
        rng.random((batch, size // 2, size // 2, 6), np.float32),
    ]


def test_generator_has_the_published_parameter_count_and_shapes():
    generator = build_generator(64)
    assert sum(int(np.prod(v.shape)) for v in generator.trainable_weights) == 24_602_240
    shapes = {layer.name: layer.output.shape[-1] for layer in generator.layers}
    assert [shapes[n] for n in ("e1", "e0", "e2", "e20", "e3", "e4", "e5", "e6")] == [
        64,
        64,
        128,
        192,
        256,
        512,
        512,
        512,
    ]
    assert [shapes[n] for n in ("d1", "d2", "d3", "d4", "d5")] == [1024, 1024, 512, 320, 128]
    assert not any(getattr(layer, "use_bias", False) for layer in generator.layers)


@pytest.mark.parametrize("size", [256, 288, 64])
def test_generator_maps_both_resolutions_to_both_resolutions(size):
    y10, y20 = build_generator(8)(_inputs(size, batch=2))
    assert y10.shape == (2, size, size, 4) and y20.shape == (2, size // 2, size // 2, 6)
    assert float(np.min(y10)) > 0 and float(np.max(y20)) < 1  # sigmoid


def test_patch_sides_must_be_multiples_of_32():
    check_patch_size(288)
    with pytest.raises(ValueError, match="multiple of 32"):
        check_patch_size(272)
    # the skip connections no longer line up
    with pytest.raises(tf.errors.InvalidArgumentError, match="ConcatOp"):
        build_generator(8)(_inputs(272))


def test_discriminator_scores_patches_of_all_ten_bands():
    critic = build_discriminator(8)
    assert critic(_inputs(256, batch=3)).shape == (3, 16, 16, 1)


def test_visnir_ablation_is_cr_mss_without_the_20m_branch_and_head():
    full, visnir = build_generator(64), build_generator(64, bands="visnir")
    assert (
        visnir.count_params() == 24_368_512
        and generator_stacks(visnir) == ("10m",)
        and generator_stacks(full) == ("10m", "20m")
    )
    names = {layer.name for layer in visnir.layers}
    assert {layer.name for layer in full.layers} - names == {"x20", "e0_conv", "e0", "e20", "y20"}
    shapes = {layer.name: layer.output.shape[-1] for layer in visnir.layers}
    assert [shapes[n] for n in ("e1", "e2", "e3", "e4", "e5", "e6")] == [
        64,
        128,
        256,
        512,
        512,
        512,
    ]
    # d4 = up + e2 (no e0)
    assert [shapes[n] for n in ("d1", "d2", "d3", "d4", "d5")] == [1024, 1024, 512, 256, 128]
    for name in (
        "e1_conv",
        "e2_conv",
        "e4_conv",
        "e5_conv",
        "e6_conv",
        "d1_deconv",
        "d2_deconv",
        "d3_deconv",
        "y10",
    ):
        # unchanged where e0 does not reach
        assert visnir.get_layer(name).kernel.shape == full.get_layer(name).kernel.shape, name
    (y10,) = run_generator(build_generator(8, bands="visnir"), _inputs(64, batch=2)[:1])
    assert y10.shape == (2, 64, 64, 4)
    assert build_discriminator(8, bands="visnir")([_inputs(64)[0]]).shape == (1, 4, 4, 1)


def test_a_model_of_another_interface_is_named_as_such():
    inputs = keras.Input((None, None, 3))
    with pytest.raises(
        ValueError,
        match=r"takes \[\(None, None, None, 3\)\] .* a CR-MSS "
        r"generator takes",
    ):
        generator_stacks(keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs)))


def test_saved_generator_loads_with_plain_keras_and_gives_the_same_output(tmp_path):
    generator = build_generator(8)
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    x = _inputs(64)
    for a, b in zip(generator(x), loaded(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_instance_norm_normalises_each_sample_and_channel():
    generator = build_generator(8)
    layer = generator.get_layer("e3_in")
    x = np.random.default_rng(1).normal(3, 5, (2, 8, 8, 32)).astype(np.float32)
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-3)
    assert layer.epsilon == 1e-6


def test_loss_terms_on_known_values():
    ones, zeros = np.ones((1, 4, 4, 1), np.float32), np.zeros((1, 4, 4, 1), np.float32)
    assert (
        float(discriminator_loss(ones, zeros)) == 0 and float(discriminator_loss(zeros, ones)) == 1
    )
    assert (
        float(generator_adversarial_loss(ones)) == 0
        and float(generator_adversarial_loss(zeros)) == 1
    )
    # sqrt(1e-6)
    np.testing.assert_allclose(np.asarray(image_gradient(ones * 0.3)), 1e-3, rtol=1e-4)
    ramp = np.tile(np.arange(4, dtype=np.float32), (4, 1))[None, :, :, None]  # dx = 1, dy = 0
    # the last column: symmetric padding
    expected = np.sqrt(np.array([1, 1, 1, 0], np.float32) ** 2 + 1e-6)
    np.testing.assert_allclose(np.asarray(image_gradient(ramp))[0, 0, :, 0], expected, rtol=1e-5)
    two = [ones[..., :1] * 0.5, ones[..., :1] * 0.25]
    assert float(reconstruction_loss(two, [zeros, zeros], 10.0, 1.0)) == pytest.approx(7.5)
    assert float(psnr(ones * 0.1, zeros)) == pytest.approx(20.0, abs=1e-4)


def test_the_checkerboard_measure_finds_a_2_pixel_pattern_and_nothing_else():
    """A 2-pixel checkerboard, or stripes, of amplitude 0.01 on a smooth truth raise the power at
    the Nyquist frequencies by their own; the truth itself, or a copy shifted in brightness, is
    at 0 dB."""
    rng = np.random.default_rng(0)
    truth = (0.2 + 0.05 * rng.standard_normal((2, 64, 64, 3))).astype(np.float32)
    rows, cols = np.indices((64, 64))
    chequered = truth + 0.01 * ((-1.0) ** (rows + cols))[None, :, :, None].astype(np.float32)
    striped = truth + 0.01 * ((-1.0) ** cols)[None, :, :, None].astype(np.float32)
    assert float(checkerboard(truth, truth)) == pytest.approx(0.0, abs=1e-5)
    assert float(checkerboard(truth + 0.1, truth)) == pytest.approx(0.0, abs=1e-3)
    # the power as numpy's FFT gives it: |F(H/2, W/2)|^2 + |F(H/2, 0)|^2 + |F(0, W/2)|^2 over
    # (H W)^2, averaged over the bands
    spectrum = np.abs(np.fft.fft2(truth, axes=(1, 2))) ** 2 / 64**4
    own = spectrum[:, 32, 32] + spectrum[:, 32, 0] + spectrum[:, 0, 32]
    np.testing.assert_allclose(np.asarray(nyquist_power(truth)), own.mean(-1), rtol=1e-4)
    expected = 10 * np.log10((own.mean() + 0.01**2) / own.mean())
    assert 10 < expected < 25
    for image in (chequered, striped):
        assert float(checkerboard(image, truth)) == pytest.approx(expected, abs=1.0)
    # an odd side: a brighter copy is still at 0 dB
    odd = truth[:, :63, :63]
    assert float(checkerboard(odd + 0.05, odd)) == pytest.approx(0.0, abs=1e-3)


def test_cyclic_schedule_matches_the_whus2crv_decay():
    schedule = CyclicDecay(2e-4)
    expected = {
        0: 2e-4,
        99_999: 2e-4,
        100_000: 2e-4,
        100_099: 2e-4,
        100_100: 2e-4 * 0.98,
        150_000: 2e-4 * 0.98**500,
        200_000: 2e-4 * 0.96,
        200_250: 2e-4 * 0.96 * 0.98**2,
        300_000: 2e-4 * 0.96**2,
    }
    for step, lr in expected.items():
        assert float(schedule(step)) == pytest.approx(lr, rel=1e-5), step


def test_the_residual_head_starts_as_the_identity_and_loads_back(tmp_path):
    from crmss.nn.model import load_generator
    from crmss.nn.precision import at_precision

    generator = build_generator(8, head="residual")
    x = _inputs(64, batch=2)
    y = run_generator(generator, x)
    # the correction's conv starts at zero (x clipped to 1e-4)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(y, x))
    delta = generator.get_layer("y20_delta")
    delta.kernel.assign(np.full(delta.kernel.shape, 0.01, np.float32))
    generator.save(tmp_path / "generator.keras")
    loaded = load_generator(tmp_path)
    assert generator_stacks(loaded) == ("10m", "20m")
    moved = run_generator(loaded, x)
    assert np.allclose(moved[0], x[0], atol=1e-4) and not np.allclose(moved[1], x[1], atol=1e-3)
    assert all(np.allclose(a, b) for a, b in zip(moved, run_generator(generator, x)))
    copy = at_precision(loaded, "bfloat16")
    assert copy.get_layer("y20").dtype_policy.name == "float32"
    assert (
        max(float(np.abs(np.asarray(a) - b).max()) for a, b in zip(run_generator(copy, x), moved))
        < 0.05
    )


def test_a_damaged_keras_file_is_named_as_damaged(tmp_path):
    from crmss.core.errors import InputError
    from crmss.nn.model import load_generator

    (tmp_path / "broken.keras").write_bytes(b"not a zip at all")
    with pytest.raises(
        InputError,
        match=r"broken.keras: cannot load the generator \(not a Keras "
        r"archive: the file is damaged or truncated\)",
    ):
        load_generator(tmp_path / "broken.keras")
