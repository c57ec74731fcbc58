"""The restore stage at a few compiled shapes: bucket canvases, and overlapping tiles.

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

Portrait images are transposed (with their DRK) to share landscape buckets.

Large outputs are restored in overlapping tiles (`restore_tiled`), all of one LR crop
shape, each with `tile_margin` LR pixels on every side that is not an image border:
bicubic spoils 3 s HR pixels next to a crop edge and the DRK spreads that by r, so
`3 + ceil(r / s)` LR pixels of margin leave every kept pixel exact. Image borders are
crop borders, so they get the same symmetric padding as the untiled image.

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

from issr_jax.color import rgb_to_ycbcr, ycbcr_to_rgb
from issr_jax.drk import apply_drk
from issr_jax.resize import _mirror, imresize

__all__ = [
    "TILE_THRESHOLD_PIXELS",
    "Canvas",
    "batch_mesh",
    "bucket_length",
    "canvas_margin",
    "make_canvas",
    "restore_canvases",
    "restore_tiled",
    "tile_margin",
    "needs_tiles",
]

LADDER = (4, 5, 6, 7)  # canvas sides are m * 2^k: at most 25% (typically ~10%) past the image
TILE_THRESHOLD_PIXELS = 4096 * 4096  # outputs larger than this are restored in tiles
TILE_OUTPUT_SIDE = 2048  # HR side of one tile's crop (about): a few hundred MB of work
AXIS = "batch"


def canvas_margin(*, scale: int, drk_size: int) -> int:
    """LR pixels a canvas must extend past an image side (unless it fits exactly)."""
    return max(2, math.ceil((drk_size // 2) / scale))


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


def canvas_shape(height: int, width: int, *, scale: int, drk_size: int) -> tuple[int, int, bool]:
    """`(Hb, Wb, transposed)`: the bucket of an LR image of `height x width`."""
    margin = canvas_margin(scale=scale, drk_size=drk_size)
    transposed = height > width
    if transposed:
        height, width = width, height
    return bucket_length(height, margin=margin), bucket_length(width, margin=margin), transposed


def make_canvas(image: np.ndarray, *, scale: int, drk_size: int, shape: tuple[int, int, bool] | None = None) -> Canvas:
    """Places an `[H, W, C]` LR image on its bucket canvas (or on `shape`, a bucket of
    `canvas_shape` at least as large)."""
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    hb, wb, transposed = shape or canvas_shape(h, w, scale=scale, drk_size=drk_size)
    if transposed:
        image = np.swapaxes(image, 0, 1)
        h, w = w, h
    margin = canvas_margin(scale=scale, drk_size=drk_size)
    for side, length in ((h, hb), (w, wb)):
        if length != side and length < side + margin:
            raise ValueError(f"canvas side {length} is too close to the image side {side} (margin {margin})")
    pixels = np.pad(image, ((0, hb - h), (0, wb - w), (0, 0)), mode="symmetric")
    rows = _mirror(np.arange(scale * hb), scale * h).astype(np.int32)
    cols = _mirror(np.arange(scale * wb), scale * w).astype(np.int32)
    return Canvas(pixels, rows, cols, h, w, transposed)


def _restore_one(canvas, drk, rows, cols, *, scale: int, use_luma: bool):
    """`pipeline.restore` (method "drk") on one canvas: `[s Hb, s Wb, C]`."""
    upsampled = imresize(canvas, scale=scale)
    planes = rgb_to_ycbcr(upsampled)[..., :1] if use_luma else upsampled
    planes = jnp.take(jnp.take(planes, rows, axis=0), cols, axis=1)  # HR mirror past the true border
    restored = apply_drk(planes, drk)
    if use_luma:
        restored = ycbcr_to_rgb(jnp.concatenate([restored, rgb_to_ycbcr(upsampled)[..., 1:]], axis=-1))
    return jnp.clip(restored, 0.0, 1.0)


def batch_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh named "batch" over `devices` (default: this process's devices).

    Auto axes: in jax 0.10 `make_mesh` defaults to Explicit axes, under which batched
    convolutions with sharded operands raise a sharding type error.
    """
    devices = list(devices) if devices is not None else jax.local_devices()
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


@functools.lru_cache(maxsize=None)
def _batched_restore(mesh: jax.sharding.Mesh, scale: int, use_luma: bool):
    body = jax.vmap(functools.partial(_restore_one, scale=scale, use_luma=use_luma))
    spec = PartitionSpec(AXIS)
    # shard_map, not a sharded jit: under jit the partitioner all-gathers batched FFTs.
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(spec,) * 4, out_specs=spec, check_vma=False))


