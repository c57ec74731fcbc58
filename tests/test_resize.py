"""Tests for issr_jax.resize: MATLAB-compatible bicubic imresize."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jax
import numpy as np
import pytest

from issr_jax.resize import imresize, resize_weights

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDENS = SHARED / "goldens" / "imresize_goldens.npz"

SCALES = [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 1.5, 0.75]


# ---------------------------------------------------------------------------
# An independent float64 reference, written from the algorithm's description:
# a dense [out, in] interpolation matrix per axis, borders by np.pad 'symmetric'.
# ---------------------------------------------------------------------------


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x <= 1,
        1.5 * x**3 - 2.5 * x**2 + 1,
        np.where(x <= 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, 0.0),
    )


def _reference_matrix(n_in: int, n_out: int, scale: float, antialias: bool) -> np.ndarray:
    width = 4.0 / scale if (scale < 1 and antialias) else 4.0
    pad = int(math.ceil(width)) + 2
    # Column c of the padded signal is input position c - pad (0-based).
    source = np.pad(np.arange(n_in), pad, mode="symmetric")
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 1) / scale + 0.5 * (1 - 1 / scale) - 1  # 0-based source coordinate
        first = int(math.floor(centre - width / 2))
        positions = np.arange(first, first + int(math.ceil(width)) + 2)
        distance = centre - positions
        if scale < 1 and antialias:
            weights = scale * _keys_cubic(scale * distance)
        else:
            weights = _keys_cubic(distance)
        weights = weights / weights.sum()
        np.add.at(matrix[i], source[positions + pad], weights)
    return matrix


def reference_imresize(image: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    image = np.asarray(image, np.float64)
    rows = _reference_matrix(image.shape[0], math.ceil(image.shape[0] * scale), scale, antialias)
    cols = _reference_matrix(image.shape[1], math.ceil(image.shape[1] * scale), scale, antialias)
    return np.einsum("oh,hw...,pw->op...", rows, image, cols)


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"x{s:.3g}")
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_float64_reference(scale, seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(5, 40)), int(rng.integers(5, 40)), 3)
    image = rng.random(shape, dtype=np.float32)
    result = np.asarray(imresize(image, scale=scale))
    expected = reference_imresize(image, scale)
    assert result.dtype == np.float32
    assert result.shape == (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale), 3)
    np.testing.assert_allclose(result, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3])
def test_without_antialias_matches_reference(scale):
    image = np.random.default_rng(2).random((23, 17), dtype=np.float32)
    result = np.asarray(imresize(image, scale=scale, antialias=False))
    np.testing.assert_allclose(result, reference_imresize(image, scale, antialias=False), atol=1e-5)


def test_grayscale_2d_equals_single_channel():
    image = np.random.default_rng(3).random((19, 21), dtype=np.float32)
    flat = np.asarray(imresize(image, scale=3))
    channel = np.asarray(imresize(image[..., None], scale=3))
    assert flat.shape == (57, 63)
    np.testing.assert_array_equal(flat, channel[..., 0])


def test_scale_one_is_identity_and_constants_stay_constant():
    rng = np.random.default_rng(4)
    image = rng.random((12, 9, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(imresize(image, scale=1)), image)
    for scale in (4, 1 / 4, 1.5):
        out = np.asarray(imresize(np.full((13, 11, 1), 0.3, np.float32), scale=scale))
        np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_weights_normalised_and_in_range():
    for scale in SCALES:
        for n_in in (1, 2, 7, 50):
            n_out = math.ceil(n_in * scale)
            weights, indices = resize_weights(n_in, n_out, scale, True)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
            assert indices.min() >= 0 and indices.max() < n_in


def test_jit_agrees_with_no_jit():
    image = np.random.default_rng(5).random((31, 26, 3), dtype=np.float32)
    jitted = jax.jit(functools.partial(imresize, scale=3))(image)
    traced_scale = jax.jit(imresize, static_argnames=("scale",))(image, scale=3)
    with jax.disable_jit():
        eager = imresize(image, scale=3)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(traced_scale))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), atol=1e-6, rtol=0)


def test_output_shape():
    image = np.random.default_rng(6).random((20, 30), dtype=np.float32)
    # Without scale: one factor per axis, as MATLAB's imresize(image, [rows cols]).
    out = np.asarray(imresize(image, output_shape=(40, 45)))
    rows = _reference_matrix(20, 40, 2.0, True)
    cols = _reference_matrix(30, 45, 1.5, True)
    np.testing.assert_allclose(out, rows @ image @ cols.T, atol=1e-5)
    # With scale: the scale's sampling grid, truncated to the requested size.
    full = np.asarray(imresize(image, scale=1 / 3))  # ceil -> 7 x 10
    cut = np.asarray(imresize(image, scale=1 / 3, output_shape=[6, 10]))
    np.testing.assert_array_equal(cut, full[:6])


def test_invalid_inputs():
    with pytest.raises(ValueError, match="scale"):
        imresize(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="positive"):
        imresize(np.zeros((4, 4), np.float32), scale=0)
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        imresize(np.zeros((2, 4, 4, 3), np.float32), scale=2)
    with pytest.raises(TypeError, match="float"):
        imresize(np.zeros((4, 4), np.uint8), scale=2)


def _golden_cases():
    if not GOLDENS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"goldens not found: {GOLDENS}"))]
    with np.load(GOLDENS) as data:
        names = [str(n) for n in data["scale_names"]]
    return [f"{image}_{name}" for image in ("rand", "baby", "babyc") for name in names]


@pytest.mark.data
@pytest.mark.parametrize("key", _golden_cases())
def test_matches_basicsr_goldens(key):
    """Every stored output of BasicSR's imresize, borders included (goldens README item 1)."""
    with np.load(GOLDENS) as data:
        scales = dict(zip((str(n) for n in data["scale_names"]), data["scales"]))
        image_name, scale_name = key.split("_", 1)
        source = data[f"{image_name}_in"].astype(np.float32)
        expected = data[key]
    result = np.asarray(imresize(source, scale=float(scales[scale_name])))
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(80, 120, 3), (7, 9), (33, 17, 1), (4, 5)])
def test_integer_upscale_equals_the_tap_table(shape, scale):
    """Integer upscales run as interleaved phases of shifted slices (no gathers); they
    must equal the weighted sums `resize_weights` defines, axis by axis (float64 here)."""
    x = np.random.default_rng(scale).random(shape).astype(np.float32)
    rows, row_taps = resize_weights(shape[0], shape[0] * scale, float(scale))
    cols, col_taps = resize_weights(shape[1], shape[1] * scale, float(scale))
    expected = np.einsum("ot,ot...->o...", rows, np.take(x.astype(np.float64), row_taps, axis=0))
    expected = np.einsum("ot,iot...->io...", cols, np.take(expected, col_taps, axis=1))
    np.testing.assert_allclose(np.asarray(imresize(x, scale=scale)), expected, atol=5e-7, rtol=0)
