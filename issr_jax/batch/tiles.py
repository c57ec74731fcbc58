"""Large outputs in overlapping tiles, every tile one bucket canvas of the same shape.

Large outputs are restored in overlapping tiles (`restore_tiled`), all of one LR crop
shape, each with `tile_margin` LR pixels on every side that is not an image border:
bicubic spoils 3 s HR pixels next to a crop edge and the DRK spreads that by r, so
`3 + ceil(r / s)` LR pixels of margin leave every kept pixel exact. Image borders are
crop borders, so they get the same symmetric padding as the untiled image. An image to
denoise (presets with `denoise`) is denoised first, in bands of rows with the same result
as whole (`restoration.denoise.denoise_image_in_bands`), then tiled.
"""

from __future__ import annotations

import math

import numpy as np

from issr_jax.batch.canvases import bucket_length, canvas_shape, make_canvas, restore_canvases
from issr_jax.batch.mesh import batch_mesh
from issr_jax.restoration.denoise import denoise_image_in_bands

__all__ = [
    "DENOISE_TILE_THRESHOLD_PIXELS",
    "TILE_OUTPUT_SIDE",
    "TILE_THRESHOLD_PIXELS",
    "needs_tiles",
    "restore_tiled",
    "tile_margin",
]

TILE_THRESHOLD_PIXELS = 4096 * 4096  # outputs larger than this are restored in tiles
# ... and, for a preset that denoises, outputs larger than this: the denoiser's 16 block
# tilings in one program held about 2 GiB for a 4K output (3840 x 2160, x2).
DENOISE_TILE_THRESHOLD_PIXELS = 2048 * 2048
TILE_OUTPUT_SIDE = 2048  # HR side of one tile's crop (about): a few hundred MB of work


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
    color: str,
    mesh=None,
    tile_side: int = TILE_OUTPUT_SIDE,
    denoise: float | None = None,
) -> np.ndarray:
    """`pipeline.restore` (method "drk") of a large image, in overlapping tiles.

    Every tile is one LR crop of the same shape (about `tile_side` HR pixels a side), so
    the image compiles once; tiles are restored `mesh.size` at a time, one per device,
    and their exact cores are written into the output. Memory: the output, plus one
    batch of tiles.

    Args:
        image: `[H, W, C] float32` in [0, 1], the LR image.
        drk: `[d, d] float32` restoration kernel.
        scale: integer factor; color: `"y"` restores BT.601 Y only (RGB input), `"rgb"` every channel.
        mesh: from `batch_mesh` (default: all local devices).
        tile_side: HR side of a tile (LR crop side about `tile_side / scale`).
        denoise: None, or the luma noise removed from the LR image first.

    Returns:
        `[s H, s W, C] float32`, equal to the untiled restore to float rounding.
    """
    image = np.asarray(image, np.float32)
    if denoise is not None:
        image = denoise_image_in_bands(image, denoise)
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
            make_canvas(
                image[r[0] : r[0] + crop_h, q[0] : q[0] + crop_w], scale=scale, drk_size=drk.shape[0], shape=shape
            )
            for r, q in group
        ]
        restored = restore_canvases(canvases, [drk] * len(group), scale=scale, color=color, mesh=mesh)
        for ((r0, r1, r2), (q0, q1, q2)), tile in zip(group, restored):
            out[scale * r1 : scale * r2, scale * q1 : scale * q2] = tile[
                scale * (r1 - r0) : scale * (r2 - r0), scale * (q1 - q0) : scale * (q2 - q0)
            ]
    return out
