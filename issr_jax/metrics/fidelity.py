"""Fidelity to a reference as super-resolution papers report it: PSNR and SSIM.

Both follow BasicSR's NumPy implementations (``basicsr/metrics``), which in turn
follow the MATLAB code behind the published tables:

- Inputs are float images in [0, 1], RGB order, ``[H, W, 3]``; the metrics work on the
  [0, 255] scale internally, as BasicSR does with uint8 images.
- Grayscale: ``[H, W]`` or ``[H, W, 1]`` images are scored on their grey values as
  they are; ``y_channel`` is ignored for them (BasicSR's convention for 2-D arrays,
  the goldens' ``gray2d`` variant). A grey image stored as 3 equal channels is an RGB
  image: its Y is ``16 + 219/255 * grey``, so PSNR-Y is 1.32 dB higher than the grey
  PSNR of the same pixels.
- ``crop_border`` removes that many pixels from each of the four sides first (usually
  the scale factor).
- ``y_channel=True`` scores BT.601 Y (:func:`issr_jax.color.rgb_to_y`, not rounded);
  ``y_channel=False`` scores all three RGB channels.

PSNR and SSIM are JAX and jittable (the options are static).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import rgb_to_y

__all__ = [
    "PIXEL_MAX",
    "gaussian_taps",
    "psnr",
    "psnr_batch",
    "ssim",
    "ssim_batch",
]

PIXEL_MAX = 255.0


# ---------------------------------------------------------------------------
# Both are computed on images zero-padded up to a multiple of _BUCKET pixels per side,
# with the scored region (after crop_border) passed as traced extents and applied as a
# mask. Benchmarks score many images of different sizes: this way they share a handful
# of compiled programs (one per bucket) instead of one per image size and crop. The
# padding never reaches a scored value (PSNR is per pixel; SSIM's 'valid' windows that
# touch it are masked out).
# ---------------------------------------------------------------------------

_BUCKET = 128
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5


def _prepare_pair(
    image: jax.Array, reference: jax.Array, *, crop_border: int, min_size: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Checks a pair, adds the channel axis and pads both to the bucket size.

    Args:
        image, reference: ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` float in [0, 1].

    Returns:
        ``(image, reference, extents)``: the two padded ``[Hp, Wp, C]`` arrays and
        int32 ``[4]`` = (top, bottom, left, right) of the region to score.
    """
    if jnp.shape(image) != jnp.shape(reference):
        raise ValueError(f"image and reference differ in shape: {jnp.shape(image)} vs {jnp.shape(reference)}")
    padded = []
    for array in (image, reference):
        if not jnp.issubdtype(jnp.result_type(array), jnp.floating):
            raise TypeError(
                f"expected a float image in [0, 1], got dtype {jnp.result_type(array)}; divide uint8 images by 255"
            )
        if jnp.ndim(array) == 2:
            array = array[..., None]
        if jnp.ndim(array) != 3 or jnp.shape(array)[-1] not in (1, 3):
            raise ValueError(f"expected [H, W], [H, W, 1] or [H, W, 3], got shape {jnp.shape(array)}")
        height, width = jnp.shape(array)[:2]
        widths = ((0, -height % _BUCKET), (0, -width % _BUCKET), (0, 0))
        # NumPy inputs are padded in NumPy: no per-size XLA program at all.
        if isinstance(array, np.ndarray):
            padded.append(np.pad(array.astype(np.float32, copy=False), widths))
        else:
            padded.append(jnp.pad(jnp.asarray(array, jnp.float32), widths))
    if crop_border < 0 or min(height, width) - 2 * crop_border < min_size:
        raise ValueError(
            f"crop_border={crop_border} leaves less than {min_size}x{min_size} of a {height}x{width} image"
        )
    extents = np.array([crop_border, height - crop_border, crop_border, width - crop_border], dtype=np.int32)
    return padded[0], padded[1], extents


def _planes(image: jax.Array, y_channel: bool) -> jax.Array:
    """``[H, W, C]`` in [0, 1] -> the planes to score, ``[H, W, P]`` on [0, 255]:
    Y when ``y_channel`` and RGB, else the channels as they are."""
    if image.shape[-1] == 3 and y_channel:
        image = rgb_to_y(image)[..., None]
    return image * np.float32(PIXEL_MAX)


