"""Restoration kernel of the `default` preset: identity of the whole chain, in closed form.

The paper asks the DRK to invert K alone (`K * DRK = I`). What the DRK actually sees is
the chain

    HR x --blur K--> --keep every s-th pixel--> LR --MATLAB bicubic x s--> u,

which adds the upsampler's own low-pass response, aliasing, and the sampling phase. Here
the DRK `g` is the filter that makes `g * u` closest to `x` in expected squared error over
images with a natural power spectrum `P(f) = A (|f|^2 + f0^2)^(-alpha/2)` (the same prior
as the estimator), averaged over the `s^2` output phases, with a white floor `noise`
standing for sensor noise and model error. That is a finite-support Wiener (LMMSE)
filter: with `B` the bicubic interpolator's transfer function and `K` the kernel's,

    S_uu(f) = |B|^2 / s^4 * sum_k |K(f - k/s)|^2 P(f - k/s) + |B|^2 noise / s^2
    S_ux(f) = conj(B conj(K) / s^2) P(f),

When the kernel is uncertain (several weighted explanations, each with its own image
prior: `kernels.blind`, or the paper's gallery), both spectra are averaged over them
with their weights: `g` is then the best single linear filter for an image drawn from
the mixture, which restores what the explanations agree on and hedges where they do not.

and `g` solves the normal equations `(R + ridge R_0 I) g = r` with `R`, `r` the inverse
DFTs of `S_uu`, `S_ux` sampled on the `T x T` support (`RIDGE`: a white floor on `u`).
No iteration, no learning rate; batched, a design costs about 1.5 ms at x2 (T = 21) and
5 ms at x4 (T = 31) on this project's CPU (BENCHMARKS.md). It is still "identity
learning": `g` is the best linear map that turns the degraded image back into itself.

Sampling phase: the LR pixel `n` sits at HR position `s n + (s - 1) / 2`, where MATLAB's
bicubic assumes it (DIV2KRK reproduces at 53 dB with this phase, 40 dB with `s n + s//2`).
For even `s` that is half a pixel off the HR grid; the half-pixel shift is folded into K.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.resize import cubic

__all__ = ["RIDGE", "chain_statistics", "restoration_kernel_size", "lmmse_restoration_kernel"]

# Ridge of the normal equations, relative to the upsampled image's variance: a white
# floor 50 dB down. The equations are near-singular from x3 up (bicubic passes almost
# nothing above the LR Nyquist), where the DRK's free components would grow to +-100 and
# amplify float rounding; the ridge keeps the largest tap near 1 at the same PSNR
# (`tests/test_kernel_estimation.py`).
RIDGE = 1e-5


def restoration_kernel_size(scale: int) -> int:
    """Support of the restoration kernel: 21 at x2, 31 from x3 up (about 10 LR pixels)."""
    return 21 if scale == 2 else 31


def _bicubic_transfer(scale: int, n: int) -> np.ndarray:
    """1-D DFT (length n) of the bicubic x`scale` interpolation weights of one LR sample,
    indexed by the HR offset from pixel `s n + s // 2`."""
    offsets = np.arange(-2 * scale - 1, 2 * scale + 2)
    distance = offsets + scale // 2 - (scale - 1) / 2  # from the sample's true position
    taps = np.zeros(n)
    np.add.at(taps, offsets % n, cubic(distance / scale))
    return np.fft.fft(taps)


def _place_periodic(kernel: jax.Array, n: int) -> jax.Array:
    """A centred `[k, k]` kernel on an `n x n` periodic grid (centre at index 0)."""
    k = kernel.shape[0]
    canvas = jnp.zeros((n, n), kernel.dtype).at[:k, :k].set(kernel)
    return jnp.roll(canvas, (-(k // 2), -(k // 2)), axis=(0, 1))


@functools.cache
def _spectral_tables(scale: int) -> tuple[np.ndarray, ...]:
    """The factors of the spectra that depend on the scale alone, on the `n = 64 s`
    periodic grid: `(radius2, gain, floor, cross)` with the prior `P = A (radius2)^(-alpha/2)`,
    `S_uu = gain * aliased(|K|^2 P) + floor * noise` and `S_ux = K * P * cross` (K without
    its sampling phase, which `cross` carries).

    Built once in NumPy (cached) and passed to the jitted design as arguments.
    """
    n = 64 * scale
    freq = np.fft.fftfreq(n)
    bicubic_1d = _bicubic_transfer(scale, n)
    bicubic = np.outer(bicubic_1d, bicubic_1d)
    shift = (scale - 1) / 2 - scale // 2  # sub-pixel sampling phase, folded into K
    phase_1d = np.exp(-2j * np.pi * freq * shift)
    phase = np.outer(phase_1d, phase_1d)
    fy, fx = np.meshgrid(freq, freq, indexing="ij")
    bicubic_power = np.abs(bicubic) ** 2
    return (
        fy**2 + fx**2 + (1.0 / n) ** 2,
        bicubic_power / scale**4,
        bicubic_power / scale**2,
        np.conj(bicubic) * phase / scale**2,
    )


def _correlations(
    kernels: jax.Array,
    weights: jax.Array,
    slopes: jax.Array,
    amplitudes: jax.Array,
    noise: jax.Array,
    tables: tuple[jax.Array, ...],
    *,
    scale: int,
) -> tuple[jax.Array, jax.Array]:
    """`(R_uu, R_ux)`, `[n, n]` each on the periodic grid of `tables` (`_spectral_tables`),
    for `[N, k, k]` kernels mixed with `[N]` weights, each with its prior's `[N]` slope
    and amplitude, and the white `noise` floor."""
    radius2, gain, floor, cross = tables
    n = radius2.shape[0]
    kernel_ft = jax.vmap(lambda kernel: jnp.fft.fft2(_place_periodic(kernel, n)))(kernels)
    prior = amplitudes[:, None, None] * radius2[None] ** (-slopes[:, None, None] / 2)
    blurred_power = jnp.tensordot(weights, jnp.abs(kernel_ft) ** 2 * prior, axes=1)
    m = n // scale  # aliasing: the sum of the spectrum's shifts by multiples of m, periodic in m
    folded = blurred_power.reshape(scale, m, scale, m).sum(axis=(0, 2))
    s_uu = gain * jnp.tile(folded, (scale, scale)) + floor * noise
    s_ux = jnp.tensordot(weights, kernel_ft * prior, axes=1) * cross
    return jnp.real(jnp.fft.ifft2(s_uu)), jnp.real(jnp.fft.ifft2(s_ux))


def _offsets(size: int, count: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Row and column offsets of the first `count` (default all) entries of the
    `size x size` support in raster order (centre in the middle: entry `i` and entry
    `size^2 - 1 - i` are mirror images). Built with iota in the program: as NumPy
    constants the index tables (MBs at 31 x 31) made lowering and compiling slow."""
    index = jnp.arange(size * size if count is None else count)
    return index // size - size // 2, index % size - size // 2


