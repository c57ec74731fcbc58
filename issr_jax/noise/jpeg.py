"""What JPEG compression did to an image, from its luma quantisation table.

JPEG divides each 8x8 block's DCT coefficients by the table's steps `q` and rounds: a
coefficient smaller than `q / 2` is gone, a larger one keeps an error uniform over
`[-q/2, q/2]`. Two consequences for the restoration:

- the error acts as noise of variance `sum (1 - p0) q^2 / 12 / 64` per pixel (`p0` the
  fraction of each frequency's coefficients that were zeroed, measured on the decoded
  image's own block grid), but it is not white: it sits at the block frequencies and
  around edges. `JPEG_NOISE_FACTOR` scales its standard deviation to the white noise the
  denoiser and the design should assume, which is more than the error's own RMS (about
  1.4 to 2.1 times the value above on DIV2KRK dev), since the error sits in the mid and
  high frequencies the design amplifies. Chosen on DIV2KRK dev: on its first 8 images,
  factors 1.5, 2, 3 and 4 gave mean gains within 0.1 dB of each other at qualities 95
  to 75; on all 18 at factor 2, a smooth image (`im_96`, few surviving coefficients) fell
  1.1 dB below bicubic at quality 50, which factor 3 lifts above it. BSD100 compressed
  the same way (RESULTS.md) was not used to choose;
- the frequencies whose coefficients were mostly zeroed say nothing about the blur: the
  spectral fit weights each frequency by the fraction that survived
  (`kernels.blind`).

The table comes from the file's header (`io.read_image`); the block grid's origin is
found from the decoded pixels (the corner whose blocks' coefficients sit nearest to
multiples of the steps), which covers images turned upright by their EXIF orientation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from issr_jax.color import YCBCR_FROM_RGB
from issr_jax.restoration.denoise import BLOCK, dct_matrix

__all__ = ["JPEG_NOISE_FACTOR", "JpegNoise", "jpeg_noise"]

JPEG_NOISE_FACTOR = 3.0


class JpegNoise(NamedTuple):
    """Attributes:
    sigma: the standard deviation of the quantisation error of the BT.601 luma, in
        8-bit levels (studio range, as `noise.estimate`), before `JPEG_NOISE_FACTOR`.
    surviving: `[8, 8]` per DCT frequency (vertical, horizontal), the fraction of
        coefficients that survived, made symmetric (the smaller of `(u, v)` and `(v, u)`:
        an image turned by its EXIF orientation swaps them).
    """

    sigma: float
    surviving: np.ndarray


def _coefficients(plane: np.ndarray, top: int, left: int) -> np.ndarray:
    """`[64, blocks]` DCT coefficients of the whole 8x8 blocks of `plane` from `(top, left)`."""
    rows, cols = (plane.shape[0] - top) // BLOCK, (plane.shape[1] - left) // BLOCK
    blocks = plane[top : top + rows * BLOCK, left : left + cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    d = dct_matrix().astype(np.float64)
    return np.einsum("ij,ajbk,lk->ilab", d, blocks, d).reshape(BLOCK * BLOCK, -1)


def jpeg_noise(image: np.ndarray, table: np.ndarray) -> JpegNoise:
    """The quantisation error and the surviving frequencies of a decoded JPEG.

    Args:
        image: `[H, W, C] float` in [0, 1] as decoded (C = 3: RGB, C = 1: gray), sides >= 8.
        table: `[8, 8]` luma quantisation steps in natural (row-major) order.

    Returns:
        `JpegNoise`.
    """
    image = np.asarray(image, np.float64)
    table = np.asarray(table, np.float64).reshape(BLOCK * BLOCK, 1)
    if image.shape[-1] == 3:  # JFIF's full-range luma: BT.601 weights, [0, 255]
        plane = image @ (YCBCR_FROM_RGB[0] / YCBCR_FROM_RGB[0].sum() * 255.0)
        studio = YCBCR_FROM_RGB[0].sum() / 255.0  # 219/255: back to studio-range levels
    else:
        plane, studio = image[..., 0] * 255.0, 1.0
    h, w = plane.shape
    best, best_error = None, math.inf
    for top in sorted({0, h % BLOCK}):
        for left in sorted({0, w % BLOCK}):
            coefficients = _coefficients(plane, top, left)
            ratio = coefficients[1:] / table[1:]
            error = float(np.mean(np.abs(ratio - np.round(ratio))))
            if error < best_error:
                best, best_error = coefficients, error
    zeroed = np.mean(np.abs(best) < table / 2, axis=1)
    variance = float(np.sum((1 - zeroed) * table[:, 0] ** 2 / 12) / (BLOCK * BLOCK))
    surviving = (1 - zeroed).reshape(BLOCK, BLOCK)
    return JpegNoise(math.sqrt(variance) * studio, np.minimum(surviving, surviving.T).astype(np.float32))
