"""Restoration kernel of the `default` preset: identity of the whole chain, in closed form.

The paper asks the DRK to invert K alone (`K * DRK = I`). What the DRK actually sees is
the chain

    HR x --blur K--> --keep every s-th pixel--> LR --MATLAB bicubic x s--> u,

which adds the upsampler's own low-pass response, aliasing, and the sampling phase. Here
the DRK `g` is the filter that makes `g * u` closest to `x` in expected squared error over
images with a natural power spectrum `P(f) = (|f|^2 + f0^2)^(-alpha/2)` (the same prior
as the estimator), averaged over the `s^2` output phases, with a white floor `noise`
standing for sensor noise and model error. That is a finite-support Wiener (LMMSE)
filter: with `B` the bicubic interpolator's transfer function and `K` the kernel's,

    S_uu(f) = |B|^2 / s^4 * sum_k |K(f - k/s)|^2 P(f - k/s) + |B|^2 noise / s^2
    S_ux(f) = conj(B conj(K) / s^2) P(f),

and `g` solves the normal equations `R g = r` with `R`, `r` the inverse DFTs of `S_uu`,
`S_ux` sampled on the `T x T` support. No iteration, no learning rate; the solve costs
about 0.05 s at x2 (T = 21). It is still "identity learning": `g` is the best linear map
that turns the degraded image back into itself.

Sampling phase: the LR pixel `n` sits at HR position `s n + (s - 1) / 2`, where MATLAB's
bicubic assumes it (DIV2KRK reproduces at 53 dB with this phase, 40 dB with `s n + s//2`).
For even `s` that is half a pixel off the HR grid; the half-pixel shift is folded into K.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["restoration_kernel_size", "lmmse_restoration_kernel"]


def restoration_kernel_size(scale: int) -> int:
    """Support of the restoration kernel: 21 at x2, 31 from x3 up (about 10 LR pixels)."""
    return 21 if scale == 2 else 31


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


def _bicubic_transfer(scale: int, n: int) -> np.ndarray:
    """1-D DFT (length n) of the bicubic x`scale` interpolation weights of one LR sample,
    indexed by the HR offset from pixel `s n + s // 2`."""
    offsets = np.arange(-2 * scale - 1, 2 * scale + 2)
    distance = offsets + scale // 2 - (scale - 1) / 2  # from the sample's true position
    taps = np.zeros(n)
    np.add.at(taps, offsets % n, _cubic(distance / scale))
    return np.fft.fft(taps)


def _place_periodic(kernel: jax.Array, n: int) -> jax.Array:
    """A centred `[k, k]` kernel on an `n x n` periodic grid (centre at index 0)."""
    k = kernel.shape[0]
    canvas = jnp.zeros((n, n), kernel.dtype).at[:k, :k].set(kernel)
    return jnp.roll(canvas, (-(k // 2), -(k // 2)), axis=(0, 1))


def _design(kernel: jax.Array, *, scale: int, size: int, prior_slope: float, noise: float) -> jax.Array:
    """The normal equations for one kernel, in the dtype of `kernel` (float64 here)."""
    dtype = kernel.dtype
    complex_dtype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    n = 64 * scale
    freq = np.fft.fftfreq(n)
    bicubic_1d = _bicubic_transfer(scale, n)
    bicubic = jnp.asarray(np.outer(bicubic_1d, bicubic_1d), complex_dtype)
    shift = (scale - 1) / 2 - scale // 2  # sub-pixel sampling phase, folded into K
    phase_1d = np.exp(-2j * np.pi * freq * shift)
    phase = jnp.asarray(np.outer(phase_1d, phase_1d), complex_dtype)
    kernel_ft = jnp.fft.fft2(_place_periodic(kernel, n)) * phase
    fy, fx = np.meshgrid(freq, freq, indexing="ij")
    prior = jnp.asarray((fy**2 + fx**2 + (1.0 / n) ** 2) ** (-prior_slope / 2), dtype)
    blurred_power = jnp.abs(kernel_ft) ** 2 * prior
    m = n // scale
    aliased = sum(jnp.roll(blurred_power, (a * m, b * m), axis=(0, 1)) for a in range(scale) for b in range(scale))
    bicubic_power = jnp.abs(bicubic) ** 2
    s_uu = bicubic_power / scale**4 * aliased + bicubic_power * noise / scale**2
    s_ux = jnp.conj(bicubic * jnp.conj(kernel_ft) / scale**2) * prior
    r_uu = jnp.real(jnp.fft.ifft2(s_uu))
    r_ux = jnp.real(jnp.fft.ifft2(s_ux))
    half = size // 2
    offsets = np.arange(-half, half + 1)
    oy, ox = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    gram = r_uu[(oy[None, :] - oy[:, None]) % n, (ox[None, :] - ox[:, None]) % n]
    rhs = r_ux[oy % n, ox % n]
    factor = jax.scipy.linalg.cho_factor(gram)
    return jax.scipy.linalg.cho_solve(factor, rhs).reshape(size, size)


def lmmse_restoration_kernel(
    kernel: jax.Array,
    *,
    scale: int,
    size: int | None = None,
    prior_slope: float = 2.0,
    noise: float = 1e-2,
) -> jax.Array:
    """The restoration kernel (DRK) that best undoes blur + subsampling + bicubic.

    The normal equations have condition numbers around 1e8 (the prior spans six decades
    between DC and Nyquist), beyond float32, so they are built and solved in float64 in
    a scoped `jax.enable_x64` block; the function is jitted inside and must be called
    outside `jit`. It maps over any leading batch axes of `kernel` (`vmap`), so a
    dataset's kernels are designed in one call.

    Args:
      kernel: `[..., k, k]` degradation kernels in HR pixels, odd `k`, each summing to 1
        and centred.
      scale: integer SR factor `s`.
      size: odd side `T` of the result; default `restoration_kernel_size(scale)`.
      prior_slope: `alpha` of the image prior's power law (2: the natural 1/f amplitude).
      noise: white floor in the prior's units (the prior is 4 at HR Nyquist for
        alpha = 2, so 1e-2 is 26 dB below it there).

    Returns:
      `[..., T, T] float32`, applied by true convolution to the bicubic-upsampled image
      (`apply_drk`).
    """
    if isinstance(kernel, jax.core.Tracer):
        raise TypeError("lmmse_restoration_kernel solves in float64 and cannot be traced: call it outside jit")
    size = size or restoration_kernel_size(scale)
    kernel = np.asarray(kernel, np.float64)
    if kernel.shape[-1] > 64 * scale or kernel.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"kernel must be square and at most {64 * scale} wide, got {kernel.shape[-2:]}")
    batch_shape = kernel.shape[:-2]
    flat = kernel.reshape(-1, *kernel.shape[-2:])
    with jax.enable_x64(True):
        result = _design_batch(jnp.asarray(flat, jnp.float64), scale=scale, size=size, prior_slope=prior_slope, noise=noise)
        result = np.asarray(result, np.float32)
    return jnp.asarray(result.reshape(*batch_shape, size, size))


@functools.partial(jax.jit, static_argnames=("scale", "size", "prior_slope", "noise"))
def _design_batch(kernels: jax.Array, *, scale: int, size: int, prior_slope: float, noise: float) -> jax.Array:
    design = functools.partial(_design, scale=scale, size=size, prior_slope=prior_slope, noise=noise)
    return jax.vmap(design)(kernels)
