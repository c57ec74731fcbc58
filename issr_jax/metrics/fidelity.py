"""Image quality metrics as super-resolution papers report them: PSNR, SSIM and NIQE.

All three follow BasicSR's NumPy implementations (``basicsr/metrics``), which in turn
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

PSNR and SSIM are JAX and jittable (the options are static); NIQE is NumPy with one
JAX call (the half-scale :func:`issr_jax.resize.imresize`), because reproducing the
reference scores depends on its exact float32 arithmetic (see :func:`niqe`).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.io
import scipy.ndimage
import scipy.special

from issr_jax.color import YCBCR_FROM_RGB, YCBCR_OFFSET, rgb_to_y
from issr_jax.resize import imresize

__all__ = [
    "NIQE_MODEL_ENV",
    "load_niqe_model",
    "niqe",
    "psnr",
    "psnr_batch",
    "ssim",
    "ssim_batch",
]

NIQE_MODEL_ENV = "ISSR_JAX_NIQE_MODEL"

_PIXEL_MAX = 255.0


# ---------------------------------------------------------------------------
# PSNR and SSIM
#
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
        raise ValueError(
            f"image and reference differ in shape: {jnp.shape(image)} vs {jnp.shape(reference)}"
        )
    padded = []
    for array in (image, reference):
        if not jnp.issubdtype(jnp.result_type(array), jnp.floating):
            raise TypeError(
                f"expected a float image in [0, 1], got dtype {jnp.result_type(array)}; "
                "divide uint8 images by 255"
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
            f"crop_border={crop_border} leaves less than {min_size}x{min_size} of a "
            f"{height}x{width} image"
        )
    extents = np.array(
        [crop_border, height - crop_border, crop_border, width - crop_border], dtype=np.int32
    )
    return padded[0], padded[1], extents


def _planes(image: jax.Array, y_channel: bool) -> jax.Array:
    """``[H, W, C]`` in [0, 1] -> the planes to score, ``[H, W, P]`` on [0, 255]:
    Y when ``y_channel`` and RGB, else the channels as they are."""
    if image.shape[-1] == 3 and y_channel:
        image = rgb_to_y(image)[..., None]
    return image * np.float32(_PIXEL_MAX)


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
    return 10.0 * jnp.log10(np.float32(_PIXEL_MAX**2) / mse)


def psnr(
    image: jax.Array, reference: jax.Array, *, crop_border: int = 0, y_channel: bool = True
) -> jax.Array:
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


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
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
            float(weight) * jax.lax.slice_in_dim(planes, k, k + length, axis=axis)
            for k, weight in enumerate(taps)
        )
    return planes


@functools.partial(jax.jit, static_argnames=("y_channel",))
def _ssim_padded(image, reference, extents, *, y_channel):
    x = _planes(image, y_channel)
    y = _planes(reference, y_channel)
    c1 = (0.01 * _PIXEL_MAX) ** 2
    c2 = (0.03 * _PIXEL_MAX) ** 2
    # Variances are shift-invariant: centring on mid-grey keeps E[x^2] - E[x]^2 from
    # cancelling as badly in float32.
    mid = np.float32(_PIXEL_MAX / 2)
    xc, yc = x - mid, y - mid
    stacked = jnp.concatenate([xc, yc, xc * xc, yc * yc, xc * yc], axis=-1)
    mu_xc, mu_yc, xx, yy, xy = jnp.split(
        _filter_valid(stacked, _gaussian_taps(_SSIM_SIZE, _SSIM_SIGMA)), 5, axis=-1
    )
    var_x = xx - mu_xc * mu_xc
    var_y = yy - mu_yc * mu_yc
    cov_xy = xy - mu_xc * mu_yc
    mu_x, mu_y = mu_xc + mid, mu_yc + mid
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    # Map pixel (i, j) is the window with top-left corner (i, j): keep the windows
    # that lie inside the scored region.
    top, bottom, left, right = extents
    margin = _SSIM_SIZE - 1
    mask = _region_mask(ssim_map.shape[:2], top, bottom - margin, left, right - margin)
    # Equal counts per plane, so this is also the mean of the per-plane SSIMs.
    return _masked_mean(ssim_map, mask)


def ssim(
    image: jax.Array, reference: jax.Array, *, crop_border: int = 0, y_channel: bool = True
) -> jax.Array:
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
    image, reference, extents = _prepare_pair(
        image, reference, crop_border=crop_border, min_size=_SSIM_SIZE
    )
    return _ssim_padded(image, reference, extents, y_channel=bool(y_channel))


def psnr_batch(
    images: jax.Array, references: jax.Array, *, crop_border: int = 0, y_channel: bool = True
) -> jax.Array:
    """:func:`psnr` over a batch ``[N, H, W, C]`` of same-shape images; returns ``[N]``."""
    return jax.vmap(functools.partial(psnr, crop_border=crop_border, y_channel=y_channel))(
        images, references
    )


def ssim_batch(
    images: jax.Array, references: jax.Array, *, crop_border: int = 0, y_channel: bool = True
) -> jax.Array:
    """:func:`ssim` over a batch ``[N, H, W, C]`` of same-shape images; returns ``[N]``."""
    return jax.vmap(functools.partial(ssim, crop_border=crop_border, y_channel=y_channel))(
        images, references
    )


# ---------------------------------------------------------------------------
# NIQE
# ---------------------------------------------------------------------------

_NIQE_BLOCK = 96
# NIQE's local mean / deviation window: MATLAB fspecial('gaussian', 7, 7/6).
_NIQE_WINDOW = np.outer(_gaussian_taps(7, 7.0 / 6.0), _gaussian_taps(7, 7.0 / 6.0))
# AGGD shape grid of the reference code: alpha = 0.2:0.001:10.
_AGGD_ALPHAS = np.arange(0.2, 10.001, 0.001)
_AGGD_RATIOS = np.square(scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS) * 2)) / (
    scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS))
    * scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS) * 3)
)


@functools.lru_cache(maxsize=8)
def _load_niqe_model_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    if path.endswith(".npz"):
        with np.load(path) as data:
            contents = dict(data)
    else:
        contents = scipy.io.loadmat(path)
    # The NIQE release's .mat spells them mu_prisparam / cov_prisparam; BasicSR's .npz
    # spells them mu_pris_param / cov_pris_param.
    for mu_key, cov_key in (("mu_prisparam", "cov_prisparam"), ("mu_pris_param", "cov_pris_param")):
        if mu_key in contents and cov_key in contents:
            mu = np.asarray(contents[mu_key], dtype=np.float64).reshape(-1)
            cov = np.asarray(contents[cov_key], dtype=np.float64)
            break
    else:
        raise ValueError(
            f"{path} has no NIQE model: expected keys mu_prisparam and cov_prisparam, "
            f"found {sorted(k for k in contents if not k.startswith('__'))}"
        )
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(
            f"{path}: NIQE model must be a 36-vector and a 36x36 matrix, "
            f"got {mu.shape} and {cov.shape}"
        )
    return mu, cov


def load_niqe_model(model_path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loads the NIQE pristine model (mean and covariance of the 36 features).

    Args:
      model_path: the NIQE release's ``modelparameters.mat`` (keys ``mu_prisparam``,
        ``cov_prisparam``), or an ``.npz`` with those keys (BasicSR's
        ``niqe_pris_params.npz`` spelling ``mu_pris_param`` also works). When ``None``,
        the path in the environment variable ``ISSR_JAX_NIQE_MODEL``.

    Returns:
      ``(mu, cov)``: float64 ``[36]`` and ``[36, 36]``.
    """
    if model_path is None:
        model_path = os.environ.get(NIQE_MODEL_ENV) or None
    if model_path is None:
        raise ValueError(
            "NIQE needs its pristine model: pass model_path= or set the environment variable "
            f"{NIQE_MODEL_ENV} to the NIQE release's modelparameters.mat "
            "(http://live.ece.utexas.edu/research/quality/niqe_release.zip)."
        )
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"NIQE model file not found: {path}")
    return _load_niqe_model_file(str(path.resolve()))


