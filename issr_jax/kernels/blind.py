"""The `default` preset's blind kernel estimate: competing explanations of the spectrum,
weighted by how well each explains it.

An LR image's spectrum is fitted twice (`kernels.spectral.fit_log_spectrum`), with the
noise floor measured by `issr_jax.noise` subtracted and every frequency weighted by its
signal-to-noise ratio:

1. as a Gaussian blur of any covariance (the DIV2KRK model, and optical blur), and
2. as a resampler's antialiasing kernel (`kernels.resamplers`: a photograph shrunk by
   software), whose shape is known, so only the image's own level and slope are fitted.

Both explain the LR spectrum; they differ in what they say the HR image looked like.
A sharp photograph shrunk by bicubic reads as a Gaussian of about 1 HR pixel with a
shallow slope, and restoring it as such over-sharpens it by several dB; a Gaussian-
blurred image read as shrunk leaves most of its blur in place. Each explanation gets a
score

    -(n / 2) log(residual) - (alpha - mu)^2 / (2 tau^2) - (p / 2) log n,

the log-likelihood of its residual over `n` effectively independent frequencies, a
prior on the HR image's spectral slope (`mu`, `tau`: the slopes of DIV2K, Set14 and
BSD100 HR images span 1.8 to 3.7 around 2.5), and the Bayesian-information penalty for
the Gaussian's `p = 3` extra unknowns. The weights are the normalised exponentials of
the scores. The restoration design then averages over the explanations
(`restoration.lmmse`), so where the spectrum cannot tell them apart the result stays
between them rather than betting on one: it sharpens less, and never as much as the
wrong Gaussian would.

`n = 25` (neighbouring frequencies of a Welch spectrum and of an image's own spectral
bumps are far from independent) was chosen on DIV2KRK (Gaussian blur) and BSD100
(bicubic) together; Set5, Set14 and the Lanczos, bilinear and box-shrunk BSD100 images of
RESULTS.md were not used to choose it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import rgb_to_y
from issr_jax.kernels import spectral
from issr_jax.kernels.resamplers import resampler_kernel, resampler_log_power

__all__ = [
    "BlindSettings",
    "KernelHypotheses",
    "estimate_kernel_hypotheses",
    "kernel_hypotheses",
    "kernel_log_power",
    "known_kernel_hypothesis",
]

MAX_DESIGN_SLOPE = 4.5  # the restoration prior's steepest slope (a steeper fit is an implausible explanation)


@dataclasses.dataclass(frozen=True)
class BlindSettings:
    """Settings of the blind estimate (hashable: static in the compiled programs).

    Attributes:
        snr_min: frequencies with power below `snr_min` times the noise floor are left out.
        weighting: `"snr"` or `"binary"` (see `kernels.spectral.fit_log_spectrum`).
        resamplers: the resampler explanations competing with the Gaussian (names from
            `kernels.resamplers.RESAMPLERS`); empty for the Gaussian alone.
        slope_prior: `(mu, tau)` of the HR image's spectral slope.
        independent_frequencies: `n` of the score.
    """

    snr_min: float = 1.5
    weighting: str = "snr"
    resamplers: tuple[str, ...] = ("bicubic",)
    slope_prior: tuple[float, float] = (2.5, 0.6)
    independent_frequencies: float = 25.0


class KernelHypotheses(NamedTuple):
    """Weighted explanations of one image's blur (leaves get a leading axis when batched).

    Attributes:
        kernels: `[N, k, k] float32` (k = `10 s + 1`), each sums to 1, centred, HR pixels:
            the fitted Gaussian first, then the resamplers'.
        weights: `[N]`, non-negative, sum to 1.
        slopes: `[N]`, the HR spectral slope `alpha` each explanation implies.
        amplitudes: `[N]`, the HR spectrum's level `A` in `P(f) = A |f|^-alpha` (8-bit
            levels squared, `f` in cycles per HR pixel).
    """

    kernels: jax.Array
    weights: jax.Array
    slopes: jax.Array
    amplitudes: jax.Array


def _score(
    power: jax.Array,
    noise: jax.Array,
    reliability: jax.Array,
    coefficients: jax.Array,
    log_kernel_power: jax.Array | float,
    *,
    scale: int,
    settings: BlindSettings,
    unknowns: int,
) -> jax.Array:
    """The explanation's score (module docstring). Its residual is that of the Welch
    log-power against `log(S + noise)` over the whole band, `S` the explanation's signal
    spectrum: a log-periodogram averaged over many tiles has about the same variance at
    every level, so the frequencies near and under the noise floor count too. They are
    what tells the explanations apart in a noisy image (a resampler leaves more signal
    there than a Gaussian could); the fit itself left them out."""
    design, in_band = spectral.spectrum_design(*power.shape, scale, spectral.BAND)
    # Off the band (the DC's log-radius is huge) the exponential would overflow: zero it.
    log_signal = jnp.where(in_band, design @ coefficients + jnp.reshape(log_kernel_power, -1), 0.0)
    residual = jnp.log(jnp.maximum(power.reshape(-1), 1e-12)) - jnp.log(jnp.exp(log_signal) + noise)
    weight = in_band * reliability.reshape(-1)
    mean_square = jnp.sum(weight * residual**2) / jnp.maximum(jnp.sum(weight), 1e-12)
    n = settings.independent_frequencies * jnp.sum(weight) / jnp.maximum(jnp.sum(in_band), 1)
    mu, tau = settings.slope_prior
    slope = coefficients[8]
    return (
        -(n / 2) * jnp.log(jnp.maximum(mean_square, 1e-12))
        - (slope - mu) ** 2 / (2 * tau**2)
        - unknowns / 2 * jnp.log(n)
    )


def _fitter(power, noise, reliability, *, scale: int, settings: BlindSettings):
    """`fit_log_spectrum` of this spectrum with the settings' band choice and weighting;
    call it with a `log_kernel_power` for a known kernel's shape."""
    return functools.partial(
        spectral.fit_log_spectrum,
        power,
        noise,
        scale=scale,
        snr_min=settings.snr_min,
        weighting=settings.weighting,
        reliability=reliability,
    )


