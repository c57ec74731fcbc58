"""The restore stage at a few compiled shapes: images on bucket canvases.

`pipeline.restore` (MATLAB bicubic x s, then the DRK by FFT with symmetric borders) is
jitted per image shape, so a folder of mixed sizes compiles once per size. Here an LR
image is placed on a *canvas* whose sides come from a short ladder (`bucket_length`),
and the result is exactly the image's own restore (up to FFT rounding, ~1e-7):

- LR side: the canvas extends the image with symmetric padding. Bicubic upsampling reads
  at most 2 LR pixels past the border, where it mirrors (edge repeated); symmetric
  padding of 2 or more rows holds the same values, so the upsampled image is bit-exact
  inside the true region.
- HR side: the DRK (radius r) must see the *HR* image mirrored at the true border, not
  the upsampled LR padding. The upsampled canvas is re-indexed with mirrored row/column
  indices (a gather), so the rows past the border are HR mirror rows; the canvas keeps
  at least r of them (or none: canvas = image, where `apply_drk`'s own padding applies).

- Denoising (presets with `denoise`): the LR denoiser's result near a border is that of
  the mirror-extended image (`restoration.denoise`), so a canvas that extends the image
  by at least `REACH + 1` LR pixels gives the image's own result inside the true region.

Portrait images are transposed (with their DRK) to share landscape buckets.

Batches of canvases are split over the devices of a mesh with `shard_map` (each device
restores whole images; no communication).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from issr_jax.batch.mesh import AXIS
from issr_jax.pipeline import Inverse, restoration, restore_with
from issr_jax.resize import mirror_indices
from issr_jax.restoration import denoise as denoiser

__all__ = ["LADDER", "Canvas", "bucket_length", "canvas_margin", "canvas_shape", "make_canvas", "restore_canvases"]

LADDER = (4, 5, 6, 7)  # canvas sides are m * 2^k: at most 25% (typically ~10%) past the image


def canvas_margin(*, scale: int, drk_size: int, denoise: bool = False) -> int:
    """LR pixels a canvas must extend past an image side (unless it fits exactly)."""
    return max(2, math.ceil((drk_size // 2) / scale), denoiser.REACH + 1 if denoise else 0)


def bucket_length(n: int, *, margin: int) -> int:
    """The canvas side for an image side `n`: `n` itself when it is on the ladder
    (m * 2^k, m in 4..7), else the smallest ladder value >= `n + margin`."""
    if n < 1:
        raise ValueError(f"side must be positive, got {n}")
    power = 1
    while True:
        for m in LADDER:
            length = m * power
            if length == n or length >= n + margin:
                return length
        power *= 2


class Canvas(NamedTuple):
    """One LR image on its bucket canvas, ready for `restore_canvases`.

    Attributes:
        pixels: `[Hb, Wb, C] float32`, the image (transposed if `transposed`) at the
            top-left, extended by symmetric padding.
        rows, cols: `[s Hb]`, `[s Wb] int32` HR indices (mirrored at the true HR border).
        height, width: the true LR size of the image on the canvas (after transposing).
        transposed: the canvas holds the image's transpose.
    """

    pixels: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    height: int
    width: int
    transposed: bool


def canvas_shape(height: int, width: int, *, scale: int, drk_size: int, denoise: bool = False) -> tuple[int, int, bool]:
    """`(Hb, Wb, transposed)`: the bucket of an LR image of `height x width` (`denoise`:
    the image will be denoised on its canvas)."""
    margin = canvas_margin(scale=scale, drk_size=drk_size, denoise=denoise)
    transposed = height > width
    if transposed:
        height, width = width, height
    return bucket_length(height, margin=margin), bucket_length(width, margin=margin), transposed


def make_canvas(
    image: np.ndarray,
    *,
    scale: int,
    drk_size: int,
    shape: tuple[int, int, bool] | None = None,
    denoise: bool = False,
) -> Canvas:
    """Places an `[H, W, C]` LR image on its bucket canvas (or on `shape`, a bucket of
    `canvas_shape` at least as large)."""
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    hb, wb, transposed = shape or canvas_shape(h, w, scale=scale, drk_size=drk_size, denoise=denoise)
    if transposed:
        image = np.swapaxes(image, 0, 1)
        h, w = w, h
    margin = canvas_margin(scale=scale, drk_size=drk_size, denoise=denoise)
    for side, length in ((h, hb), (w, wb)):
        if length != side and length < side + margin:
            raise ValueError(f"canvas side {length} is too close to the image side {side} (margin {margin})")
    pixels = np.pad(image, ((0, hb - h), (0, wb - w), (0, 0)), mode="symmetric")
    rows = mirror_indices(np.arange(scale * hb), scale * h).astype(np.int32)
    cols = mirror_indices(np.arange(scale * wb), scale * w).astype(np.int32)
    return Canvas(pixels, rows, cols, h, w, transposed)


def _restore_canvas(pixels, drk, rows, cols, sigma, *, scale: int, color: str, denoise: bool):
    """`pipeline.restore` (method "drk") on one canvas: `[s Hb, s Wb, C]`; the upsampled
    planes are re-indexed to mirror the HR image past its true border first."""
    restore_planes = restoration(Inverse(drk, None), method="drk", preset=None)
    mirrored = lambda planes: restore_planes(jnp.take(jnp.take(planes, rows, axis=0), cols, axis=1))
    return restore_with(pixels, mirrored, scale=scale, color=color, denoise=sigma if denoise else None)


@functools.cache
def _batched_restore(mesh: jax.sharding.Mesh, scale: int, color: str, denoise: bool):
    body = jax.vmap(functools.partial(_restore_canvas, scale=scale, color=color, denoise=denoise))
    spec = PartitionSpec(AXIS)
    # shard_map, not a sharded jit: under jit the partitioner all-gathers batched FFTs.
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(spec,) * 5, out_specs=spec, check_vma=False))


def restore_canvases(
    canvases: list[Canvas],
    drks: list[np.ndarray],
    *,
    scale: int,
    color: str,
    mesh,
    denoise: list[float] | None = None,
) -> list[np.ndarray]:
    """Restores canvases of one bucket shape in one call, the batch split over `mesh`.

    The batch is padded (with copies of the first canvas) to a multiple of the mesh
    size, so the compiled shape depends only on the bucket and `len(canvases)` rounded up.

    Args:
        canvases: from `make_canvas`, all of one shape; drks: `[d, d]` each (not transposed:
            a transposed canvas gets the transposed DRK here).
        scale: integer factor; color: `"y"` (luma of RGB canvases) or `"rgb"`.
        mesh: from `batch.mesh.batch_mesh`.
        denoise: None, or per canvas the luma noise removed first (canvases made with
            `denoise=True`).

    Returns:
        The `[s H, s W, C] float32` results, cropped to the true region and transposed back.
    """
    count = len(canvases)
    padded = -(-count // mesh.size) * mesh.size
    order = list(range(count)) + [0] * (padded - count)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    stack = lambda arrays: jax.device_put(np.stack([arrays[i] for i in order]), sharding)
    oriented = [d.T if c.transposed else d for c, d in zip(canvases, np.asarray(drks, np.float32))]
    sigmas = np.asarray(denoise if denoise is not None else [0.0] * count, np.float32)
    out = _batched_restore(mesh, scale, color, denoise is not None)(
        stack([c.pixels for c in canvases]),
        stack(oriented),
        stack([c.rows for c in canvases]),
        stack([c.cols for c in canvases]),
        stack(sigmas),
    )
    out = np.asarray(out)
    results = []
    for i, c in enumerate(canvases):
        crop = out[i, : scale * c.height, : scale * c.width]
        results.append(np.array(np.swapaxes(crop, 0, 1) if c.transposed else crop))
    return results
