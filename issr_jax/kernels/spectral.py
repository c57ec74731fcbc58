"""The `fast` preset's blind estimate, a Gaussian fitted to the LR spectrum, and its fit.

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
(a flatter spectrum is texture or aliasing, and would otherwise be read as blur). Welch's
periodogram (Hann tiles, half overlap) for stability.

Kernel error on the 18 DIV2KRK development images: 0.155 (x2), 0.086 (x4); RESULTS.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import QUANTISATION_NOISE, rgb_to_y
from issr_jax.kernels.gaussian import kernel_from_precision

__all__ = [
    "SpectralFit",
    "fit_log_spectrum",
    "fitted_covariance",
    "spectrum_design",
    "ESTIMATE_BATCH",
    "gather_tiles",
    "gaussian_kernel_from_fit",
    "group_by_tiles",
    "welch_frequencies",
    "welch_from_tiles",
    "welch_tile_side",
    "welch_tile_corners",
    "welch_periodogram",
    "spectral_covariance",
    "estimate_spectral_kernel",
    "estimate_spectral_kernels",
    "estimated_kernel_size",
]


def estimated_kernel_size(scale: int) -> int:
    """Side of the estimated kernel: `10 s + 1`, room for 4 sigma up to `1.25 s` HR px."""
    return 10 * scale + 1


# The power-law slope of a natural image's spectrum is at least that of scale-invariant
# images, 1/f^2 (Field 1987; van der Schaaf and van Hateren 1996); the LMMSE prior uses 2.
MIN_SLOPE = 2.0
BAND = (0.05, 0.45)  # LR frequencies (cycles per LR pixel) of the fit: above the DC, below aliasing
SNR_MIN = 10.0  # frequencies with power below SNR_MIN x the noise floor are left out
MAX_TILES = 128  # Welch tiles per image: a large image spreads this many over its area
ESTIMATE_BATCH = 4  # images per call of `estimate_spectral_kernels` (fixed: see there)


def welch_tile_side(height: int, width: int, tile: int = 128) -> int:
    """Side of the Welch tiles for an image: `tile`, halved until it fits the image."""
    while tile > min(height, width):
        tile //= 2
    return tile


def welch_tile_corners(height: int, width: int, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left corners of Welch's tiles (half overlap, thinned evenly to at most
    `MAX_TILES`), padded to a power of two, and each entry's weight (1, or 0 for
    padding): `(rows [M], cols [M], weights [M] float32)`.

    The power-of-two count bounds the compiled shapes (at most 8 per tile side) and keeps
    the work near the image's own tile count.
    """
    rows = np.arange(0, height - tile + 1, tile // 2)
    cols = np.arange(0, width - tile + 1, tile // 2)
    while len(rows) * len(cols) > MAX_TILES:  # a large image: spread fewer tiles over it
        if len(rows) >= len(cols):
            rows = np.unique(np.linspace(0, height - tile, len(rows) - 1).round().astype(int))
        else:
            cols = np.unique(np.linspace(0, width - tile, len(cols) - 1).round().astype(int))
    grid_r, grid_c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    count = 1 << (grid_r.size - 1).bit_length()
    weights = np.zeros(count, np.float32)
    weights[: grid_r.size] = 1.0
    pad = count - grid_r.size
    return np.pad(grid_r, (0, pad)), np.pad(grid_c, (0, pad)), weights


def gather_tiles(image, tile: int):
    """`([M, t, t, ...] tiles, [M] weights)` of `image` (`[H, W, ...]`); NumPy when eager."""
    rows, cols, weights = welch_tile_corners(image.shape[0], image.shape[1], tile)
    offsets = np.arange(tile)
    index = (rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :])
    if not isinstance(image, jax.core.Tracer):
        image = np.asarray(image, np.float32)
    return image[index], weights


def welch_periodogram(image: jax.Array, *, tile: int = 128) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Welch power spectrum of a 2-D image: Hann tiles with 50% overlap, means removed.

    Large images use at most `MAX_TILES` tiles spread evenly over the image. Jittable
    (shapes static); called eagerly, it gathers the tiles in NumPy and runs one program
    compiled for the tile stack, so images of many sizes share a few compiles.

    Args:
        image: `[H, W]` float (any scale); `min(H, W) >= 16`.
        tile: tile side; reduced to the largest power of two that fits a small image.

    Returns:
        `(power [t, t//2+1], freq_rows, freq_cols)`, frequencies in cycles per pixel.
    """
    tiles, weights = gather_tiles(image, welch_tile_side(*image.shape, tile))
    return welch_from_tiles(tiles, weights)


@jax.jit
def welch_from_tiles(tiles: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`welch_periodogram` from `[M, t, t]` tiles (`gather_tiles`) and their `[M]` weights."""
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
    band: tuple[float, float] = BAND,
    snr_min: float = SNR_MIN,
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
    eigenvalues, eigenvectors, alpha = _spectral_fit(image, scale=scale, band=band, snr_min=snr_min, noise=noise)
    return (eigenvectors * eigenvalues) @ eigenvectors.T, alpha


def _spectral_fit(image, *, scale, band=BAND, snr_min=SNR_MIN, noise=QUANTISATION_NOISE):
    """`(eigenvalues [2], eigenvectors [2, 2], alpha)` of the fitted covariance."""
    if not isinstance(image, jax.core.Tracer):
        image = np.asarray(image, np.float32)
    power, _, _ = welch_periodogram(image * 255.0)
    return _fit_spectrum(power, scale=scale, band=band, snr_min=snr_min, noise=noise)


@functools.cache
def spectrum_design(rows: int, cols: int, scale: int, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The fit's design matrix on a `[rows, cols]` rfft grid, `[rows * cols, 9] float32`,
    and the band mask `[rows * cols]`: functions of the frequencies alone, built in NumPy
    (as traced trigonometry they took most of the estimate's compile time)."""
    fy = np.broadcast_to(np.fft.fftfreq(rows)[:, None], (rows, cols)).ravel()
    fx = np.broadcast_to(np.arange(cols)[None, :] / rows, (rows, cols)).ravel()  # rfftfreq(rows)
    radius = np.hypot(fy, fx)
    angle = np.arctan2(fy, fx)
    q = -4 * math.pi**2 / scale**2
    design = np.stack(
        [
            np.ones_like(radius),
            np.cos(2 * angle),
            np.sin(2 * angle),
            np.cos(4 * angle),
            np.sin(4 * angle),
            q * fy**2,
            q * 2 * fy * fx,
            q * fx**2,
            -np.log(np.maximum(radius, 1e-12)),
        ],
        axis=-1,
    )
    return design.astype(np.float32), (radius >= band[0]) & (radius <= band[1])


GAUSSIAN_COLUMNS = tuple(range(9))  # every unknown: level, orientation, covariance, slope
FIXED_KERNEL_COLUMNS = (0, 1, 2, 3, 4, 8)  # the kernel's term known: level, orientation, slope


class SpectralFit(NamedTuple):
    """A weighted least-squares fit of the LR log-spectrum (module docstring).

    Attributes:
        coefficients: `[9]`: level, four orientation terms, the covariance terms
            (`Sigma_rr, Sigma_rc, Sigma_cc`, HR pixels^2; zero when the kernel was given)
            and the slope `alpha` (at least `MIN_SLOPE`).
        residual: the weighted mean squared residual of the log-spectrum.
    """

    coefficients: jax.Array
    residual: jax.Array


def fit_log_spectrum(
    power: jax.Array,
    noise: jax.Array,
    *,
    scale: int,
    band: tuple[float, float] = BAND,
    snr_min: float = SNR_MIN,
    weighting: str = "binary",
    reliability: jax.Array | None = None,
    log_kernel_power: jax.Array | None = None,
) -> SpectralFit:
    """Fits `log(P - noise)` on the band by weighted least squares (jittable).

    Args:
        power: `[t, t//2+1]` Welch power of the luma (8-bit levels), from `welch_periodogram`.
        noise: scalar, white noise variance subtracted first (8-bit levels squared).
        scale: the SR factor.
        band: LR frequencies of the fit (cycles per LR pixel).
        snr_min: frequencies with power below `snr_min * noise` are left out.
        weighting: `"binary"` (every kept frequency counts the same) or `"snr"`
            (weight `(1 - noise / P)^2`, the inverse variance of `log(P - noise)` when the
            Welch power is a mean of many periodograms: frequencies near the noise floor
            still count, a little).
        reliability: optional `[t, t//2+1]` extra weights in [0, 1] (JPEG: the fraction
            of DCT coefficients that survived quantisation there).
        log_kernel_power: optional `[t, t//2+1]` known `log |K(nu/s)|^2`: the covariance is
            then not fitted (a resampler's kernel, or a supplied one).

    Returns:
        `SpectralFit`.
    """
    design, in_band = spectrum_design(*power.shape, scale, band)
    columns = GAUSSIAN_COLUMNS if log_kernel_power is None else FIXED_KERNEL_COLUMNS
    design = design[:, list(columns)]
    power = power.reshape(-1)
    keep = in_band & (power > snr_min * noise)
    target = jnp.log(jnp.maximum(power - noise, 1e-12))
    if log_kernel_power is not None:
        target = target - log_kernel_power.reshape(-1)
    weight = keep.astype(jnp.float32)
    if weighting == "snr":
        weight = weight * (1.0 - noise / jnp.maximum(power, 1e-12)) ** 2
    if reliability is not None:
        weight = weight * reliability.reshape(-1)
    count = len(columns)
    # Weighted least squares by normal equations, columns scaled to unit norm first so
    # that float32 stays well conditioned; Cholesky, as the gram is positive definite
    # (LU took several times longer to compile).
    column_scale = jnp.sqrt(weight @ design**2) + 1e-12
    scaled = design / column_scale
    gram = scaled.T @ (weight[:, None] * scaled) + 1e-6 * jnp.eye(count)
    moments = scaled.T @ (weight * target)
    solve = lambda a, b: jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(a), b)
    coefficients = solve(gram, moments) / column_scale
    # The slope is bounded below by MIN_SLOPE: a flatter fitted spectrum comes from
    # texture or aliasing, not from a sharper scene, and lets the fit trade slope for
    # blur (measured: BSD100 x2 images at alpha ~1 got sigma ~1.2 px and lost 5 dB).
    # The constrained optimum of this convex problem is the fit with alpha = MIN_SLOPE:
    # the other unknowns against `target - MIN_SLOPE * design[:, -1]`, from the same gram.
    last = count - 1
    bounded_moments = moments[:last] - MIN_SLOPE * column_scale[last] * gram[:last, last]
    bounded = solve(gram[:last, :last], bounded_moments) / column_scale[:last]
    bounded = jnp.concatenate([bounded, jnp.array([MIN_SLOPE], bounded.dtype)])
    coefficients = jnp.where(coefficients[last] < MIN_SLOPE, bounded, coefficients)
    residual = jnp.sum(weight * (target - design @ coefficients) ** 2) / jnp.maximum(jnp.sum(weight), 1e-12)
    full = jnp.zeros(9, coefficients.dtype).at[jnp.array(columns)].set(coefficients)
    return SpectralFit(full, residual)


def fitted_covariance(coefficients: jax.Array, *, scale: int) -> tuple[jax.Array, jax.Array]:
    """`(eigenvalues [2], eigenvectors [2, 2])` of the fitted blur covariance, the
    principal deviations clipped to `[0.2, 1.25 s]` HR pixels."""
    covariance = jnp.array([[coefficients[5], coefficients[6]], [coefficients[6], coefficients[7]]])
    eigenvalues, eigenvectors = jnp.linalg.eigh(covariance)
    return jnp.clip(eigenvalues, 0.2**2, (1.25 * scale) ** 2), eigenvectors


@functools.partial(jax.jit, static_argnames=("scale", "band", "snr_min"))
def _fit_spectrum(power, *, scale, band, snr_min, noise):
    coefficients = fit_log_spectrum(power, noise, scale=scale, band=band, snr_min=snr_min).coefficients
    return (*fitted_covariance(coefficients, scale=scale), coefficients[8])


def _gaussian_from_fit(eigenvalues: jax.Array, eigenvectors: jax.Array, *, scale: int) -> jax.Array:
    """The kernel of a covariance's eigen-decomposition (no LU in the program: faster to compile)."""
    precision = (eigenvectors / eigenvalues) @ eigenvectors.T
    return kernel_from_precision(precision, size=estimated_kernel_size(scale))


def gaussian_kernel_from_fit(coefficients: jax.Array, *, scale: int) -> jax.Array:
    """`[10 s + 1, 10 s + 1]`: the Gaussian of a `SpectralFit`'s covariance (clipped as in
    `fitted_covariance`), sums to 1."""
    return _gaussian_from_fit(*fitted_covariance(coefficients, scale=scale), scale=scale)


def estimate_spectral_kernel(image: jax.Array, *, scale: int) -> jax.Array:
    """The blind kernel estimate: a Gaussian with the fitted spectral covariance.

    Args:
        image: `[H, W]` float32 in [0, 1], the LR image's luma (or gray values);
            `min(H, W) >= 16`.
        scale: the SR factor.

    Returns:
        `[10 s + 1, 10 s + 1] float32`, non-negative, sums to 1, centred (HR pixels).
    """
    eigenvalues, eigenvectors, _ = _spectral_fit(image, scale=scale)
    return _gaussian_from_fit(eigenvalues, eigenvectors, scale=scale)


def _kernel_from_tiles(tiles: jax.Array, weights: jax.Array, *, scale: int) -> jax.Array:
    """`estimate_spectral_kernel` of one image from its Welch tiles (`[M, t, t, C]`, C = 1 or 3:
    the luma is per pixel, so it is taken per tile)."""
    luma = rgb_to_y(tiles) if tiles.shape[-1] == 3 else tiles[..., 0]
    power, _, _ = welch_from_tiles(luma * 255.0, weights)
    eigenvalues, eigenvectors, _ = _fit_spectrum(
        power, scale=scale, band=BAND, snr_min=SNR_MIN, noise=QUANTISATION_NOISE
    )
    return _gaussian_from_fit(eigenvalues, eigenvectors, scale=scale)


@functools.partial(jax.jit, static_argnames="scale")
def _kernels_from_tiles(tiles: jax.Array, weights: jax.Array, *, scale: int) -> jax.Array:
    return jax.vmap(functools.partial(_kernel_from_tiles, scale=scale))(tiles, weights)


def estimate_spectral_kernels(images: Sequence[np.ndarray], *, scale: int) -> np.ndarray:
    """`estimate_spectral_kernel` for many images of any sizes, in a few batched calls.

    The estimate needs only each image's Welch tiles, gathered here in NumPy; images
    with the same tile side and (power-of-two) tile count share a compiled program and
    go `ESTIMATE_BATCH` at a time (the last call padded with copies). The batch size is
    fixed because XLA vectorises a batch of 1 or 2 differently from 4 or more, and this
    float32 fit turns that last bit into ~1e-5 in the kernel: with a fixed batch an
    image's kernel does not depend on the other images. The calls run on the default
    device (the stage is a few milliseconds per image), so the kernels do not depend on
    how many devices there are either.

    Args:
        images: `[H_i, W_i]` luma or `[H_i, W_i, C]` (C = 1: gray, C = 3: RGB, whose
            BT.601 luma is used), float32 in [0, 1], `min(H_i, W_i) >= 16`.
        scale: the SR factor.

    Returns:
        `[N, 10 s + 1, 10 s + 1] float32` NumPy, as `estimate_spectral_kernel` of each image (equal
        to float rounding).
    """
    images = [np.asarray(image, np.float32) for image in images]
    images = [image[..., None] if image.ndim == 2 else image for image in images]
    size = estimated_kernel_size(scale)
    kernels = np.zeros((len(images), size, size), np.float32)
    for (tile, _, _), members in group_by_tiles(images).items():
        for start in range(0, len(members), ESTIMATE_BATCH):  # tiles gathered a batch at a time
            batch = members[start : start + ESTIMATE_BATCH]
            gathered = [gather_tiles(images[i], tile) for i in batch]
            gathered += [gathered[0]] * (ESTIMATE_BATCH - len(batch))
            tiles = np.stack([g[0] for g in gathered])
            weights = np.stack([g[1] for g in gathered])
            kernels[batch] = np.asarray(_kernels_from_tiles(tiles, weights, scale=scale))[: len(batch)]
    return kernels


def group_by_tiles(images: Sequence[np.ndarray]) -> dict[tuple[int, int, int], list[int]]:
    """Indices of `[H, W, C]` images grouped by Welch tile side, (power-of-two) tile
    count and channels: the images that share a compiled estimate."""
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, image in enumerate(images):
        tile = welch_tile_side(*image.shape[:2])
        count = len(welch_tile_corners(image.shape[0], image.shape[1], tile)[2])
        groups.setdefault((tile, count, image.shape[2]), []).append(i)
    return groups


def welch_frequencies(tile: int) -> tuple[np.ndarray, np.ndarray]:
    """`(rows [t], cols [t//2+1])`: the frequencies (cycles per pixel) of a Welch power
    spectrum of tile side `t`."""
    return np.fft.fftfreq(tile), np.fft.rfftfreq(tile)