def kernel_hypotheses(
    power: jax.Array, noise: jax.Array, reliability: jax.Array, *, scale: int, settings: BlindSettings
) -> KernelHypotheses:
    """The weighted explanations of one spectrum (jittable, vmappable).

    Args:
        power: `[t, t//2+1]` Welch power of the luma (8-bit levels).
        noise: scalar, the luma's white noise variance (8-bit levels squared).
        reliability: `[t, t//2+1]` weights in [0, 1] (ones unless the image was a JPEG).
        scale: the SR factor.
        settings: `BlindSettings`.

    Returns:
        `KernelHypotheses` with N = 1 + len(settings.resamplers).
    """
    fit = _fitter(power, noise, reliability, scale=scale, settings=settings)
    score = functools.partial(_score, power, noise, reliability, scale=scale, settings=settings)
    size = spectral.estimated_kernel_size(scale)
    gaussian = fit()
    fits = [gaussian]
    kernels = [spectral.gaussian_kernel_from_fit(gaussian.coefficients, scale=scale)]
    scores = [score(gaussian.coefficients, 0.0, unknowns=3)]
    for name in settings.resamplers:
        log_power = jnp.asarray(resampler_log_power(name, scale=scale, rows=power.shape[0], cols=power.shape[1]))
        resampled = fit(log_kernel_power=log_power)
        fits.append(resampled)
        kernels.append(jnp.asarray(resampler_kernel(name, scale=scale, size=size)))
        scores.append(score(resampled.coefficients, log_power, unknowns=0))
    slopes, amplitudes = _design_prior(jnp.stack([f.coefficients for f in fits]), scale=scale)
    return KernelHypotheses(
        kernels=jnp.stack(kernels),
        weights=jax.nn.softmax(jnp.stack(scores)),
        slopes=slopes,
        amplitudes=amplitudes,
    )


def _design_prior(coefficients: jax.Array, *, scale: int) -> tuple[jax.Array, jax.Array]:
    """`(slopes, amplitudes)` of the HR prior `A f^-alpha` (f in cycles per HR pixel) from
    `[..., 9]` fit coefficients. A slope above `MAX_DESIGN_SLOPE` is capped, and its
    amplitude moved so that the capped prior still passes through the fitted spectrum at
    the centre of the fitted band: capping alone would leave the prior orders of
    magnitude too low there (a very smooth image fits slopes of 8 or more), and the
    design would then shrink the whole image towards its mean."""
    slopes = coefficients[..., 8]
    amplitudes = jnp.exp(coefficients[..., 0]) * float(scale) ** (2.0 - slopes)
    capped = jnp.minimum(slopes, MAX_DESIGN_SLOPE)
    centre = math.sqrt(spectral.BAND[0] * spectral.BAND[1]) / scale
    return capped, amplitudes * centre ** (capped - slopes)


def kernel_log_power(kernel: jax.Array, *, scale: int, rows: int, cols: int) -> jax.Array:
    """`log |K(nu / s)|^2` of a centred `[k, k]` kernel (HR pixels) on an rfft grid of LR
    frequencies (`[rows, cols]`, as `kernels.resamplers.resampler_log_power`)."""
    offsets = jnp.arange(kernel.shape[-1]) - kernel.shape[-1] // 2
    freq_rows = jnp.fft.fftfreq(rows) / scale
    freq_cols = jnp.arange(cols) / rows / scale
    phase = lambda freq: jnp.exp(-2j * jnp.pi * freq[:, None] * offsets[None, :])
    response = phase(freq_rows) @ kernel.astype(jnp.complex64) @ phase(freq_cols).T
    return jnp.log(jnp.maximum(jnp.abs(response) ** 2, 1e-12))


