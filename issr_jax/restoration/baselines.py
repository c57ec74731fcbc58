"""Baselines the paper compares against: bicubic, Wiener deconvolution, pseudo-inverse.

All three follow the same "upsample, then restore" design as the method itself, so the
only difference between them and the DRK is the restoration kernel:

- `bicubic`: MATLAB bicubic `imresize`, nothing else (the usual floor of SR tables).
- `wiener_restore`: bicubic, then Wiener deconvolution by the degradation kernel K with a
  fixed noise-to-signal ratio (the classical answer to "invert K", paper Table 4).
- `pinv_restore`: bicubic, then convolution with `pinv(K)`, the Moore-Penrose
  pseudo-inverse of K read as a matrix (the paper's "MP-Pinv", Table 4). A matrix
  inverse is not a convolution inverse; the result is meaningless, as the paper reports.

Images are `[H, W, C] float32` in [0, 1]; every channel is processed alike (score Y,
which is linear in RGB, for a luma-only comparison). Outputs are clipped to [0, 1].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.drk import apply_drk, fast_fft_length
from issr_jax.resize import imresize

__all__ = ["WIENER_NOISE_TO_SIGNAL", "bicubic", "wiener_restore", "pinv_restore"]

# A flat noise-to-signal power ratio of 1e-2 (signal 20 dB above noise at every
# frequency): the textbook constant-NSR Wiener filter. It caps the gain at
# 1 / (2 sqrt(NSR)) = 5 where |K| is small. Fixed, not tuned per image or per dataset.
WIENER_NOISE_TO_SIGNAL = 1e-2


def _check(image: jax.Array, scale: int) -> jax.Array:
    image = jnp.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W] or [H, W, C], got shape {image.shape}")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    return image.astype(jnp.float32)


def _check_kernel(kernel) -> np.ndarray:
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side, got shape {kernel.shape}")
    return kernel


def bicubic(image: jax.Array, *, scale: int) -> jax.Array:
    """MATLAB bicubic upsampling, clipped.

    Args:
        image: `[H, W, C] float32` in [0, 1] (or `[H, W]`).
        scale: integer factor >= 2.

    Returns:
        `[scale*H, scale*W, C] float32` in [0, 1].

    Example:
        >>> bicubic(jnp.ones((8, 8, 3)) / 2, scale=2).shape
        (16, 16, 3)
    """
    image = _check(image, scale)
    return jnp.clip(imresize(image, scale=scale), 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("noise_to_signal",))
def _wiener(image: jax.Array, kernel: jax.Array, *, noise_to_signal: float) -> jax.Array:
    h, w, _ = image.shape
    k = kernel.shape[0]
    # Symmetric padding wide enough that the circular wrap of the FFT lands in the
    # padding: the kernel's support plus as much again for the filter's decaying tail.
    pad = 2 * k
    padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    fh, fw = fast_fft_length(h + 2 * pad), fast_fft_length(w + 2 * pad)
    padded = jnp.pad(padded, ((0, fh - padded.shape[0]), (0, fw - padded.shape[1]), (0, 0)), mode="symmetric")
    # K centred on the origin of the periodic grid: its transfer function has no phase ramp.
    canvas = jnp.zeros((fh, fw), jnp.float32).at[:k, :k].set(kernel)
    canvas = jnp.roll(canvas, (-(k // 2), -(k // 2)), axis=(0, 1))
    transfer = jnp.fft.rfft2(canvas)
    gain = jnp.conj(transfer) / (jnp.abs(transfer) ** 2 + noise_to_signal)
    restored = jnp.fft.irfft2(jnp.fft.rfft2(padded, axes=(0, 1)) * gain[:, :, None], s=(fh, fw), axes=(0, 1))
    return restored[pad : pad + h, pad : pad + w, :]


def wiener_restore(
    image: jax.Array, *, scale: int, kernel, noise_to_signal: float = WIENER_NOISE_TO_SIGNAL
) -> jax.Array:
    """Bicubic upsampling, then Wiener deconvolution by the degradation kernel.

    With `K(f)` the kernel's transfer function (HR pixels), the filter is
    `G(f) = conj(K(f)) / (|K(f)|^2 + NSR)`, applied by FFT to the bicubic-upsampled image
    after symmetric (edge-repeating) border padding. The noise-to-signal ratio is a
    constant, not estimated per image (see `WIENER_NOISE_TO_SIGNAL`). Only K is inverted,
    not the bicubic interpolator's own blur, as in the paper's Table 4.

    Args:
        image: `[H, W, C] float32` in [0, 1], the LR image.
        scale: integer factor >= 2.
        kernel: `[k, k]` degradation kernel (true convolution, HR pixels, odd k, centred);
            normalised to sum to 1 here.
        noise_to_signal: the constant NSR (> 0).

    Returns:
        `[scale*H, scale*W, C] float32` in [0, 1].
    """
    image = _check(image, scale)
    kernel = _check_kernel(kernel)
    if not noise_to_signal > 0:
        raise ValueError(f"noise_to_signal must be > 0, got {noise_to_signal}")
    kernel = jnp.asarray(kernel / kernel.sum(), jnp.float32)
    restored = _wiener(imresize(image, scale=scale), kernel, noise_to_signal=float(noise_to_signal))
    return jnp.clip(restored, 0.0, 1.0)


def pinv_kernel(kernel) -> np.ndarray:
    """`np.linalg.pinv(K)` of a `[k, k]` kernel read as a matrix, `[k, k] float32`.

    For a Gaussian K the matrix is nearly rank one (exactly, when axis-aligned), so its
    pseudo-inverse has entries of order `1 / ||K||^2`, thousands of times larger than K's,
    and sums far from 1.
    """
    return np.linalg.pinv(_check_kernel(kernel)).astype(np.float32)


def pinv_restore(image: jax.Array, *, scale: int, kernel) -> jax.Array:
    """The paper's "MP-Pinv" baseline: bicubic, then convolution with `pinv(K)`.

    `pinv(K)` (`np.linalg.pinv`, K as a `k x k` matrix) is used as a restoration kernel
    and convolved with the upsampled image (`drk.apply_drk`: true convolution, symmetric
    borders). It is not an inverse of the convolution by K, and the output is dominated
    by huge values: the paper reports PSNR of about -195 dB (unclipped). Here the output
    is clipped to [0, 1] like every other method's, so the scores are those of a
    saturated image rather than of an overflow.

    Args:
        image: `[H, W, C] float32` in [0, 1], the LR image.
        scale: integer factor >= 2.
        kernel: `[k, k]` degradation kernel (odd k); normalised to sum to 1 first.

    Returns:
        `[scale*H, scale*W, C] float32` in [0, 1].
    """
    image = _check(image, scale)
    kernel = _check_kernel(kernel)
    restoring = jnp.asarray(pinv_kernel(kernel / kernel.sum()))
    return jnp.clip(apply_drk(imresize(image, scale=scale), restoring), 0.0, 1.0)
