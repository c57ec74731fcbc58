"""The whole method for one image, and for many at once, in three stages.

    1. estimate:  LR image --> kernel(s) K                  (`estimate_kernels`)
    2. invert:    K --> restoration kernel (DRK)            (`design_inverse`)
    3. restore:   LR --MATLAB bicubic x s--> * DRK --> SR   (`restore`)

Stages 1 and 3 work on the image; stage 2 works in kernel space only, at fixed shapes, so
many images' inverses are designed in one batched call (`design_inverse_batch`; the
batched path over many images is `issr_jax.dataset.super_resolve_dataset`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.kernels import gaussian as kernels_lib
from issr_jax.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from issr_jax.drk import apply_drk
from issr_jax.dil.fit import FitResult, fit_inverse, fit_inverse_batch
from issr_jax.kernels.spectral import estimate_kernel
from issr_jax.presets import Preset, get_preset
from issr_jax.resize import imresize
from issr_jax.restoration.lmmse import lmmse_restoration_kernel

__all__ = [
    "METHODS",
    "Inverse",
    "SuperResolution",
    "estimate_kernels",
    "design_inverse",
    "design_inverse_batch",
    "restore",
    "super_resolve",
    "as_gallery",
    "checked_preset",
]

METHODS = ("drk", "lcnn")
MIN_SIDE = 16  # smallest LR side the estimators and a 21x21 inverse make sense on
# Method "lcnn" holds the network's 32-channel activations for the whole output: about
# 1.2 KB per output pixel (measured 1.9 GiB peak at 1024 x 1024; DIV2KRK's 2040 x 1356
# needs ~3.3 GB). It is refused where method "drk", the same linear map, switches to
# tiles (4096 x 4096, ~20 GB for the network).
LCNN_MAX_OUTPUT_PIXELS = 4096 * 4096


class Inverse(NamedTuple):
    """A restoration kernel and, for the identity fit, the L-CNN it came from.

    Attributes:
      drk: `[d, d] float32`, applied by true convolution after bicubic upsampling.
      fit: `FitResult` (L-CNN parameters, losses) for `inverse="dil"`, else None.
    """

    drk: jax.Array
    fit: FitResult | None


class SuperResolution(NamedTuple):
    """The result for one image.

    Attributes:
      image: `[s*H, s*W, C] float32` in [0, 1], the super-resolved image.
      kernel: `[k, k] float32`, the degradation kernel the inverse was designed for (for
        the paper's gallery, the gallery's mean).
      drk: `[d, d] float32`, the restoration kernel.
      fit: the L-CNN fit (`FitResult`) for `inverse="dil"`, else None.
    """

    image: jax.Array
    kernel: jax.Array
    drk: jax.Array
    fit: FitResult | None


def validate_image(shape: tuple[int, ...], dtype, scale: int) -> None:
    """Raises a clear ValueError/TypeError unless an image of this shape and dtype can be
    super-resolved by `scale` (`[H, W]` or `[H, W, C]`, C in {1, 3}, float, sides >= 16)."""
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, 3)):
        raise ValueError(f"image must be [H, W], [H, W, 1] or [H, W, 3], got shape {tuple(shape)}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"image must be float in [0, 1], got dtype {dtype}")
    if min(shape[:2]) < MIN_SIDE:
        raise ValueError(f"image is {shape[1]}x{shape[0]} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")


def _check_image(image: jax.Array, scale: int) -> jax.Array:
    image = jnp.asarray(image)
    validate_image(image.shape, image.dtype, scale)
    return (image[..., None] if image.ndim == 2 else image).astype(jnp.float32)


def _luminance(image: jax.Array) -> jax.Array:
    """`[H, W]`: BT.601 Y of an RGB image, the values of a gray one."""
    return rgb_to_y(image) if image.shape[-1] == 3 else image[..., 0]


def estimate_kernels(image: jax.Array, *, scale: int, key: jax.Array, preset: Preset) -> jax.Array:
    """Stage 1: the kernels the inverse is designed for, from the LR image alone.

    Args:
      image: `[H, W, C] float32` in [0, 1], the LR image.
      scale: integer SR factor.
      key: PRNG key (the paper's gallery is random).
      preset: `preset.estimator` picks the estimator.

    Returns:
      `[N, k, k] float32`: the paper's gallery (N = `preset.num_kernels`, k =
      `preset.kernel_size`), or the spectral estimate (k = 10 s + 1), once for the
      closed-form inverse and repeated `num_kernels` times for the identity fit.
    """
    if preset.estimator == "paper":
        return kernels_lib.kernel_gallery(
            _luminance(image),
            key=key,
            num_kernels=preset.num_kernels,
            size=preset.kernel_size,
            delta_range=preset.delta_range,
            pixel_scale=preset.pixel_scale,
        )
    return as_gallery(estimate_kernel(_luminance(image), scale=scale), preset=preset)


def as_gallery(kernel: jax.Array, *, preset: Preset) -> jax.Array:
    """A supplied `[k, k]` kernel (normalised to sum 1) as the `[N, k, k]` input of
    `design_inverse`: N = 1 for the closed form, `preset.num_kernels` for the fit."""
    kernel = jnp.asarray(kernel, jnp.float32)
    kernel = kernel / jnp.sum(kernel)
    count = preset.num_kernels if preset.inverse == "dil" else 1
    return jnp.broadcast_to(kernel, (count, *kernel.shape))


def design_inverse(kernels: jax.Array, *, scale: int, key: jax.Array, preset: Preset) -> Inverse:
    """Stage 2: the restoration kernel for a set of degradation kernels.

    Args:
      kernels: `[N, k, k]` from `estimate_kernels` (or a supplied kernel repeated).
      scale: integer SR factor.
      key: PRNG key (initial L-CNN weights and minibatch order of the identity fit).
      preset: `preset.inverse` picks the identity fit or the closed form.

    Returns:
      `Inverse`.
    """
    if preset.inverse == "dil":
        fit = fit_inverse(kernels, key=key, config=preset.fit)
        return Inverse(fit.drk, fit)
    return Inverse(lmmse_restoration_kernel(_mean_kernel(kernels, axis=0), scale=scale), None)


def design_inverse_batch(kernels: jax.Array, *, scale: int, keys: jax.Array, preset: Preset) -> Inverse:
    """`design_inverse` for many images in one call (`jit(vmap)` for the identity fit).

    Args:
      kernels: `[B, N, k, k]`; keys: `[B]` PRNG keys (the closed form takes none:
        None is accepted there).

    Returns:
      `Inverse` whose leaves have a leading axis B.
    """
    if preset.inverse == "dil":
        fit = fit_inverse_batch(kernels, key=keys, config=preset.fit)
        return Inverse(fit.drk, fit)
    return Inverse(lmmse_restoration_kernel(_mean_kernel(kernels, axis=1), scale=scale), None)


def _mean_kernel(kernels, *, axis: int):
    """The gallery's mean for the closed form, in NumPy float64 (an eager `jnp.mean` would
    compile a program per shape); a traced gallery passes through, so that
    `lmmse_restoration_kernel` can refuse it with its own message."""
    if isinstance(kernels, jax.core.Tracer):
        return jnp.mean(kernels, axis=axis)
    return np.mean(np.asarray(kernels, np.float64), axis=axis)


@functools.partial(jax.jit, static_argnames=("scale", "color", "method", "preset"))
def restore(image: jax.Array, inverse: Inverse, *, scale: int, color: str, method: str, preset: Preset) -> jax.Array:
    """Stage 3: MATLAB bicubic upsampling, then the inverse.

    Args:
      image: `[H, W, C] float32` in [0, 1].
      inverse: from `design_inverse`.
      scale: integer upscaling factor.
      color: `"y"` restores BT.601 luma only (bicubic chroma); `"rgb"` every channel.
      method: `"drk"` convolves with the DRK (FFT); `"lcnn"` runs the L-CNN itself
        (needs `inverse.fit`; outputs up to `LCNN_MAX_OUTPUT_PIXELS`).
      preset: the settings (for the L-CNN's shape).

    Returns:
      `[scale*H, scale*W, C] float32`, clipped to [0, 1].
    """
    if method == "lcnn" and image.shape[0] * image.shape[1] * scale * scale > LCNN_MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"method 'lcnn' runs the network on the whole {scale * image.shape[1]}x{scale * image.shape[0]} output "
            f"(about 1.2 KB of memory per pixel; at most {LCNN_MAX_OUTPUT_PIXELS} pixels); use method 'drk', the same linear map"
        )
    upsampled = imresize(image, scale=scale)
    use_luma = color == "y" and image.shape[-1] == 3
    planes = rgb_to_ycbcr(upsampled)[..., :1] if use_luma else upsampled
    if method == "drk":
        restored = apply_drk(planes, inverse.drk)
    else:
        channels_first = jnp.moveaxis(planes, -1, 0)[..., None]  # [C, H, W, 1]
        out = preset.fit.model.apply({"params": inverse.fit.params}, channels_first)
        restored = jnp.moveaxis(out[..., 0], 0, -1)
    if use_luma:
        restored = ycbcr_to_rgb(jnp.concatenate([restored, rgb_to_ycbcr(upsampled)[..., 1:]], axis=-1))
    return jnp.clip(restored, 0.0, 1.0)


def checked_preset(preset: str | Preset, *, method: str) -> Preset:
    """The `Preset` named by `preset`, checked against `method` (ValueError if they clash)."""
    preset = get_preset(preset)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "lcnn" and preset.inverse != "dil":
        raise ValueError(
            f"method 'lcnn' runs the fitted L-CNN, but preset {preset.name!r} designs its DRK in closed form; "
            "use method 'drk' or a preset with inverse='dil' (e.g. 'paper')"
        )
    return preset


def super_resolve(
    image: jax.Array,
    *,
    scale: int,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: jax.Array | None = None,
) -> SuperResolution:
    """Super-resolves one image from itself alone (or from a supplied kernel).

    Args:
      image: `[H, W]` or `[H, W, C] float` in [0, 1], C in {1, 3}, sides >= 16.
      scale: integer factor >= 2.
      key: PRNG key (used by the paper's random gallery and L-CNN fit).
      preset: `"default"`, `"paper"`, `"paper_literal"` or a `Preset`.
      method: `"drk"` (convolve with the restoration kernel) or `"lcnn"` (run the
        network; identity-fit presets only).
      kernel: optional `[k, k]` degradation kernel (HR pixels, odd k) to use instead of
        estimating one.

    Returns:
      `SuperResolution` with the `[scale*H, scale*W, C]` image in [0, 1].

    Example:
      >>> import jax
      >>> lr = jax.random.uniform(jax.random.key(0), (24, 24, 3))
      >>> super_resolve(lr, scale=2, key=jax.random.key(1)).image.shape
      (48, 48, 3)
    """
    preset = checked_preset(preset, method=method)
    image = _check_image(image, scale)
    estimate_key, inverse_key = jax.random.split(key)
    if kernel is None:
        kernels = estimate_kernels(image, scale=scale, key=estimate_key, preset=preset)
    else:
        kernels = as_gallery(kernel, preset=preset)
    inverse = design_inverse(kernels, scale=scale, key=inverse_key, preset=preset)
    out = restore(image, inverse, scale=scale, color=preset.color, method=method, preset=preset)
    return SuperResolution(out, jnp.mean(kernels, axis=0), inverse.drk, inverse.fit)
