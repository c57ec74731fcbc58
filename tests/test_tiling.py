"""Bucket canvases and overlapping tiles give the restore of the image itself."""

import jax.numpy as jnp
import numpy as np
import pytest

from issr_jax.batch import canvases, mesh, tiles
from issr_jax.kernels.gaussian import gaussian_kernel
from issr_jax.pipeline import Inverse, restore
from issr_jax.presets import DEFAULT
from issr_jax.restoration.lmmse import lmmse_restoration_kernel


def _drk(scale):
    kernel = gaussian_kernel(size=4 * scale + 1, sigma_x=0.8 * scale, sigma_y=0.5 * scale, theta=0.4)
    return np.asarray(lmmse_restoration_kernel(kernel, scale=scale))


def _reference(image, drk, scale):
    out = restore(
        jnp.asarray(image), Inverse(jnp.asarray(drk), None), scale=scale, color="y", method="drk", preset=DEFAULT
    )
    return np.asarray(out)


@pytest.mark.parametrize("n", range(1, 300, 7))
def test_bucket_is_on_the_ladder_and_leaves_the_margin(n):
    length = canvases.bucket_length(n, margin=5)
    m = length
    while m % 2 == 0 and m > 7:
        m //= 2
    assert m in canvases.LADDER
    assert length == n or length >= n + 5
    assert length <= max(1.25 * (n + 5), 16)


@pytest.mark.parametrize(
    "shape,scale",
    [((37, 53, 3), 2), ((53, 37, 3), 2), ((40, 56, 1), 3), ((64, 64, 3), 4), ((21, 90, 3), 4)],
)
def test_canvas_restore_equals_the_image_restore(shape, scale):
    image = np.random.default_rng(sum(shape)).random(shape, np.float32)
    drk = _drk(scale)
    canvas = canvases.make_canvas(image, scale=scale, drk_size=drk.shape[0])
    assert canvas.transposed == (shape[0] > shape[1])
    (out,) = canvases.restore_canvases([canvas], [drk], scale=scale, color="y", mesh=mesh.batch_mesh())
    # Only the FFT length differs: float32 rounding, larger for the x4 DRK (sum |g| ~ 10)
    # on white-noise images.
    np.testing.assert_allclose(out, _reference(image, drk, scale), atol=2e-5)


@pytest.mark.parametrize("length,crop,margin", [(100, 40, 7), (41, 40, 7), (40, 40, 7), (257, 64, 11), (30, 64, 4)])
def test_tiles_partition_the_axis_and_keep_away_from_inner_edges(length, crop, margin):
    starts = tiles._tile_starts(length, crop, margin)
    kept = [i for _, start, stop in starts for i in range(start, stop)]
    assert kept == list(range(length))
    for crop_start, start, stop in starts:
        size = min(crop, length)
        assert 0 <= crop_start and crop_start + size <= length
        assert crop_start == 0 or start >= crop_start + margin
        assert crop_start + size == length or stop <= crop_start + size - margin


@pytest.mark.parametrize("scale,shape", [(2, (150, 203, 3)), (4, (70, 61, 1))])
def test_tiled_restore_has_no_seams(scale, shape):
    image = np.random.default_rng(scale).random(shape, np.float32)
    drk = _drk(scale)
    tiled = tiles.restore_tiled(image, drk, scale=scale, color="y", tile_side=128)
    assert tiles._tile_starts(shape[0], 128 // scale, tiles.tile_margin(scale=scale, drk_size=drk.shape[0])) != [
        (0, 0, shape[0])
    ]
    np.testing.assert_allclose(tiled, _reference(image, drk, scale), atol=2e-5)


def test_large_outputs_go_through_tiles():
    assert not tiles.needs_tiles(2160 // 2, 3840 // 2, scale=2)  # 4K: whole
    assert tiles.needs_tiles(8192 // 4, 8192 // 4, scale=4)  # 8K x 8K: tiles