def known_kernel_hypothesis(
    power: jax.Array,
    noise: jax.Array,
    reliability: jax.Array,
    kernel: jax.Array,
    *,
    scale: int,
    settings: BlindSettings,
) -> KernelHypotheses:
    """One explanation with a known kernel: only the HR prior's level and slope are fitted
    (as for a resampler), so that the design's prior and noise floor are in the image's
    units. Arguments as `kernel_hypotheses`, and the `[k, k]` kernel."""
    log_power = kernel_log_power(kernel, scale=scale, rows=power.shape[0], cols=power.shape[1])
    fit = _fitter(power, noise, reliability, scale=scale, settings=settings)(log_kernel_power=log_power)
    slopes, amplitudes = _design_prior(fit.coefficients[None], scale=scale)
    return KernelHypotheses(
        kernels=kernel[None], weights=jnp.ones((1,), jnp.float32), slopes=slopes, amplitudes=amplitudes
    )


def _hypotheses_from_tiles(tiles, weights, noise, reliability, kernel, *, scale, settings):
    luma = rgb_to_y(tiles) if tiles.shape[-1] == 3 else tiles[..., 0]
    power, _, _ = spectral.welch_from_tiles(luma * 255.0, weights)
    if kernel is None:
        return kernel_hypotheses(power, noise, reliability, scale=scale, settings=settings)
    return known_kernel_hypothesis(power, noise, reliability, kernel, scale=scale, settings=settings)


@functools.partial(jax.jit, static_argnames=("scale", "settings"))
def _hypotheses_batch(tiles, weights, noise, reliability, kernels, *, scale, settings):
    one = functools.partial(_hypotheses_from_tiles, scale=scale, settings=settings)
    return jax.vmap(one)(tiles, weights, noise, reliability, kernels)


def estimate_kernel_hypotheses(
    images: Sequence[np.ndarray],
    *,
    scale: int,
    noise: Sequence[float],
    settings: BlindSettings = BlindSettings(),
    reliability: Sequence[np.ndarray | None] | None = None,
    kernels: Sequence[np.ndarray] | None = None,
) -> KernelHypotheses:
    """`kernel_hypotheses` for many images of any sizes, in a few batched calls.

    Images are grouped as `kernels.spectral.estimate_spectral_kernels` groups them (same
    Welch tile side and count share a compiled program, `ESTIMATE_BATCH` per call), so an
    image's result does not depend on the others, and one image alone gets the same.

    Args:
        images: `[H_i, W_i, C]` float32 in [0, 1] (C = 1 gray, 3 RGB), `min(H_i, W_i) >= 16`.
        scale: the SR factor.
        noise: per image, the luma's noise standard deviation (8-bit levels).
        settings: `BlindSettings`.
        reliability: per image, None or `[8, 8]` surviving fractions of a JPEG's DCT
            coefficients (`noise.jpeg`), mapped onto the Welch frequencies here.
        kernels: None (explain the blur), or per image a known `[k, k]` kernel (same k),
            for which only the prior is fitted (`known_kernel_hypothesis`, N = 1).

    Returns:
        `KernelHypotheses` as NumPy, leaves with a leading axis `len(images)`.
    """
    images = [np.asarray(image, np.float32) for image in images]
    images = [image[..., None] if image.ndim == 2 else image for image in images]
    reliability = list(reliability) if reliability is not None else [None] * len(images)
    variances = np.square(np.asarray(noise, np.float32))
    results: list = [None] * len(images)
    for (tile, _, _), members in spectral.group_by_tiles(images).items():
        grid = spectral.welch_frequencies(tile)
        for start in range(0, len(members), spectral.ESTIMATE_BATCH):
            batch = members[start : start + spectral.ESTIMATE_BATCH]
            padded = batch + [batch[0]] * (spectral.ESTIMATE_BATCH - len(batch))
            gathered = [spectral.gather_tiles(images[i], tile) for i in padded]
            weights = [_reliability_on(grid, reliability[i]) for i in padded]
            out = _hypotheses_batch(
                np.stack([g[0] for g in gathered]),
                np.stack([g[1] for g in gathered]),
                variances[padded],
                np.stack(weights),
                None if kernels is None else np.stack([np.asarray(kernels[i], np.float32) for i in padded]),
                scale=scale,
                settings=settings,
            )
            for j, i in enumerate(batch):
                results[i] = jax.tree.map(lambda leaf, j=j: np.asarray(leaf[j]), out)
    return jax.tree.map(lambda *leaves: np.stack(leaves), *results)


def _reliability_on(grid: tuple[np.ndarray, np.ndarray], surviving: np.ndarray | None) -> np.ndarray:
    """`[t, t//2+1]` weights from `[8, 8]` surviving fractions of a JPEG's DCT
    coefficients: the frequency `nu` (cycles per pixel) falls on DCT index `16 |nu|`, and
    a bin counts as much as the coefficients of its two axes' indices survived."""
    freq_rows, freq_cols = grid
    if surviving is None:
        return np.ones((len(freq_rows), len(freq_cols)), np.float32)
    surviving = np.asarray(surviving, np.float32)
    u = np.clip(np.round(16 * np.abs(freq_rows)).astype(int), 0, 7)
    v = np.clip(np.round(16 * np.abs(freq_cols)).astype(int), 0, 7)
    return (surviving[u[:, None], v[None, :]] ** 2).astype(np.float32)
