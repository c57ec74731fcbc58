"""The kernels of image resamplers: what a photograph went through when software shrank it.

A photograph made smaller by MATLAB's `imresize`, Pillow's `resize` or most image
editors was not blurred by a Gaussian: it was filtered by the resampler's antialiasing
kernel, the interpolation kernel stretched by the scale factor. The Keys cubic (a =
-0.5, MATLAB and Pillow "bicubic") stands for the family: it is flat to fourth order at
low frequencies (its second moment is zero) and falls steeply towards the LR Nyquist
frequency, which no Gaussian does. Lanczos, bilinear and box (area) downscaling lie
close to it or to a small Gaussian, and were measured to be restored safely by the
mixture of the two (RESULTS.md).

Kernels are on the HR grid, centred on a pixel, like the Gaussians of
`kernels.gaussian`; the restoration design folds the sampling phase in (see
`restoration.lmmse`).
"""

from __future__ import annotations

import functools

import numpy as np

from issr_jax.resize import cubic

__all__ = ["RESAMPLERS", "resampler_kernel", "resampler_log_power"]

RESAMPLERS = ("bicubic",)


def _taps(name: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """`(offsets, weights)` of the 1-D antialiasing kernel for shrinking by `scale`, on
    integer HR offsets from the centre, weights summing to 1."""
    if name not in RESAMPLERS:
        raise ValueError(f"unknown resampler {name!r}; choose one of {RESAMPLERS}")
    offsets = np.arange(-2 * scale, 2 * scale + 1)
    weights = cubic(offsets / scale)
    return offsets, weights / weights.sum()


def resampler_kernel(name: str, *, scale: int, size: int) -> np.ndarray:
    """The 2-D antialiasing kernel of a resampler shrinking by `scale` (separable).

    Args:
        name: one of `RESAMPLERS`.
        scale: integer factor.
        size: odd side of the result, at least `4 scale + 1`.

    Returns:
        `[size, size] float32`, sums to 1, centred.
    """
    offsets, weights = _taps(name, scale)
    if size % 2 != 1 or size < len(offsets):
        raise ValueError(f"size must be odd and at least {len(offsets)}, got {size}")
    line = np.zeros(size)
    line[offsets + size // 2] = weights
    return np.outer(line, line).astype(np.float32)


@functools.cache
def resampler_log_power(name: str, *, scale: int, rows: int, cols: int) -> np.ndarray:
    """`log |K(nu / s)|^2` of the resampler's kernel on an rfft grid of LR frequencies
    (`[rows, cols]`, rows = `fftfreq(rows)`, cols = `rfftfreq(rows)`), the offset that
    replaces the Gaussian's term in the spectral fit (`kernels.spectral`)."""
    offsets, weights = _taps(name, scale)
    freq_rows = np.fft.fftfreq(rows) / scale
    freq_cols = np.arange(cols) / rows / scale
    response = lambda freq: np.cos(2 * np.pi * freq[:, None] * offsets[None, :]) @ weights  # real: symmetric taps
    power = np.outer(response(freq_rows) ** 2, response(freq_cols) ** 2)
    return np.log(np.maximum(power, 1e-12)).astype(np.float32)