def _region_mask(shape: tuple[int, int], top, bottom, left, right) -> jax.Array:
    rows = jnp.arange(shape[0])
    cols = jnp.arange(shape[1])
    return ((rows >= top) & (rows < bottom))[:, None] & ((cols >= left) & (cols < right))[None, :]


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values [H, W, P]`` over the ``mask [H, W]`` pixels and all planes.
    Sums per row, then over rows: shorter float32 accumulations than one flat sum."""
    total = jnp.sum(jnp.sum(jnp.where(mask[..., None], values, 0.0), axis=(1, 2)))
    return total / (jnp.sum(mask) * values.shape[-1])


@functools.partial(jax.jit, static_argnames=("y_channel",))
def _psnr_padded(image, reference, extents, *, y_channel):
    squared = jnp.square(_planes(image, y_channel) - _planes(reference, y_channel))
    mse = _masked_mean(squared, _region_mask(squared.shape[:2], *extents))
    return 10.0 * jnp.log10(np.float32(PIXEL_MAX**2) / mse)


def psnr(image: jax.Array, reference: jax.Array, *, crop_border: int = 0, y_channel: bool = True) -> jax.Array:
    """Peak signal-to-noise ratio in dB, BasicSR's ``calculate_psnr``.

    ``10 log10(255^2 / MSE)`` with the MSE taken over all remaining pixels and
    channels together (not an average of per-channel PSNRs); ``inf`` when equal.
    Jittable (``crop_border`` and ``y_channel`` static); called eagerly it compiles
    once per 128-pixel size bucket, not once per image size.

    Args:
        image: ``[H, W, 3]`` float RGB in [0, 1], or ``[H, W]`` / ``[H, W, 1]`` grey.
        reference: same shape as ``image``, the ground truth.
        crop_border: pixels removed from each side before scoring.
        y_channel: score BT.601 Y instead of RGB; ignored for grey images.

    Returns:
        Scalar float32 PSNR in dB.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(psnr(jnp.full((8, 8, 3), 0.5), jnp.full((8, 8, 3), 0.6), y_channel=False)), 3)
        20.0
    """
    image, reference, extents = _prepare_pair(image, reference, crop_border=crop_border, min_size=1)
    return _psnr_padded(image, reference, extents, y_channel=bool(y_channel))


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian, as ``cv2.getGaussianKernel(size, sigma)``."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def _filter_valid(planes: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable correlation with ``outer(taps, taps)``, 'valid' mode, over axes 0, 1.

    A sum of shifted slices: for an 11-tap kernel this is one fused pass per axis and
    much faster on CPU than ``lax.conv``.
    """
    size = len(taps)
    for axis in (0, 1):
        length = planes.shape[axis] - size + 1
        planes = sum(
            float(weight) * jax.lax.slice_in_dim(planes, k, k + length, axis=axis) for k, weight in enumerate(taps)
        )
    return planes


@functools.partial(jax.jit, static_argnames=("y_channel",))
def _ssim_padded(image, reference, extents, *, y_channel):
    x = _planes(image, y_channel)
    y = _planes(reference, y_channel)
    c1 = (0.01 * PIXEL_MAX) ** 2
    c2 = (0.03 * PIXEL_MAX) ** 2
    # Variances are shift-invariant: centring on mid-grey keeps E[x^2] - E[x]^2 from
    # cancelling as badly in float32.
    mid = np.float32(PIXEL_MAX / 2)
    xc, yc = x - mid, y - mid
    stacked = jnp.concatenate([xc, yc, xc * xc, yc * yc, xc * yc], axis=-1)
    mu_xc, mu_yc, xx, yy, xy = jnp.split(_filter_valid(stacked, gaussian_taps(_SSIM_SIZE, _SSIM_SIGMA)), 5, axis=-1)
    var_x = xx - mu_xc * mu_xc
    var_y = yy - mu_yc * mu_yc
    cov_xy = xy - mu_xc * mu_yc
    mu_x, mu_y = mu_xc + mid, mu_yc + mid
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    # Map pixel (i, j) is the window with top-left corner (i, j): keep the windows
    # that lie inside the scored region.
    top, bottom, left, right = extents
    margin = _SSIM_SIZE - 1
    mask = _region_mask(ssim_map.shape[:2], top, bottom - margin, left, right - margin)
    # Equal counts per plane, so this is also the mean of the per-plane SSIMs.
    return _masked_mean(ssim_map, mask)


def ssim(image: jax.Array, reference: jax.Array, *, crop_border: int = 0, y_channel: bool = True) -> jax.Array:
    """Structural similarity, BasicSR's ``calculate_ssim`` (Wang et al. 2004).

    11x11 Gaussian window with sigma 1.5, ``C1 = (0.01 * 255)^2``,
    ``C2 = (0.03 * 255)^2``, 'valid' filtering (the map loses 5 more pixels per side
    after ``crop_border``), no automatic downsampling. The score is the mean of the SSIM
    map; for RGB the mean of the three per-channel scores. Jittable (``crop_border``
    and ``y_channel`` static); called eagerly it compiles once per 128-pixel size
    bucket, not once per image size.

    Args:
        image: ``[H, W, 3]`` float RGB in [0, 1], or ``[H, W]`` / ``[H, W, 1]`` grey;
            at least 11x11 after the crop.
        reference: same shape as ``image``, the ground truth.
        crop_border: pixels removed from each side before scoring.
        y_channel: score BT.601 Y instead of RGB; ignored for grey images.

    Returns:
        Scalar float32 SSIM, at most 1.
    """
    image, reference, extents = _prepare_pair(image, reference, crop_border=crop_border, min_size=_SSIM_SIZE)
    return _ssim_padded(image, reference, extents, y_channel=bool(y_channel))


def psnr_batch(images: jax.Array, references: jax.Array, *, crop_border: int = 0, y_channel: bool = True) -> jax.Array:
    """:func:`psnr` over a batch ``[N, H, W, C]`` of same-shape images; returns ``[N]``."""
    return jax.vmap(functools.partial(psnr, crop_border=crop_border, y_channel=y_channel))(images, references)


def ssim_batch(images: jax.Array, references: jax.Array, *, crop_border: int = 0, y_channel: bool = True) -> jax.Array:
    """:func:`ssim` over a batch ``[N, H, W, C]`` of same-shape images; returns ``[N]``."""
    return jax.vmap(functools.partial(ssim, crop_border=crop_border, y_channel=y_channel))(images, references)