def _solve(r_uu: jax.Array, r_ux: jax.Array, *, size: int, ridge: float) -> jax.Array:
    """The `size^2` normal equations `(R + ridge R_0 I) g = r`, by Cholesky."""
    n = r_uu.shape[0]
    oy, ox = _offsets(size)
    gram = r_uu[(oy[None, :] - oy[:, None]) % n, (ox[None, :] - ox[:, None]) % n]
    gram = gram + ridge * r_uu[0, 0] * jnp.eye(size * size, dtype=gram.dtype)
    rhs = r_ux[oy % n, ox % n]
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(gram), rhs).reshape(size, size)


def _solve_point_symmetric(r_uu: jax.Array, r_ux: jax.Array, *, size: int, ridge: float) -> jax.Array:
    """`_solve` for a point-symmetric kernel, in half the unknowns (an eighth of the work).

    With `K(x) = K(-x)` both correlations are even, so the solution is even too:
    `g = P c` where `P` maps the `(size^2 + 1) / 2` entries up to the centre (raster
    order) onto themselves and their mirror images. `P^T (R + ridge R_0 I) P c = P^T r`
    has the same solution, and `P^T R P` is gathered directly: with `w_i = 2` (a pair) or
    1 (the centre), entry `(i, j)` is `w_i w_j (R(o_j - o_i) + R(-o_j - o_i)) / 2`.
    """
    n = r_uu.shape[0]
    count = (size * size + 1) // 2
    oy, ox = _offsets(size, count)
    weight = jnp.where(jnp.arange(count) < count - 1, 2.0, 1.0).astype(r_uu.dtype)
    direct = r_uu[(oy[None, :] - oy[:, None]) % n, (ox[None, :] - ox[:, None]) % n]
    mirror = r_uu[(-oy[None, :] - oy[:, None]) % n, (-ox[None, :] - ox[:, None]) % n]
    gram = (direct + mirror) * (weight[:, None] * weight[None, :] / 2)
    gram = gram + ridge * r_uu[0, 0] * jnp.diag(weight)
    rhs = (r_ux[oy % n, ox % n] + r_ux[-oy % n, -ox % n]) * (weight / 2)
    half = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(gram), rhs)
    return jnp.concatenate([half, half[-2::-1]]).reshape(size, size)


