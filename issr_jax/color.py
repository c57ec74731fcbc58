"""ITU-R BT.601 "studio swing" YCbCr for float RGB images, as MATLAB's ``rgb2ycbcr``.

With R, G, B in [0, 1]::

    Y  =  16 +  65.481 R + 128.553 G +  24.966 B     in [16, 235]
    Cb = 128 -  37.797 R -  74.203 G + 112.000 B     in [16, 240]
    Cr = 128 + 112.000 R -  93.786 G -  18.214 B     in [16, 240]

and the functions here return these values divided by 255, so a float image in [0, 1]
maps to Y in [16/255, 235/255]. This is the Y that super-resolution papers (and
BasicSR's ``rgb2ycbcr`` / ``to_y_channel``) score PSNR and SSIM on. Channel order is
RGB throughout (BasicSR's metric code works on BGR arrays from OpenCV; with RGB arrays
these coefficients give the same Y).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "QUANTISATION_NOISE",
    "YCBCR_FROM_RGB",
    "YCBCR_OFFSET",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
]

# Rows: Y, Cb, Cr; columns: R, G, B. [0, 255] output scale for [0, 1] input.
YCBCR_FROM_RGB = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)

# Variance of the Y of 8-bit RGB rounding noise (1/12 per channel), in 8-bit levels
# squared: the noise floor every 8-bit RGB image has.
QUANTISATION_NOISE = float(np.sum((YCBCR_FROM_RGB[0] / 255.0) ** 2) / 12.0)

# MATLAB ycbcr2rgb: the inverse of the matrix above, on the [0, 255] scale.
_RGB_FROM_YCBCR = np.linalg.inv(YCBCR_FROM_RGB)


def _check_rgb(image: jax.Array) -> jax.Array:
    image = jnp.asarray(image)
    if image.ndim < 3 or image.shape[-1] != 3:
        raise ValueError(f"expected [..., H, W, 3] RGB, got shape {image.shape}")
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"expected a float image in [0, 1], got dtype {image.dtype}; divide uint8 by 255")
    return image.astype(jnp.float32)


def _apply_matrix(image: jax.Array, matrix: np.ndarray) -> jax.Array:
    """``image @ matrix.T`` over the channel axis as explicit float32 multiply-adds
    (3 terms; avoids a matmul, whose default precision on GPU is TF32)."""
    matrix = matrix.astype(np.float32)
    channels = [image[..., c] for c in range(3)]
    return jnp.stack(
        [sum(float(matrix[row, c]) * channels[c] for c in range(3)) for row in range(matrix.shape[0])],
        axis=-1,
    )


@jax.jit
def rgb_to_y(image: jax.Array) -> jax.Array:
    """Luma Y of BT.601 studio swing.

    Args:
        image: ``[..., H, W, 3]`` float RGB in [0, 1].

    Returns:
        ``[..., H, W]`` float32 in [16/255, 235/255]:
        ``(16 + 65.481 R + 128.553 G + 24.966 B) / 255``.
    """
    image = _check_rgb(image)
    return (_apply_matrix(image, YCBCR_FROM_RGB[:1])[..., 0] + np.float32(16.0)) / np.float32(255.0)


@jax.jit
def rgb_to_ycbcr(image: jax.Array) -> jax.Array:
    """BT.601 studio-swing YCbCr (MATLAB ``rgb2ycbcr`` for double images).

    Args:
        image: ``[..., H, W, 3]`` float RGB in [0, 1].

    Returns:
        ``[..., H, W, 3]`` float32 (Y, Cb, Cr): Y in [16/255, 235/255], Cb and Cr in
        [16/255, 240/255].
    """
    image = _check_rgb(image)
    return (_apply_matrix(image, YCBCR_FROM_RGB) + YCBCR_OFFSET.astype(np.float32)) / np.float32(255.0)


@jax.jit
def ycbcr_to_rgb(image: jax.Array) -> jax.Array:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb`` for double images).

    Args:
        image: ``[..., H, W, 3]`` float (Y, Cb, Cr) on the [0, 1] scale of
            :func:`rgb_to_ycbcr`.

    Returns:
        ``[..., H, W, 3]`` float32 RGB, in [0, 1] for inputs that came from an RGB image
        in [0, 1]; not clipped.
    """
    image = _check_rgb(image)
    centred = image * np.float32(255.0) - YCBCR_OFFSET.astype(np.float32)
    return _apply_matrix(centred, _RGB_FROM_YCBCR)
