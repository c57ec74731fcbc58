"""Tests for issr_jax.color: BT.601 studio-swing YCbCr."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from issr_jax.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDENS = SHARED / "goldens" / "ycbcr_goldens.npz"


def needs_goldens(test):
    skip = pytest.mark.skipif(not GOLDENS.is_file(), reason=f"goldens not found: {GOLDENS}")
    return pytest.mark.data(skip(test))


# MATLAB rgb2ycbcr, [0, 255] output for [0, 1] input.
MATRIX = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
OFFSET = np.array([16.0, 128.0, 128.0])


def test_matches_float64_formula():
    image = np.random.default_rng(0).random((17, 13, 3), dtype=np.float32)
    expected = (image.astype(np.float64) @ MATRIX.T + OFFSET) / 255
    np.testing.assert_allclose(np.asarray(rgb_to_ycbcr(image)), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.asarray(rgb_to_y(image)), expected[..., 0], atol=1e-6, rtol=0)


def test_ranges_black_white_grey():
    corners = np.array([[[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5]]], np.float32)
    ycbcr = np.asarray(rgb_to_ycbcr(corners)) * 255
    np.testing.assert_allclose(ycbcr[0, 0], [16, 128, 128], atol=1e-4)
    np.testing.assert_allclose(ycbcr[0, 1], [235, 128, 128], atol=1e-4)
    np.testing.assert_allclose(ycbcr[0, 2, 1:], [128, 128], atol=1e-4)
    image = np.random.default_rng(1).random((50, 50, 3), dtype=np.float32)
    y = np.asarray(rgb_to_y(image))
    assert y.shape == (50, 50) and y.dtype == np.float32
    assert y.min() >= 16 / 255 - 1e-7 and y.max() <= 235 / 255 + 1e-7


def test_round_trip():
    image = np.random.default_rng(2).random((2, 9, 11, 3), dtype=np.float32)  # leading batch axis
    np.testing.assert_allclose(np.asarray(ycbcr_to_rgb(rgb_to_ycbcr(image))), image, atol=1e-5)


def test_inverse_is_matlab_ycbcr2rgb():
    # MATLAB ycbcr2rgb (double), as documented: R = 1.164 (Y-16) + 1.596 (Cr-128), ...
    ycbcr = np.random.default_rng(3).uniform(16, 235, (6, 6, 3)).astype(np.float32)
    y, cb, cr = (ycbcr[..., i] - o for i, o in enumerate(OFFSET))
    expected = np.stack([1.164 * y + 1.596 * cr, 1.164 * y - 0.392 * cb - 0.813 * cr, 1.164 * y + 2.017 * cb], -1)
    result = np.asarray(ycbcr_to_rgb(ycbcr / 255)) * 255
    np.testing.assert_allclose(result, expected, atol=0.2)  # the documented values are rounded


def test_jit():
    image = np.random.default_rng(4).random((5, 7, 3), dtype=np.float32)
    with jax.disable_jit():
        eager = np.asarray(rgb_to_y(image))
    np.testing.assert_allclose(np.asarray(jax.jit(rgb_to_y)(image)), eager, atol=1.2e-7, rtol=0)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="255"):
        rgb_to_ycbcr(np.zeros((4, 4, 3), np.uint8))


@needs_goldens
def test_float_golden():
    with np.load(GOLDENS) as data:
        image, expected = data["rand_in_f32"], data["y_rand_f32"]
        # BasicSR's bgr2ycbcr of the channel-reversed image is the same Y.
        np.testing.assert_array_equal(data["y_bgr_rand_f32"], expected)
    np.testing.assert_allclose(np.asarray(rgb_to_y(image)), expected, atol=2.5e-7, rtol=0)


@needs_goldens
def test_uint8_golden_rounds_the_same():
    """uint8 / 255 -> rgb_to_y -> * 255 -> np.round is BasicSR's uint8 rgb2ycbcr."""
    with np.load(GOLDENS) as data:
        image, expected = data["baby_crop_u8"], data["y_baby_crop_u8"]
    y = np.round(np.asarray(rgb_to_y(image.astype(np.float32) / 255)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(y, expected)


@needs_goldens
def test_metric_y_golden():
    """The unrounded [0, 255] Y that PSNR/SSIM score (BasicSR's to_y_channel)."""
    with np.load(GOLDENS) as data:
        image, expected = data["baby_crop_u8"], data["ymetric_baby_crop_f32"]
    y = np.asarray(rgb_to_y(image.astype(np.float32) / 255)) * np.float32(255)
    np.testing.assert_allclose(y, expected, atol=6e-5, rtol=0)  # 2 float32 ulps at 235
