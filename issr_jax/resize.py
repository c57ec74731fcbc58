"""MATLAB-compatible bicubic ``imresize`` in JAX.

This is MATLAB's ``imresize(image, scale, 'bicubic')`` (and BasicSR's
``basicsr.utils.matlab_functions.imresize``, which copies it):

- the Keys cubic kernel with ``a = -0.5``;
- the coordinate map ``u = x / scale + 0.5 * (1 - 1 / scale)`` (1-based);
- when ``scale < 1`` and ``antialias`` is on, the kernel is stretched to width
  ``4 / scale`` with weights ``scale * cubic(scale * d)`` (a low-pass filter);
- weights normalised to sum to 1 for every output sample;
- borders mirrored with the edge pixel repeated (MATLAB ``'symmetric'``);
- rows (H) first, then columns (W), with nothing rounded or clipped.

The weights and source indices depend only on the static lengths and the scale, so
they are built once in NumPy (float64) and cached; the image side is a weighted sum of
a few gathered rows / columns (4 taps when upscaling, ``4 / scale`` when
antialiasing), which XLA fuses into one pass per axis. Integer upscales, the SR case,
skip the gathers: output phase ``p`` of every period is a weighted sum of shifted
slices of the symmetrically padded input, and the ``s`` phases are interleaved (the
same sums; half the time of the restore stage). No matmul is involved, so the result
is float32-accurate on every backend without a precision flag.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["cubic", "imresize", "mirror_indices", "resize_weights"]


def cubic(distance: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``), float64.

    The one copy: the resize taps and the LMMSE design's bicubic transfer both use it.
    """
    a = np.abs(distance)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


def mirror_indices(indices: np.ndarray, length: int) -> np.ndarray:
    """Maps 0-based indices outside [0, length) back inside with MATLAB 'symmetric'
    mirroring (the edge pixel is repeated: -1 -> 0, length -> length - 1)."""
    period = 2 * length
    folded = np.mod(indices, period)
    return np.where(folded < length, folded, period - 1 - folded)


