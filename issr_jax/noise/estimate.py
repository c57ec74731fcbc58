"""The standard deviation of white noise in an image, from the image alone.

Method: the covariance of the image's 7x7 patches has, for white noise of variance
`v`, every eigenvalue raised by `v`; natural image content occupies a few directions,
so the small eigenvalues are the noise. Chen, Zhu and Heng ("An Efficient Statistical
Method for Image Noise Level Estimation", ICCV 2015) take `v` as the mean of the
smallest eigenvalues, the tail being as long as its mean still equals its median
(noise eigenvalues are spread symmetrically about `v`, content ones are not). Textured
patches still leak content into every direction, so, following Liu, Tanaka and Okutomi
("Single-Image Noise Level Estimation for Blind Denoising", IEEE TIP 2013), the
estimate is iterated on the weak-texture patches only: those whose gradient energy is
below the 99% quantile of what noise of the current estimate alone would give.

Two details matter on real 8-bit files: patches that touch a saturated pixel (0 or 255
in any channel) are left out, since clipping removes the noise there (an image with
sky at 255 would otherwise read far too clean), and the result is never below the
variance of 8-bit rounding, which every 8-bit image has.

Measured on the 18 DIV2KRK development LR images with Gaussian noise added to each RGB
channel (`python -m experiments.noise_accuracy`): see RESULTS.md.

Units: the functions here work on the BT.601 luma on the 8-bit scale ([16, 235] for
an RGB image, [0, 255] for a gray one) and return its noise standard deviation in
8-bit levels. `luma_noise_gain` converts between that and the noise of each channel.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import QUANTISATION_NOISE, YCBCR_FROM_RGB
from issr_jax.kernels.spectral import welch_frequencies, welch_periodogram, welch_tile_corners

__all__ = [
    "estimate_luma_noise",
    "spectral_noise_bound",
    "luma_noise_gain",
    "gather_patches",
]

PATCH = 7
MAX_PATCHES = 1 << 16  # patches per image: a large image spreads this many over its area
ITERATIONS = 1  # selection rounds; the estimate settles after two or three
CONFIDENCE = 0.99  # a patch is weak-texture if its gradient energy is below this quantile
FLOOR_BAND = (0.25, 0.5)  # LR frequencies (cycles per pixel) where the spectral floor is read
FLOOR_QUANTILE = 1.0  # percent
FLOOR_MARGIN = 2.0


def luma_noise_gain(channels: int) -> float:
    """Standard deviation of the luma's noise per unit of noise in each channel: 0.574 for
    RGB with independent channels (the norm of BT.601's Y row, on the 8-bit scale), 1 for
    gray (whose values are the luma)."""
    return float(np.linalg.norm(YCBCR_FROM_RGB[0]) / 255.0) if channels == 3 else 1.0


def _patch_grid(height: int, width: int) -> int:
    """The stride of the candidate patch grid: the smallest giving at most `4 * MAX_PATCHES`."""
    stride = 1
    while math.ceil((height - PATCH + 1) / stride) * math.ceil((width - PATCH + 1) / stride) > 4 * MAX_PATCHES:
        stride += 1
    return stride


def gather_patches(plane: np.ndarray, stride: int, reduce=None) -> np.ndarray:
    """The `PATCH x PATCH` patches of `plane` at the corners of a grid of `stride`, as
    `[49, M]` (one strided slice per patch pixel: far cheaper than fancy indexing), or
    reduced over the patch with `reduce` (e.g. `np.min`) to `[M]`."""
    height, width = plane.shape
    rows = len(range(0, height - PATCH + 1, stride))
    cols = len(range(0, width - PATCH + 1, stride))
    slices = [
        plane[a : a + stride * (rows - 1) + 1 : stride, b : b + stride * (cols - 1) + 1 : stride].ravel()
        for a in range(PATCH)
        for b in range(PATCH)
    ]
    if reduce is not None:
        return functools.reduce(reduce, slices)
    return np.stack(slices)


def _gradient_operator() -> np.ndarray:
    """`[n, 49]`: the horizontal and vertical differences inside a 7x7 patch."""
    rows = []
    for r in range(PATCH):
        for c in range(PATCH):
            for dr, dc in ((1, 0), (0, 1)):
                if r + dr < PATCH and c + dc < PATCH:
                    row = np.zeros((PATCH, PATCH))
                    row[r + dr, c + dc], row[r, c] = 1.0, -1.0
                    rows.append(row.ravel())
    return np.array(rows)


@functools.cache
def _texture_quantile() -> float:
    """The `CONFIDENCE` quantile of a patch's gradient energy under white noise of unit
    variance: `v^T M v` with `M = D^T D`, matched to a Gamma by its mean `tr M` and
    variance `2 tr M^2`, its quantile by Wilson and Hilferty's cube-root approximation."""
    gram = _gradient_operator().T @ _gradient_operator()
    mean, variance = np.trace(gram), 2.0 * np.trace(gram @ gram)
    shape, scale = mean**2 / variance, variance / mean
    z = 2.3263478740408408  # standard normal quantile at 0.99
    return float(shape * scale * (1 - 1 / (9 * shape) + z * math.sqrt(1 / (9 * shape))) ** 3)


def _tail_mean_where_median(eigenvalues: jax.Array, samples: jax.Array) -> jax.Array:
    """The noise variance from the ascending eigenvalues of a covariance of `samples`
    patches: Chen et al.'s mean of the smallest ones, over the longest tail whose mean has
    as many eigenvalues above it as below it, and at most what the smallest eigenvalue
    allows. Sampling alone spreads white noise's eigenvalues down to `v (1 - sqrt(d /
    samples))^2` (Marchenko and Pastur), so the smallest is at least that; in fine
    texture, which leaks into every direction, the tail is not flat, its mean overstates
    the noise, and this bound is the tighter one."""
    values = eigenvalues[::-1]  # descending
    d = values.shape[0]
    suffix = jnp.cumsum(values[::-1])[::-1]  # sum of values[i:]
    tail_mean = suffix / jnp.arange(d, 0, -1)
    in_tail = jnp.arange(d)[None, :] >= jnp.arange(d)[:, None]
    above = jnp.sum(in_tail & (values[None, :] > tail_mean[:, None]), axis=1)
    below = jnp.sum(in_tail & (values[None, :] < tail_mean[:, None]), axis=1)
    balanced = above == below
    first = jnp.argmax(balanced)
    chen = jnp.where(jnp.any(balanced), tail_mean[first], values[-1])
    spread = jnp.square(1.0 - jnp.sqrt(d / jnp.maximum(samples, 4.0 * d)))
    return jnp.minimum(chen, values[-1] / spread)


def _weighted_covariance(patches: jax.Array, weights: jax.Array) -> jax.Array:
    total = jnp.maximum(jnp.sum(weights), 1.0)
    mean = weights @ patches / total
    centred = patches - mean
    return (centred * weights[:, None]).T @ centred / total


@jax.jit
def _noise_from_patches(
    patches: jax.Array, usable: jax.Array, extremes: jax.Array, gain: jax.Array, floor: jax.Array
) -> jax.Array:
    """Luma noise variance from `[M, 49]` patches, their `[M]` 0/1 usability and `[M, 2]`
    darkest and brightest channel values (8-bit levels)."""
    operator = jnp.asarray(_gradient_operator(), jnp.float32)
    texture = jnp.sum((patches @ operator.T) ** 2, axis=1)
    threshold = _texture_quantile()

    def estimate(weights):
        return _tail_mean_where_median(jnp.linalg.eigvalsh(_weighted_covariance(patches, weights)), jnp.sum(weights))

    variance = estimate(usable)
    for _ in range(ITERATIONS):
        # Within two standard deviations of 0 or 255 the noise is partly clipped away.
        reach = 2.0 * jnp.sqrt(variance) / gain
        unclipped = (extremes[:, 0] > reach) & (extremes[:, 1] < 255.0 - reach)
        selected = usable * unclipped * (texture < threshold * variance)
        # Too few weak-texture patches to fill a 49-dimensional covariance: keep the last value.
        enough = jnp.sum(selected) >= 4 * PATCH * PATCH
        variance = jnp.where(enough, estimate(selected), variance)
    return jnp.maximum(variance, floor)


def estimate_luma_noise(image: np.ndarray | jax.Array, *, floor: float = QUANTISATION_NOISE) -> jax.Array:
    """The standard deviation of white noise in an image's luma, in 8-bit levels.

    Args:
        image: `[H, W, C] float` in [0, 1], C = 1 (gray) or 3 (RGB, whose BT.601 luma is
            used), sides >= 7. Saturated pixels (0 or 1 in any channel) are left out.
        floor: the smallest variance returned (8-bit levels squared; default: 8-bit
            rounding of an RGB image).

    Returns:
        Scalar float32: the luma's noise standard deviation in 8-bit levels. Divide by
        `luma_noise_gain(C)` for the noise of each channel.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> gray = np.clip(0.5 + rng.normal(0, 5 / 255, (128, 128, 1)), 0, 1).astype(np.float32)
        >>> round(float(estimate_luma_noise(gray)), 0)
        5.0
    """
    image = np.asarray(image, np.float32)
    # BT.601 Y in NumPy: an eager `rgb_to_y` would compile a program per image shape.
    weights = (YCBCR_FROM_RGB[0] / 255.0).astype(np.float32)
    luma = image @ weights + np.float32(16.0 / 255.0) if image.shape[-1] == 3 else image[..., 0]
    stride = _patch_grid(*luma.shape)
    channels = [image[..., c] for c in range(image.shape[-1])]  # (a reduction over a size-3 axis is slow)
    darkest = gather_patches(functools.reduce(np.minimum, channels), stride, np.minimum)
    brightest = gather_patches(functools.reduce(np.maximum, channels), stride, np.maximum)
    # Patches touching a saturated pixel (0 or 1 in some channel) have lost their noise;
    # the others, thinned evenly, fill the fixed-size batch.
    kept = np.flatnonzero((darkest > 0.0) & (brightest < 1.0))
    if len(kept) > MAX_PATCHES:
        kept = kept[np.linspace(0, len(kept) - 1, MAX_PATCHES).round().astype(int)]
    pad = MAX_PATCHES - len(kept)
    patches = np.pad(gather_patches(luma * np.float32(255.0), stride)[:, kept], ((0, 0), (0, pad)))
    weights = np.pad(np.ones(len(kept), np.float32), (0, pad))
    extremes = np.pad(np.stack([darkest[kept], brightest[kept]], axis=-1) * np.float32(255.0), ((0, pad), (0, 0)))
    gain = jnp.float32(luma_noise_gain(image.shape[-1]))
    variance = _noise_from_patches(patches.T, weights, extremes, gain, jnp.float32(floor))
    return jnp.sqrt(jnp.maximum(jnp.minimum(variance, spectral_noise_bound(luma)), floor))


def spectral_noise_bound(luma: np.ndarray) -> float:
    """An upper bound on the variance of white noise in a luma plane (8-bit levels squared).

    White noise raises the power spectrum by its variance at every frequency, so a low
    quantile of the Welch power over the upper half of the band cannot lie far below
    it; fine texture, which fools the patch statistics, leaves a spectrum that falls in
    places towards the Nyquist frequency, which noise never does. The Welch power of
    white noise at one frequency is a mean of `M` (the tiles) periodograms, each
    exponentially distributed, so about Gamma with shape `M`: the bound is the power's
    `FLOOR_QUANTILE` divided by that Gamma's own quantile (Wilson and Hilferty), and by
    `FLOOR_MARGIN` for what the model leaves out (clipped noise in saturated regions
    lowers the spectrum, not the patches' noise).

    Args:
        luma: `[H, W]` float32 in [0, 1], sides >= 16.
    """
    power, _, _ = welch_periodogram(luma * np.float32(255.0))
    tile = power.shape[0]
    rows, cols = welch_frequencies(tile)
    radius = np.hypot(rows[:, None], cols[None, :])
    band = (radius >= FLOOR_BAND[0]) & (radius <= FLOOR_BAND[1])
    tiles = float(welch_tile_corners(*luma.shape, tile)[2].sum())
    z = -2.3263478740408408  # standard normal quantile at 1%
    gamma_quantile = max((1 - 1 / (9 * tiles) + z * math.sqrt(1 / (9 * tiles))) ** 3, 1e-3)
    return float(np.percentile(np.asarray(power)[band], FLOOR_QUANTILE) / gamma_quantile * FLOOR_MARGIN)