def restore_canvases(canvases: list[Canvas], drks: list[np.ndarray], *, scale: int, use_luma: bool, mesh) -> list[np.ndarray]:
    """Restores canvases of one bucket shape in one call, the batch split over `mesh`.

    The batch is padded (with copies of the first canvas) to a multiple of the mesh
    size, so the compiled shape depends only on the bucket and `len(canvases)` rounded up.

    Args:
      canvases: from `make_canvas`, all of one shape; drks: `[d, d]` each (not transposed:
        a transposed canvas gets the transposed DRK here).

    Returns:
      The `[s H, s W, C] float32` results, cropped to the true region and transposed back.
    """
    count = len(canvases)
    padded = -(-count // mesh.size) * mesh.size
    order = list(range(count)) + [0] * (padded - count)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    stack = lambda arrays: jax.device_put(np.stack([arrays[i] for i in order]), sharding)
    oriented = [d.T if c.transposed else d for c, d in zip(canvases, np.asarray(drks, np.float32))]
    out = _batched_restore(mesh, scale, use_luma)(
        stack([c.pixels for c in canvases]),
        stack(oriented),
        stack([c.rows for c in canvases]),
        stack([c.cols for c in canvases]),
    )
    out = np.asarray(out)
    results = []
    for i, c in enumerate(canvases):
        crop = out[i, : scale * c.height, : scale * c.width]
        results.append(np.array(np.swapaxes(crop, 0, 1) if c.transposed else crop))
    return results


def needs_tiles(height: int, width: int, *, scale: int, threshold: int = TILE_THRESHOLD_PIXELS) -> bool:
    """Whether an LR image of `height x width` is restored in tiles (its output is larger
    than `threshold` pixels)."""
    return height * width * scale * scale > threshold


def tile_margin(*, scale: int, drk_size: int) -> int:
    """LR pixels of overlap each tile needs on an inner side for exact results."""
    return 3 + math.ceil((drk_size // 2) / scale)


def _tile_starts(length: int, crop: int, margin: int) -> list[tuple[int, int, int]]:
    """`(crop_start, keep_start, keep_stop)` per tile along one axis (LR pixels).

    Crops all have length `min(length, crop)`; kept ranges partition `[0, length)` and
    lie at least `margin` inside every crop edge that is not an image edge."""
    crop = min(crop, length)
    if crop == length:
        return [(0, 0, length)]
    core = crop - 2 * margin
    if core < 1:
        raise ValueError(f"tile crop {crop} is too small for margin {margin}")
    tiles, keep = [], 0
    while keep < length:
        start = min(max(keep - margin, 0), length - crop)
        stop = length if start + crop == length else start + crop - margin
        tiles.append((start, keep, stop))
        keep = stop
    return tiles


def restore_tiled(
    image: np.ndarray,
    drk: np.ndarray,
    *,
    scale: int,
    use_luma: bool,
    mesh=None,
    tile_side: int = TILE_OUTPUT_SIDE,
) -> np.ndarray:
    """`pipeline.restore` (method "drk") of a large image, in overlapping tiles.

    Every tile is one LR crop of the same shape (about `tile_side` HR pixels a side), so
    the image compiles once; tiles are restored `mesh.size` at a time, one per device,
    and their exact cores are written into the output. Memory: the output, plus one
    batch of tiles.

    Args:
      image: `[H, W, C] float32` in [0, 1], the LR image.
      drk: `[d, d] float32` restoration kernel.
      scale: integer factor; use_luma: restore BT.601 Y only (RGB input).
      mesh: from `batch_mesh` (default: all local devices).
      tile_side: HR side of a tile (LR crop side about `tile_side / scale`).

    Returns:
      `[s H, s W, C] float32`, equal to the untiled restore to float rounding.
    """
    image = np.asarray(image, np.float32)
    mesh = mesh or batch_mesh()
    drk = np.asarray(drk, np.float32)
    h, w, c = image.shape
    margin = tile_margin(scale=scale, drk_size=drk.shape[0])
    # LR crop side on the ladder, so the canvas is the crop itself (no padding).
    crop = bucket_length(max(4 * margin, tile_side // scale), margin=margin)
    rows = _tile_starts(h, crop, margin)
    cols = _tile_starts(w, crop, margin)
    out = np.empty((scale * h, scale * w, c), np.float32)
    tiles = [(r, q) for r in rows for q in cols]
    crop_h, crop_w = min(crop, h), min(crop, w)
    shape = canvas_shape(crop_h, crop_w, scale=scale, drk_size=drk.shape[0])
    for first in range(0, len(tiles), mesh.size):
        group = tiles[first : first + mesh.size]
        canvases = [
            make_canvas(image[r[0] : r[0] + crop_h, q[0] : q[0] + crop_w], scale=scale, drk_size=drk.shape[0], shape=shape)
            for r, q in group
        ]
        restored = restore_canvases(canvases, [drk] * len(group), scale=scale, use_luma=use_luma, mesh=mesh)
        for ((r0, r1, r2), (q0, q1, q2)), tile in zip(group, restored):
            out[scale * r1 : scale * r2, scale * q1 : scale * q2] = tile[
                scale * (r1 - r0) : scale * (r2 - r0), scale * (q1 - q0) : scale * (q2 - q0)
            ]
    return out