def _aggd_fit(values: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching on the alpha grid.

    Returns ``(alpha, beta_left, beta_right)``; NaN scales when a side is empty.
    Float32 in, float32 moments, as the reference code computes them.
    """
    values = values.reshape(-1)
    left_std = np.sqrt(np.mean(values[values < 0] ** 2))
    right_std = np.sqrt(np.mean(values[values > 0] ** 2))
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
    r_hat_norm = (r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1)) / ((gamma_hat**2 + 1) ** 2)
    alpha = _AGGD_ALPHAS[np.argmin((_AGGD_RATIOS - r_hat_norm) ** 2)]
    spread = np.sqrt(scipy.special.gamma(1 / alpha) / scipy.special.gamma(3 / alpha))
    return alpha, left_std * spread, right_std * spread


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 NIQE features of one MSCN block ``[h, w]`` float32."""
    alpha, beta_left, beta_right = _aggd_fit(block)
    features = [alpha, (beta_left + beta_right) / 2]
    # Products of neighbours (right, down, down-right, down-left), wrapping around the
    # block like MATLAB's circshift.
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, beta_left, beta_right = _aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_right - beta_left) * (
            scipy.special.gamma(2 / alpha) / scipy.special.gamma(1 / alpha)
        )
        features.extend([alpha, mean, beta_left, beta_right])
    return features