def lmmse_restoration_kernel(
    kernel: jax.Array,
    *,
    scale: int,
    weights: jax.Array | None = None,
    prior_slope=2.0,
    amplitude=1.0,
    noise=1e-2,
    size: int | None = None,
    ridge: float = RIDGE,
) -> jax.Array:
    """The restoration kernel (DRK) that best undoes blur + subsampling + bicubic.

    The normal equations are built and solved in float64 in a scoped `jax.enable_x64`
    block (the prior spans six decades between DC and Nyquist); the function is jitted
    inside and must be called outside `jit`. It maps over any leading batch axes, so a
    dataset's kernels are designed in one call. Designs whose kernels are all
    point-symmetric (every Gaussian and resampler) are solved in half the unknowns,
    others in full; both give the same DRK to float rounding.

    Args:
        kernel: `[..., k, k]` degradation kernels in HR pixels, odd `k`, each summing to 1
            and centred; with `weights`, `[..., N, k, k]`: N explanations of each image's blur.
        scale: integer SR factor `s`.
        weights: None (one kernel per design), or `[..., N]` non-negative weights summing
            to 1: the design is then for the mixture.
        prior_slope: `alpha` of the image prior's power law (2: the natural 1/f
            amplitude); a scalar, or per design `[...]`, or per explanation `[..., N]`.
        amplitude: `A`, the prior's level, broadcast as `prior_slope` (1 with `noise` in
            the same relative units, or 8-bit levels squared with an absolute `noise`).
        noise: the white floor in the prior's units, scalar or `[...]` (with `A = 1` and
            alpha = 2 the prior is 4 at HR Nyquist, so 1e-2 is 26 dB below it there).
        size: odd side `T` of the result; default `restoration_kernel_size(scale)`.
        ridge: white floor on the upsampled image, relative to its variance (`RIDGE`);
            0 solves the equations unregularised.

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
    if weights is None:
        kernel, weights = kernel[..., None, :, :], np.ones(kernel.shape[:-2] + (1,))
    weights = np.asarray(weights, np.float64)
    batch_shape, count = kernel.shape[:-3], kernel.shape[-3]
    if weights.shape != batch_shape + (count,):
        raise ValueError(f"weights must be {batch_shape + (count,)} for kernels {kernel.shape}, got {weights.shape}")
    per_explanation = lambda value: np.broadcast_to(
        np.asarray(value, np.float64)[..., None] if np.ndim(value) == len(batch_shape) else value,
        batch_shape + (count,),
    ).reshape(-1, count)
    flat = kernel.reshape(-1, count, *kernel.shape[-2:])
    slopes, amplitudes = per_explanation(prior_slope), per_explanation(amplitude)
    floors = np.broadcast_to(np.asarray(noise, np.float64), batch_shape).reshape(-1)
    symmetric = np.all(flat == flat[..., ::-1, ::-1], axis=(1, 2, 3))
    result = np.empty((len(flat), size, size), np.float32)
    options = dict(scale=scale, size=size, ridge=ridge)
    with jax.enable_x64(True):
        tables = _spectral_tables(scale)  # NumPy in: jnp.asarray would compile a copy
        for point_symmetric, members in ((True, symmetric), (False, ~symmetric)):
            if np.any(members):
                designed = _design_batch(
                    flat[members],
                    weights.reshape(-1, count)[members],
                    slopes[members],
                    amplitudes[members],
                    floors[members],
                    tables,
                    point_symmetric=point_symmetric,
                    **options,
                )
                result[members] = np.asarray(designed, np.float32)
    return jax.device_put(result.reshape(*batch_shape, size, size))


@functools.partial(jax.jit, static_argnames=("scale", "size", "ridge", "point_symmetric"))
def _design_batch(kernels, weights, slopes, amplitudes, noise, tables, *, scale, size, ridge, point_symmetric):
    """`[B, N, k, k] float64` mixtures to `[B, T, T] float64` DRKs (`tables`: `_spectral_tables`)."""
    solve = _solve_point_symmetric if point_symmetric else _solve

    def design(kernels, weights, slopes, amplitudes, noise):
        r_uu, r_ux = _correlations(kernels, weights, slopes, amplitudes, noise, tables, scale=scale)
        return solve(r_uu, r_ux, size=size, ridge=ridge)

    return jax.vmap(design)(kernels, weights, slopes, amplitudes, noise)


def chain_statistics(
    kernel,
    *,
    scale: int,
    size: int,
    prior_slope: float = 2.0,
    noise: float = 1e-2,
    ridge: float = RIDGE,
) -> tuple[np.ndarray, np.ndarray]:
    """The expected squared error of a restoration kernel `g` as a quadratic form.

    Over images with the prior of `lmmse_restoration_kernel` and the same chain,
    `E||g * u - x||^2 / E[x^2] = g^T C g - 2 b^T g + 1`, with `C[t, t'] = c(t - t')`
    (`c` the upsampled image's autocorrelation, plus `ridge` times its variance at lag 0:
    the design's white floor) and `b` the correlation of `u` with `x`; `g` = `C^-1 b` is
    `lmmse_restoration_kernel`. Float64 NumPy, computed in a scoped `jax.enable_x64`
    (call outside `jit`); maps over leading axes of `kernel`.

    Args:
        kernel: `[..., k, k]` degradation kernels in HR pixels (odd k, sum 1, centred).
        scale: integer SR factor.
        size: odd side T of `g`.
        prior_slope, noise, ridge: as in `lmmse_restoration_kernel`.

    Returns:
        `(correlation [..., 2T - 1, 2T - 1], cross [..., T, T])`: `c(delta)` at
        `delta + T - 1`, and `b` (index `(T // 2, T // 2)` is lag 0), both divided by `E[x^2]`.
    """
    if isinstance(kernel, jax.core.Tracer):
        raise TypeError("chain_statistics computes in float64 and cannot be traced: call it outside jit")
    kernel = np.asarray(kernel, np.float64)
    batch_shape = kernel.shape[:-2]
    flat = kernel.reshape(-1, *kernel.shape[-2:])
    with jax.enable_x64(True):
        tables = _spectral_tables(scale)
        prior = (np.float64(prior_slope), np.float64(noise))
        correlation, cross = _statistics_batch(flat, *prior, tables, scale=scale, size=size, ridge=ridge)
        correlation, cross = np.asarray(correlation), np.asarray(cross)
    energy = np.mean(tables[0] ** (-prior_slope / 2))  # E[x^2]: the prior's variance on the periodic grid
    return (
        correlation.reshape(*batch_shape, 2 * size - 1, 2 * size - 1) / energy,
        cross.reshape(*batch_shape, size, size) / energy,
    )


@functools.partial(jax.jit, static_argnames=("scale", "size", "ridge"))
def _statistics_batch(kernels, prior_slope, noise, tables, *, scale, size, ridge):
    """`[B, k, k]` kernels to the windows of `(R_uu + ridge R_uu(0) delta, R_ux)` of `chain_statistics`."""

    def statistics(kernel):
        one = jnp.ones((1,), kernel.dtype)
        r_uu, r_ux = _correlations(kernel[None], one, prior_slope * one, one, noise, tables, scale=scale)
        n = r_uu.shape[0]
        lags = jnp.arange(-(size - 1), size) % n
        offsets = jnp.arange(size) - size // 2
        correlation = r_uu[lags[:, None], lags[None, :]].at[size - 1, size - 1].add(ridge * r_uu[0, 0])
        return correlation, r_ux[offsets[:, None] % n, offsets[None, :] % n]

    return jax.vmap(statistics)(kernels)
