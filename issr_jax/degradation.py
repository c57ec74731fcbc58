"""Stage 1: what happened to an LR image, from the image alone.

A `Degradation` is what the restoration is designed for: the blur, as one or several
weighted explanations (each a kernel and the HR image prior it implies), and the noise
level. The estimators:

- `"paper"`: the paper's Eq. 5 gallery of Gaussians, equally weighted, no noise;
- `"spectral"`: one Gaussian fitted to the LR spectrum (`kernels.spectral`), no noise;
- `"blind"`: the luma's noise level (`noise.estimate`, or given), and a Gaussian and a
  resampler's antialiasing kernel weighted by how well each explains the spectrum above
  that noise (`kernels.blind`). For a JPEG whose quantisation table is known
  (`noise.jpeg`), the compression error is added to the noise, and the frequencies it
  zeroed are left out of the fit.

Noise units: the public `noise` argument is the standard deviation of the noise in each
channel, in 8-bit levels (what "sigma 5" means when noise is added to an RGB image);
inside, the pipeline works with the BT.601 luma's (`noise.estimate.luma_noise_gain`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import rgb_to_y
from issr_jax.kernels.blind import estimate_kernel_hypotheses
from issr_jax.kernels.gaussian import kernel_gallery
from issr_jax.kernels.spectral import estimate_spectral_kernels
from issr_jax.noise.estimate import estimate_luma_noise, luma_noise_gain
from issr_jax.noise.jpeg import JPEG_NOISE_FACTOR, jpeg_noise
from issr_jax.presets import Preset

__all__ = [
    "Degradation",
    "as_degradation",
    "checked_noise",
    "estimate_degradation",
    "estimate_degradations",
    "mean_kernel",
]


class Degradation(NamedTuple):
    """How an LR image came from its HR original (leaves get a leading axis when batched).

    Attributes:
        kernels: `[N, k, k] float32` explanations of the blur (HR pixels, odd k, each
            summing to 1, centred).
        weights: `[N]`, non-negative, summing to 1: how much each explanation is believed.
        slopes: `[N]`, the HR image prior's spectral slope `alpha` under each explanation.
        amplitudes: `[N]`, the prior's level `A` (8-bit levels squared where the noise is
            modelled; 1, a relative level, where it is not).
        noise: scalar, the standard deviation of the LR luma's white noise, 8-bit levels
            (0: clean).
    """

    kernels: jax.Array
    weights: jax.Array
    slopes: jax.Array
    amplitudes: jax.Array
    noise: jax.Array


def checked_noise(noise, *, preset: Preset) -> float | None:
    """`noise` as a float >= 0 (or None: estimate it); ValueError for anything else, and
    for a positive value with a preset that has no noise model."""
    if noise is None:
        return None
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise ValueError(f"noise must be a number >= 0 (sigma in 8-bit levels) or None, got {noise!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"noise must be a finite number >= 0 (sigma in 8-bit levels), got {noise!r}")
    if value > 0 and not preset.models_noise:
        raise ValueError(f"preset {preset.name!r} assumes a clean image (noise 0); preset 'default' models noise")
    return value


def as_degradation(kernels) -> Degradation:
    """`[k, k]` (one kernel) or `[N, k, k]` (a gallery, equally weighted) kernels, under
    the relative prior (slope 2, level 1) and no noise, as NumPy float32; each normalised
    to sum 1."""
    kernels = np.asarray(kernels, np.float32)
    kernels = kernels[None] if kernels.ndim == 2 else kernels
    kernels = kernels / np.sum(kernels, axis=(-2, -1), keepdims=True)
    count = len(kernels)
    return Degradation(
        kernels=kernels,
        weights=np.full(count, 1.0 / count, np.float32),
        slopes=np.full(count, 2.0, np.float32),
        amplitudes=np.ones(count, np.float32),
        noise=np.float32(0.0),
    )


def mean_kernel(degradation: Degradation) -> np.ndarray:
    """`[k, k]`: the explanations' weighted mean (what the restoration was designed for,
    in one kernel: saved with `--save_kernels`, shown by the demo)."""
    return np.tensordot(np.asarray(degradation.weights), np.asarray(degradation.kernels), axes=1)


def _luminance(image) -> jax.Array:
    return rgb_to_y(image) if image.shape[-1] == 3 else image[..., 0]


def estimate_degradations(
    images: Sequence[np.ndarray],
    *,
    scale: int,
    key: jax.Array,
    preset: Preset,
    noise: float | None = None,
    kernels: Sequence[np.ndarray] | None = None,
    jpeg_tables: Sequence[np.ndarray | None] | None = None,
) -> list[Degradation]:
    """Stage 1 for many images, in a few batched calls; image `i`'s result does not depend
    on the others (one image alone gets the same).

    Args:
        images: `[H_i, W_i, C_i] float32` in [0, 1] (`pipeline.checked_image`).
        scale: integer SR factor.
        key: PRNG key (the paper's gallery is random; the same key for every image).
        preset: `preset.estimator` picks the estimator (no other stage's setting is read).
        noise: the noise of each channel in 8-bit levels, or None to measure it per image
            (the `"blind"` estimator only; others assume a clean image and refuse a
            positive value).
        kernels: None (estimate the blur), or per image a known `[k, k]` kernel (same k);
            the `"blind"` estimator still fits the image's prior and noise for it.
        jpeg_tables: None, or per image None or the `[8, 8]` luma quantisation table of
            the JPEG it was decoded from (`io.Image.jpeg_luma_table`; `"blind"` only).

    Returns:
        One `Degradation` (NumPy leaves) per image.
    """
    noise = checked_noise(noise, preset=preset)
    if not preset.models_noise:
        if kernels is not None:
            return [as_degradation(kernel) for kernel in kernels]
        if preset.estimator == "paper":
            return [as_degradation(_paper_gallery(image, key=key, preset=preset)) for image in images]
        return [as_degradation(kernel) for kernel in estimate_spectral_kernels(images, scale=scale)]
    images = [np.asarray(image, np.float32) for image in images]
    if kernels is not None:
        kernels = [np.asarray(k, np.float32) / np.sum(np.asarray(k, np.float32)) for k in kernels]
    if noise is None:
        sigmas = [float(estimate_luma_noise(image)) for image in images]
    else:
        sigmas = [noise * luma_noise_gain(image.shape[-1]) for image in images]
    tables = list(jpeg_tables) if jpeg_tables is not None else [None] * len(images)
    compression = [None if table is None else jpeg_noise(image, table) for image, table in zip(images, tables)]
    # The noise the restoration designs for and removes: the measured (or given) noise,
    # plus a measured JPEG's quantisation error, scaled (`noise.jpeg`).
    totals = [
        s if c is None or noise is not None else math.hypot(s, JPEG_NOISE_FACTOR * c.sigma)
        for s, c in zip(sigmas, compression)
    ]
    hypotheses = estimate_kernel_hypotheses(
        images,
        scale=scale,
        noise=sigmas,
        settings=preset.blind,
        kernels=kernels,
        reliability=[None if c is None else c.surviving for c in compression],
    )
    return [
        Degradation(*(np.asarray(leaf[i], np.float32) for leaf in hypotheses), noise=np.float32(totals[i]))
        for i in range(len(images))
    ]


def _paper_gallery(image, *, key, preset: Preset) -> jax.Array:
    return kernel_gallery(
        _luminance(jnp.asarray(image)),
        key=key,
        num_kernels=preset.num_kernels,
        size=preset.kernel_size,
        delta_range=preset.delta_range,
        pixel_scale=preset.pixel_scale,
    )


def estimate_degradation(
    image: jax.Array,
    *,
    scale: int,
    key: jax.Array,
    preset: Preset,
    noise: float | None = None,
    kernel: jax.Array | None = None,
    jpeg_table: np.ndarray | None = None,
) -> Degradation:
    """Stage 1 for one image: `estimate_degradations` of a list of one.

    Args:
        image: `[H, W, C] float32` in [0, 1], the LR image.
        scale, key, preset, noise: as in `estimate_degradations`.
        kernel: None, or a known `[k, k]` kernel (HR pixels, odd k).
        jpeg_table: None, or the `[8, 8]` luma quantisation table of the JPEG the image
            was decoded from.

    Returns:
        `Degradation` (NumPy leaves): the paper's gallery (N = `preset.num_kernels`, k =
        `preset.kernel_size`), the spectral estimate (N = 1, k = 10 s + 1), the blind
        estimate's explanations (N = 2), or the known kernel (N = 1).
    """
    kernels = None if kernel is None else [np.asarray(kernel, np.float32)]
    images = [np.asarray(image, np.float32)]
    tables = None if jpeg_table is None else [jpeg_table]
    return estimate_degradations(
        images, scale=scale, key=key, preset=preset, noise=noise, kernels=kernels, jpeg_tables=tables
    )[0]