def _mscn(luma: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + 1)``.

    Float32 image, float64 window, float32 results and float32 variance
    ``E[I^2] - mu^2`` (the cancellation is part of the reference scores), replicate
    borders.
    """
    mu = scipy.ndimage.convolve(luma, _NIQE_WINDOW, mode="nearest")
    second_moment = scipy.ndimage.convolve(np.square(luma), _NIQE_WINDOW, mode="nearest")
    sigma = np.sqrt(np.abs(second_moment - np.square(mu)))
    return (luma - mu) / (sigma + 1)


def _niqe_luma(image: np.ndarray, crop_border: int) -> np.ndarray:
    """The rounded [0, 255] float32 plane NIQE scores: Y (or grey), cropped, rounded."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 3:
        # Y as BasicSR's rgb2ycbcr computes it (float64 dot product of the float32
        # image, cast back to float32), so rounding below flips exactly as there.
        luma = ((image.astype(np.float64) @ YCBCR_FROM_RGB[0] + YCBCR_OFFSET[0]) / _PIXEL_MAX).astype(
            np.float32
        )
    elif image.ndim == 2:
        luma = image
    else:
        raise ValueError(f"expected [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
    luma = luma * np.float32(_PIXEL_MAX)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        luma = luma[crop_border:-crop_border, crop_border:-crop_border]
    return np.round(luma)


def niqe(
    image: jax.Array, *, crop_border: int = 0, model_path: str | os.PathLike | None = None
) -> float:
    """Natural Image Quality Evaluator (Mittal et al. 2013), as BasicSR's ``calculate_niqe``.

    Lower is better. The steps: Y on the [0, 255] scale (grey values as they are for
    grey images), crop ``crop_border`` per side, round to integers, truncate to
    multiples of 96 (top-left); at two scales (the second is the antialiased bicubic
    :func:`~issr_jax.resize.imresize` by 1/2) compute MSCN coefficients with a 7x7
    Gaussian window (replicate borders), and per 96x96 (then 48x48) block 18 AGGD
    features of the coefficients and of their products with 4 neighbours (circular
    within the block); fit a Gaussian to the blocks' 36 features and return its
    distance to the pristine model, ``sqrt(d^T pinv((S_pristine + S) / 2) d)``.

    NIQE is fragile on small images: with few blocks the feature covariance is poorly
    determined, and float32 rounding in the variance alone moves scores by up to ~0.3 on
    4-block images. This function keeps the reference float32 arithmetic so it matches
    BasicSR (and MATLAB) to about 1e-3 or better.

    Args:
      image: ``[H, W, 3]`` float RGB in [0, 1], or ``[H, W]`` / ``[H, W, 1]`` grey; at
        least two 96x96 blocks after the crop (e.g. 96x192).
      crop_border: pixels removed from each side, after the Y conversion.
      model_path: the pristine model (see :func:`load_niqe_model`); default: the path
        in ``$ISSR_JAX_NIQE_MODEL``.

    Returns:
      The NIQE score, a Python float.

    Raises:
      ValueError: no model given, or the image is smaller than two 96x96 blocks.
    """
    mu_pristine, cov_pristine = load_niqe_model(model_path)
    luma = _niqe_luma(image, crop_border)
    blocks_h, blocks_w = luma.shape[0] // _NIQE_BLOCK, luma.shape[1] // _NIQE_BLOCK
    if blocks_h * blocks_w < 2:
        raise ValueError(
            f"NIQE needs at least two {_NIQE_BLOCK}x{_NIQE_BLOCK} blocks (e.g. 96x192) after "
            f"crop_border={crop_border}; the image gives {luma.shape[0]}x{luma.shape[1]}, "
            f"i.e. {blocks_h * blocks_w} block(s)"
        )
    luma = luma[: blocks_h * _NIQE_BLOCK, : blocks_w * _NIQE_BLOCK]

    per_scale = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # A block without negative (or positive) values gives NaN features, which the
        # fit below skips, as the reference does.
        warnings.simplefilter("ignore", RuntimeWarning)
        for scale in (1, 2):
            coefficients = _mscn(luma)
            size = _NIQE_BLOCK // scale
            per_scale.append(
                np.array(
                    [
                        _block_features(coefficients[i * size : (i + 1) * size, j * size : (j + 1) * size])
                        for j in range(blocks_w)  # columns outer, rows inner
                        for i in range(blocks_h)
                    ]
                )
            )
            if scale == 1:
                luma = np.asarray(imresize(luma / np.float32(_PIXEL_MAX), scale=0.5)) * np.float32(_PIXEL_MAX)
        features = np.concatenate(per_scale, axis=1)
        mu = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise ValueError(
            f"NIQE: only {len(complete)} block(s) have finite features (flat image?); need 2"
        )
    cov = np.cov(complete, rowvar=False)
    difference = mu_pristine - mu
    quality = difference @ np.linalg.pinv((cov_pristine + cov) / 2) @ difference
    return float(np.sqrt(quality))