@functools.lru_cache(maxsize=128)
def resize_weights(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic interpolation taps for one axis.

    Args:
        in_length: number of input samples along the axis.
        out_length: number of output samples.
        scale: output / input sampling ratio used in the coordinate map.
        antialias: stretch the kernel when ``scale < 1``.

    Returns:
        ``(weights, indices)``, both ``[out_length, taps]``: ``weights`` float64 summing
        to 1 per row, ``indices`` int32 in ``[0, in_length)`` (borders already mirrored).
        Output sample ``i`` is ``sum_k weights[i, k] * input[indices[i, k]]``.
    """
    if in_length < 1 or out_length < 1:
        raise ValueError(f"lengths must be positive, got in={in_length}, out={out_length}")
    kernel_width = 4.0
    stretch = scale < 1 and antialias
    if stretch:
        kernel_width = kernel_width / scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based source coordinate
    left = np.floor(u - kernel_width / 2.0)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    distance = u[:, None] - indices
    weights = scale * cubic(distance * scale) if stretch else cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # The first and last taps are always (numerically) zero; drop columns that are
    # zero for every output sample so the gather does no wasted work.
    keep = np.any(weights != 0.0, axis=0)
    first, last = np.argmax(keep), len(keep) - np.argmax(keep[::-1])
    weights = weights[:, first:last]
    indices = mirror_indices(indices[:, first:last].astype(np.int64) - 1, in_length)
    return weights, indices.astype(np.int32)


@functools.lru_cache(maxsize=128)
def _phase_plan(in_length: int, out_length: int, scale: float, antialias: bool):
    """For an integer upscale `s`, `(weights [s, taps], offsets [s, taps], left, right)`
    such that output `s i + p` is `sum_t weights[p, t] * padded[i + offsets[p, t]]`,
    `padded` being the input with `left`/`right` samples of symmetric padding; None
    when the taps do not follow that pattern (checked against `resize_weights` for
    every output sample, so the plan computes the same sum, to float rounding)."""
    weights, indices = resize_weights(in_length, out_length, scale, antialias)
    s = round(out_length / in_length)
    if s < 2 or out_length != s * in_length or scale != s or in_length < 4:
        return None
    centre = in_length // 2
    phase_weights = weights[s * centre : s * centre + s]
    offsets = indices[s * centre : s * centre + s].astype(np.int64) - centre
    left, right = max(0, -int(offsets.min())), max(0, int(offsets.max()))
    if left > in_length or right > in_length:
        return None
    i = np.arange(out_length) // s
    p = np.arange(out_length) % s
    expected = mirror_indices(i[:, None] + offsets[p], in_length)
    # The float64 weights repeat with period s up to rounding (exactly for s = 2, 4).
    if not (np.array_equal(expected, indices) and np.allclose(phase_weights[p], weights, rtol=0, atol=1e-12)):
        return None
    return phase_weights.astype(np.float32), offsets + left, left, right


def _upscale_by_phases(image: jax.Array, axis: int, plan) -> jax.Array:
    """Integer upscaling along `axis` with static slices: each output phase is a weighted
    sum of shifted copies of the padded input, and the phases are interleaved. The same
    sums as the gather path, without its gathers (which XLA laid out badly when the
    upsampled image had several consumers: 2x slower restores)."""
    weights, starts, left, right = plan
    n = image.shape[axis]
    pad = [(0, 0)] * image.ndim
    pad[axis] = (left, right)
    padded = jnp.pad(image, pad, mode="symmetric")
    phases = []
    for p in range(weights.shape[0]):
        result = None
        for t in range(weights.shape[1]):
            term = jax.lax.slice_in_dim(padded, int(starts[p, t]), int(starts[p, t]) + n, axis=axis) * weights[p, t]
            result = term if result is None else result + term
        phases.append(result)
    stacked = jnp.stack(phases, axis=axis + 1)
    return stacked.reshape(*image.shape[:axis], n * weights.shape[0], *image.shape[axis + 1 :])


def _resize_axis(image: jax.Array, axis: int, out_length: int, scale: float, antialias: bool) -> jax.Array:
    plan = _phase_plan(image.shape[axis], out_length, scale, antialias)
    if plan is not None:
        return _upscale_by_phases(image, axis, plan)
    weights, indices = resize_weights(image.shape[axis], out_length, scale, antialias)
    weights = weights.astype(np.float32)
    # Broadcast the per-output weights along the axis being resized.
    weight_shape = [1] * image.ndim
    weight_shape[axis] = out_length
    result = None
    for tap in range(weights.shape[1]):
        term = jnp.take(image, jnp.asarray(indices[:, tap]), axis=axis) * jnp.asarray(
            weights[:, tap].reshape(weight_shape)
        )
        result = term if result is None else result + term
    return result


def imresize(
    image: jax.Array,
    *,
    scale: float | None = None,
    antialias: bool = True,
    output_shape: Sequence[int] | None = None,
) -> jax.Array:
    """Resizes an image with MATLAB's bicubic ``imresize``.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` float array (typically float32 in [0, 1];
            any range works, the operation is linear).
        scale: the resize factor (``2``, ``1/3``, ``1.5``, ...), static under ``jit``.
            The output is ``[ceil(H * scale), ceil(W * scale)(, C)]``.
        antialias: when ``scale < 1``, low-pass filter with the stretched kernel, as
            MATLAB does by default.
        output_shape: optional ``(H_out, W_out)``. Without ``scale``, each axis uses
            its own factor ``H_out / H`` and ``W_out / W`` (MATLAB's
            ``imresize(image, [H_out W_out])``). With ``scale`` too, the sampling grid is
            the one of ``scale`` and only the number of samples changes (for callers that
            need an exact size, e.g. when ``ceil`` would give one more row).

    Returns:
        ``[H_out, W_out]`` or ``[H_out, W_out, C]`` float32, not clipped (bicubic
        overshoots the input range near edges).

    Example:
        >>> import jax.numpy as jnp
        >>> imresize(jnp.ones((4, 6, 3)), scale=2).shape
        (8, 12, 3)
    """
    if output_shape is not None:
        output_shape = tuple(int(n) for n in output_shape)
        if len(output_shape) != 2:
            raise ValueError(f"output_shape must be (H_out, W_out), got {output_shape}")
    if scale is not None:
        scale = float(scale)
    return _imresize(image, scale=scale, antialias=bool(antialias), output_shape=output_shape)


@functools.partial(jax.jit, static_argnames=("scale", "antialias", "output_shape"))
def _imresize(image, *, scale, antialias, output_shape):
    image = jnp.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be [H, W] or [H, W, C], got shape {image.shape}")
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"image must be a float array, got dtype {image.dtype}")
    image = image.astype(jnp.float32)
    height, width = image.shape[:2]
    if scale is None and output_shape is None:
        raise ValueError("pass scale= or output_shape=")
    if scale is not None and not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if output_shape is None:
        out_height, out_width = math.ceil(height * scale), math.ceil(width * scale)
        scales = (scale, scale)
    else:
        out_height, out_width = output_shape
        if out_height < 1 or out_width < 1:
            raise ValueError(f"output_shape must be positive, got {output_shape}")
        scales = (scale, scale) if scale is not None else (out_height / height, out_width / width)
    out = _resize_axis(image, 0, out_height, float(scales[0]), antialias)
    return _resize_axis(out, 1, out_width, float(scales[1]), antialias)
