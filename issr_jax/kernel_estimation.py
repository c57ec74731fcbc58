"""Blind kernel estimate of the `default` preset: a Gaussian fitted to the LR spectrum.

Natural images have power spectra close to a power law, `P_x(f) ~ |f|^-alpha`. Blurring by
a Gaussian with covariance `Sigma` (HR pixels^2) multiplies the spectrum by
`exp(-4 pi^2 f^T Sigma f)`, and an LR frequency `nu` (cycles per LR pixel) is the HR
frequency `nu / s`. So, on a mid-frequency band where neither the DC nor aliasing and
noise dominate,

    log P_y(nu) = c0 + c1 cos 2t + c2 sin 2t + c3 cos 4t + c4 sin 4t
                  - alpha log|nu| - 4 pi^2 nu^T Sigma nu / s^2,

with `t` the direction of `nu`. The angular terms absorb the image's own orientation
bias (a picture of a fence is anisotropic at every scale), leaving to `Sigma` only the
anisotropy that grows with frequency, as a blur's does. Every unknown enters linearly, so
one weighted least-squares solve gives `Sigma` and the image's slope `alpha` per image,
with no iteration; `alpha` is bounded below by 2, the slope of scale-invariant scenes
(a flatter spectrum is texture or aliasing, and would otherwise be read as blur). The periodogram is Welch's (Hann tiles, half overlap) for stability.

Measured on the 18 DIV2KRK development images: relative L2 error of the kernel 0.155
(x2) and 0.086 (x4); see RESULTS.md.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.kernels import kernel_from_covariance

__all__ = ["QUANTISATION_NOISE", "welch_periodogram", "spectral_covariance", "estimate_kernel", "estimated_kernel_size"]

# Variance of the BT.601 luma of 8-bit RGB quantisation noise, on the [0, 255] scale:
# the spectrum's floor for 8-bit images.
QUANTISATION_NOISE = 0.0275


def estimated_kernel_size(scale: int) -> int:
    """Side of the estimated kernel: `10 s + 1`, room for 4 sigma up to `1.25 s` HR px."""
    return 10 * scale + 1


# The power-law slope of a natural image's spectrum is at least that of scale-invariant
# images, 1/f^2 (Field 1987; van der Schaaf and van Hateren 1996); the LMMSE prior uses 2.
MIN_SLOPE = 2.0
MAX_TILES = 128  # Welch tiles per image: a fixed count, so one compile serves every size


def _tile_grid(height: int, width: int, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left corners of Welch's tiles (half overlap, thinned evenly to at most
    `MAX_TILES`), padded to `MAX_TILES` entries; and each entry's weight (0 for padding)."""
    rows = np.arange(0, height - tile + 1, tile // 2)
    cols = np.arange(0, width - tile + 1, tile // 2)
    while len(rows) * len(cols) > MAX_TILES:  # a large image: spread fewer tiles over it
        if len(rows) >= len(cols):
            rows = np.unique(np.linspace(0, height - tile, len(rows) - 1).round().astype(int))
        else:
            cols = np.unique(np.linspace(0, width - tile, len(cols) - 1).round().astype(int))
    grid_r, grid_c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    weights = np.zeros(MAX_TILES, np.float32)
    weights[: grid_r.size] = 1.0
    pad = MAX_TILES - grid_r.size
    return np.pad(grid_r, (0, pad)), np.pad(grid_c, (0, pad)), weights


def _tile_side(height: int, width: int, tile: int = 128) -> int:
    while tile > min(height, width):
        tile //= 2
    return tile


def welch_periodogram(image: jax.Array, *, tile: int = 128) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Welch power spectrum of a 2-D image: Hann tiles with 50% overlap, means removed.

    Large images use at most `MAX_TILES` tiles spread evenly over the image. Jittable
    (shapes static); called eagerly, it gathers the tiles in NumPy and runs one program
    compiled for the tile stack, whatever the image's size.

    Args:
      image: `[H, W]` float (any scale); `min(H, W) >= 16`.
      tile: tile side; reduced to the largest power of two that fits a small image.

    Returns:
      `(power [t, t//2+1], freq_rows, freq_cols)`, frequencies in cycles per pixel.
    """
    h, w = image.shape
    tile = _tile_side(h, w, tile)
    rows, cols, weights = _tile_grid(h, w, tile)
    offsets = np.arange(tile)
    index = (rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :])
    if isinstance(image, jax.core.Tracer):
        tiles = image[index]
    else:
        tiles = np.asarray(image, np.float32)[index]
    return _welch_from_tiles(tiles, jnp.asarray(weights))


@jax.jit
def _welch_from_tiles(tiles: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    tile = tiles.shape[-1]
    window_1d = jnp.hanning(tile + 2)[1:-1]
    window = window_1d[:, None] * window_1d[None, :]
    tiles = tiles - jnp.mean(tiles, axis=(1, 2), keepdims=True)
    spectra = jnp.abs(jnp.fft.rfft2(tiles * window)) ** 2
    power = jnp.tensordot(weights, spectra, axes=1) / jnp.sum(weights) / jnp.sum(window**2)
    freq_rows = jnp.broadcast_to(jnp.fft.fftfreq(tile)[:, None], power.shape)
    freq_cols = jnp.broadcast_to(jnp.fft.rfftfreq(tile)[None, :], power.shape)
    return power, freq_rows, freq_cols


def spectral_covariance(
    image: jax.Array,
    *,
    scale: int,
    band: tuple[float, float] = (0.05, 0.45),
    snr_min: float = 10.0,
    noise: float = QUANTISATION_NOISE,
) -> tuple[jax.Array, jax.Array]:
    """Fits the Gaussian blur's covariance to the LR image's spectrum (module docstring).

    Jittable; called eagerly it compiles once per tile size, not per image size.

    Args:
      image: `[H, W]` float32 in [0, 1], the LR image's luma (BT.601 Y) or gray values.
      scale: the SR factor `s` (the blur is measured in HR pixels).
      band: LR frequencies (cycles per LR pixel) used in the fit.
      snr_min: frequencies whose power is below `snr_min * noise` are left out.
      noise: white noise floor subtracted from the power ([0, 255] scale units).

    Returns:
      `(covariance [2, 2] in HR pixels^2 (row, column axes), alpha)`: the covariance's
      principal deviations are clipped to `[0.2, 1.25 s]` HR pixels.
    """
    if not isinstance(image, jax.core.Tracer):
        image = np.asarray(image, np.float32)
    power, fy, fx = welch_periodogram(image * 255.0)
    return _fit_spectrum(power, fy, fx, scale=scale, band=band, snr_min=snr_min, noise=noise)


@functools.partial(jax.jit, static_argnames=("scale", "band", "snr_min"))
def _fit_spectrum(power, fy, fx, *, scale, band, snr_min, noise):
    radius = jnp.hypot(fy, fx)
    angle = jnp.arctan2(fy, fx)
    keep = (radius >= band[0]) & (radius <= band[1]) & (power > snr_min * noise)
    q = -4 * math.pi**2 / scale**2
    design = jnp.stack(
        [
            jnp.ones_like(radius),
            jnp.cos(2 * angle),
            jnp.sin(2 * angle),
            jnp.cos(4 * angle),
            jnp.sin(4 * angle),
            q * fy**2,
            q * 2 * fy * fx,
            q * fx**2,
            -jnp.log(jnp.maximum(radius, 1e-12)),
        ],
        axis=-1,
    ).reshape(-1, 9)
    target = jnp.log(jnp.maximum(power - noise, 1e-12)).reshape(-1)
    weight = keep.reshape(-1).astype(jnp.float32)
    coefficients = _weighted_least_squares(design, target, weight)
    # The slope is bounded below by MIN_SLOPE: a flatter fitted spectrum comes from
    # texture or aliasing, not from a sharper scene, and lets the fit trade slope for
    # blur (measured: BSD100 x2 images at alpha ~1 got sigma ~1.2 px and lost 5 dB).
    # The constrained optimum of this convex problem is the fit with alpha = MIN_SLOPE.
    bounded = _weighted_least_squares(design[:, :8], target - MIN_SLOPE * design[:, 8], weight)
    bounded = jnp.concatenate([bounded, jnp.array([MIN_SLOPE], bounded.dtype)])
    coefficients = jnp.where(coefficients[8] < MIN_SLOPE, bounded, coefficients)
    covariance = jnp.array([[coefficients[5], coefficients[6]], [coefficients[6], coefficients[7]]])
    eigenvalues, eigenvectors = jnp.linalg.eigh(covariance)
    eigenvalues = jnp.clip(eigenvalues, 0.2**2, (1.25 * scale) ** 2)
    covariance = (eigenvectors * eigenvalues) @ eigenvectors.T
    return covariance, coefficients[8]


def _weighted_least_squares(design: jax.Array, target: jax.Array, weight: jax.Array) -> jax.Array:
    """argmin_x sum(weight * (design @ x - target)^2) via normal equations, with columns
    scaled first so float32 stays well conditioned (fixed shapes: it jits)."""
    column_scale = jnp.sqrt(jnp.sum(weight[:, None] * design**2, axis=0)) + 1e-12
    scaled = design / column_scale
    gram = scaled.T @ (weight[:, None] * scaled) + 1e-6 * jnp.eye(design.shape[1])
    return jnp.linalg.solve(gram, scaled.T @ (weight * target)) / column_scale


def estimate_kernel(image: jax.Array, *, scale: int) -> jax.Array:
    """The blind kernel estimate: a Gaussian with the fitted spectral covariance.

    Args:
      image: `[H, W]` float32 in [0, 1], the LR image's luma (or gray values);
        `min(H, W) >= 16`.
      scale: the SR factor.

    Returns:
      `[10 s + 1, 10 s + 1] float32`, non-negative, sums to 1, centred (HR pixels).
    """
    covariance, _ = spectral_covariance(image, scale=scale)
    return kernel_from_covariance(covariance, size=estimated_kernel_size(scale))
