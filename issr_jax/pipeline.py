"""The whole method for one image in three stages, each with one implementation.

    1. estimate:  LR image --> blur and noise (`Degradation`)      (`degradation.estimate_degradation`)
    2. invert:    Degradation --> restoration kernel (DRK)       (`design_inverse`)
    3. restore:   LR --denoise--> --MATLAB bicubic x s--> * DRK --> SR   (`restore`)

Stage 1 reads only the estimator's settings; stage 2 takes what it needs from stage 1's
output (`design_gallery` for the identity fits). Stage 2 works in kernel space only, at fixed shapes, so many
images' inverses are designed in one batched call (`design_inverse_batch`). Stage 3 is
one frame (`restore_with`: bicubic, luma, clip) around one dispatch on the method
(`restoration`); the batched, tiled and multi-device paths of `issr_jax.batch` call
both, on other shapes. The PRNG key is split into the stages' keys by `stage_keys`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from issr_jax.color import rgb_to_ycbcr, ycbcr_to_rgb
from issr_jax.degradation import Degradation, estimate_degradation, mean_kernel
from issr_jax.dil.chain_target import chain_targets
from issr_jax.dil.fit import FitResult, fit_targets, fit_targets_batch, gallery_targets
from issr_jax.drk import apply_drk
from issr_jax.presets import Preset, get_preset
from issr_jax.resize import imresize
from issr_jax.restoration.denoise import denoise_image
from issr_jax.restoration.lmmse import lmmse_restoration_kernel

__all__ = [
    "METHODS",
    "Inverse",
    "SuperResolution",
    "checked_image",
    "checked_preset",
    "design_gallery",
    "design_inverse",
    "design_inverse_batch",
    "fit_gallery",
    "fit_gallery_batch",
    "restoration",
    "restore",
    "restore_with",
    "stage_keys",
    "super_resolve",
    "validate_image",
]

METHODS = ("drk", "lcnn")
MIN_SIDE = 16  # smallest LR side the estimators and a 21x21 inverse make sense on
# Method "lcnn" holds the network's 32-channel activations for the whole output: about
# 1.2 KB per output pixel (measured 1.9 GiB peak at 1024 x 1024; DIV2KRK's 2040 x 1356
# needs ~3.3 GB). It is refused where method "drk", the same linear map, switches to
# tiles (4096 x 4096, ~20 GB for the network).
LCNN_MAX_OUTPUT_PIXELS = 4096 * 4096


class Inverse(NamedTuple):
    """What stage 3 applies: a restoration kernel, the noise to remove first, and, for
    the identity fit, the L-CNN the kernel came from.

    Attributes:
        drk: `[d, d] float32`, applied by true convolution after bicubic upsampling.
        fit: `FitResult` (L-CNN parameters, losses) for the fitted inverses, else None.
        denoise: scalar, the luma noise (8-bit levels) removed from the LR image before
            upsampling (presets with `denoise`; 0 leaves the image as it is).
    """

    drk: jax.Array
    fit: FitResult | None
    denoise: jax.Array | float = 0.0


class SuperResolution(NamedTuple):
    """The result for one image.

    Attributes:
        image: `[s*H, s*W, C] float32` in [0, 1], the super-resolved image.
        kernel: `[k, k] float32`, the degradation kernel the inverse was designed for
            (for several explanations, their weighted mean: `degradation.mean_kernel`).
        drk: `[d, d] float32`, the restoration kernel.
        fit: the L-CNN fit (`FitResult`) for the fitted inverses, else None.
        degradation: stage 1's `Degradation` (the explanations, their weights, the noise).
    """

    image: jax.Array
    kernel: jax.Array
    drk: jax.Array
    fit: FitResult | None
    degradation: Degradation | None = None


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


def checked_image(image, *, scale: int):
    """`[H, W, C] float32`, checked by `validate_image`: NumPy stays NumPy (no JAX call per
    image shape, for the batched paths), anything else becomes a `jax.Array`."""
    xp = np if isinstance(image, np.ndarray) else jnp
    image = xp.asarray(image)
    validate_image(image.shape, image.dtype, scale)
    image = image[..., None] if image.ndim == 2 else image
    return image.astype(np.float32, copy=False) if xp is np else image.astype(jnp.float32)


def stage_keys(key: jax.Array, *, preset: Preset) -> tuple[jax.Array, jax.Array]:
    """`(estimate_key, inverse_key)`: the key split between the two random stages.

    The closed forms (spectral estimate, LMMSE design) take no key; when neither stage is
    random the key is passed through unsplit, since a split would cost a compile and
    change nothing.
    """
    if preset.estimator == "paper" or preset.fits:
        estimate_key, inverse_key = jax.random.split(key)
        return estimate_key, inverse_key
    return key, key


def design_gallery(kernels: jax.Array, *, preset: Preset) -> jax.Array:
    """Stage 1's `[..., N, k, k]` kernels as the identity fits consume them: they train on
    minibatches of a `preset.num_kernels` gallery, so a single kernel is repeated to that
    size; otherwise the kernels are returned as they are."""
    if preset.fits and kernels.shape[-3] == 1:
        return jnp.broadcast_to(kernels, (*kernels.shape[:-3], preset.num_kernels, *kernels.shape[-2:]))
    return kernels


def design_inverse(degradation: Degradation, *, scale: int, key: jax.Array, preset: Preset) -> Inverse:
    """Stage 2: what restores an image degraded as `degradation`.

    Args:
        degradation: from `degradation.estimate_degradation` (N explanations).
        scale: integer SR factor.
        key: PRNG key (initial L-CNN weights and minibatch order of the identity fit).
        preset: `preset.inverse` picks the identity fit (of K or of the chain) or the
            closed form; `preset.denoise` whether stage 3 removes the noise first.

    Returns:
        `Inverse`.
    """
    if preset.fits:
        kernels = design_gallery(jnp.asarray(degradation.kernels), preset=preset)
        fit = fit_targets(fit_gallery(kernels, scale=scale, preset=preset), key=key, config=preset.fit)
        return Inverse(fit.drk, fit, np.float32(0.0))
    return _closed_form(degradation, scale=scale, preset=preset)


def _closed_form(degradation: Degradation, *, scale: int, preset: Preset) -> Inverse:
    """The LMMSE design for the mixture of explanations (any leading batch axes), with a
    white floor for what the model leaves out (`preset.model_floor` of the prior's
    level) plus the noise the restoration still sees: all of it, or after denoising
    the `preset.denoise_residual` part of its standard deviation."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in degradation):
        raise TypeError("the closed-form design solves in float64 and cannot be traced: call it outside jit")
    weights, amplitudes = np.asarray(degradation.weights, np.float64), np.asarray(degradation.amplitudes, np.float64)
    noise = np.asarray(degradation.noise, np.float64)
    residual = preset.denoise_residual if preset.denoise else 1.0
    floor = preset.model_floor * np.sum(weights * amplitudes, axis=-1) + np.square(residual * noise)
    drk = lmmse_restoration_kernel(
        degradation.kernels,
        scale=scale,
        weights=weights,
        prior_slope=degradation.slopes,
        amplitude=amplitudes,
        noise=floor,
    )
    denoise = noise.astype(np.float32) if preset.denoise else np.zeros_like(noise, np.float32)
    return Inverse(drk, None, denoise)


def fit_gallery(kernels, *, scale: int, preset: Preset):
    """What the identity fit trains on, for galleries `[..., N, k, k]`: the paper's
    targets (`"dil"`: `dil.fit.gallery_targets`) or the chain's (`"dil_chain"`, computed
    in float64, so outside `jit`: `dil.chain_target.chain_targets`). All the fit's
    linear algebra is here, outside the fit loop that `batch.chunks` splits over devices."""
    if preset.inverse == "dil_chain":
        return chain_targets(kernels, scale=scale, drk_size=preset.fit.drk_size)
    return gallery_targets(kernels, config=preset.fit)


def fit_gallery_batch(gallery, *, keys: jax.Array, preset: Preset) -> Inverse:
    """The identity fits of many images from `fit_gallery`'s output (leading axis B),
    `jit(vmap)`; traceable, so that `batch.chunks` can split it over devices."""
    fit = fit_targets_batch(gallery, key=keys, config=preset.fit)
    return Inverse(fit.drk, fit, jnp.zeros(fit.drk.shape[:-2], jnp.float32))


def design_inverse_batch(degradations: Degradation, *, scale: int, keys: jax.Array, preset: Preset) -> Inverse:
    """`design_inverse` for many images in one call (`jit(vmap)` for the identity fit).

    Args:
        degradations: `Degradation` whose leaves have a leading axis B; keys: `[B]` PRNG
            keys (the closed form takes none: None is accepted there).

    Returns:
        `Inverse` whose leaves have a leading axis B.
    """
    if preset.fits:
        kernels = design_gallery(degradations.kernels, preset=preset)
        return fit_gallery_batch(fit_gallery(kernels, scale=scale, preset=preset), keys=keys, preset=preset)
    return _closed_form(degradations, scale=scale, preset=preset)


def restoration(inverse: Inverse, *, method: str, preset: Preset | None) -> Callable[[jax.Array], jax.Array]:
    """Stage 3's one dispatch: the map from upsampled planes `[H, W, C]` to restored ones.

    Every path (one image, bucket canvases, tiles, devices) restores through the map
    returned here, so a new restoration is added in this one place.

    Args:
        inverse: from `design_inverse` (`inverse.fit` is needed for method "lcnn" only).
        method: `"drk"` convolves with the DRK (FFT); `"lcnn"` runs the L-CNN itself.
        preset: the settings (for the L-CNN's shape; unused for `"drk"`).
    """
    if method == "drk":
        return lambda planes: apply_drk(planes, inverse.drk)

    def network(planes):
        channels_first = jnp.moveaxis(planes, -1, 0)[..., None]  # [C, H, W, 1]
        out = preset.fit.model.apply({"params": inverse.fit.params}, channels_first)
        return jnp.moveaxis(out[..., 0], 0, -1)

    return network


def restore_with(
    image: jax.Array,
    restore_planes: Callable[[jax.Array], jax.Array],
    *,
    scale: int,
    color: str,
    denoise: jax.Array | None = None,
) -> jax.Array:
    """Stage 3's frame: the LR image denoised (`restoration.denoise.denoise_image`, when
    `denoise` is given), MATLAB bicubic upsampling, `restore_planes` on the BT.601 luma
    (`color="y"`, RGB input; bicubic chroma kept) or on every channel, then clipping.

    Args:
        image: `[H, W, C] float32` in [0, 1].
        restore_planes: `[sH, sW, C'] -> [sH, sW, C']`, usually from `restoration`.
        scale: integer upscaling factor.
        color: `"y"` or `"rgb"`.
        denoise: None, or the luma noise to remove (scalar, 8-bit levels: `Inverse.denoise`).

    Returns:
        `[scale*H, scale*W, C] float32`, clipped to [0, 1].
    """
    if denoise is not None:
        image = denoise_image(image, denoise)
    upsampled = imresize(image, scale=scale)
    use_luma = color == "y" and image.shape[-1] == 3
    planes = rgb_to_ycbcr(upsampled)[..., :1] if use_luma else upsampled
    restored = restore_planes(planes)
    if use_luma:
        restored = ycbcr_to_rgb(jnp.concatenate([restored, rgb_to_ycbcr(upsampled)[..., 1:]], axis=-1))
    return jnp.clip(restored, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("scale", "color", "method", "preset"))
def restore(image: jax.Array, inverse: Inverse, *, scale: int, color: str, method: str, preset: Preset) -> jax.Array:
    """Stage 3 for one image: `restore_with` around `restoration`.

    Args:
        image: `[H, W, C] float32` in [0, 1].
        inverse: from `design_inverse`.
        scale: integer upscaling factor.
        color: `"y"` restores BT.601 luma only (bicubic chroma); `"rgb"` every channel.
        method: `"drk"` or `"lcnn"` (needs `inverse.fit`; outputs up to
            `LCNN_MAX_OUTPUT_PIXELS`).
        preset: the settings (for the L-CNN's shape).

    Returns:
        `[scale*H, scale*W, C] float32`, clipped to [0, 1].
    """
    if method == "lcnn" and image.shape[0] * image.shape[1] * scale * scale > LCNN_MAX_OUTPUT_PIXELS:
        raise ValueError(
            f"method 'lcnn' runs the network on the whole {scale * image.shape[1]}x{scale * image.shape[0]} output "
            f"(about 1.2 KB of memory per pixel; at most {LCNN_MAX_OUTPUT_PIXELS} pixels); "
            "use method 'drk', the same linear map"
        )
    denoise = inverse.denoise if preset.denoise else None
    return restore_with(
        image, restoration(inverse, method=method, preset=preset), scale=scale, color=color, denoise=denoise
    )


def checked_preset(preset: str | Preset, *, method: str) -> Preset:
    """The `Preset` named by `preset`, checked against `method` (ValueError if they clash)."""
    preset = get_preset(preset)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "lcnn" and not preset.fits:
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
    noise: float | None = None,
    jpeg_table: np.ndarray | None = None,
) -> SuperResolution:
    """Super-resolves one image from itself alone (or from a supplied kernel).

    Args:
        image: `[H, W]` or `[H, W, C] float` in [0, 1], C in {1, 3}, sides >= 16.
        scale: integer factor >= 2.
        key: PRNG key (used by the paper's random gallery and L-CNN fit).
        preset: a name in `presets.PRESETS` (`"default"`, `"fast"`, `"paper"`, ...) or a
            `Preset`.
        method: `"drk"` (convolve with the restoration kernel) or `"lcnn"` (run the
            network; identity-fit presets only).
        kernel: optional `[k, k]` degradation kernel (HR pixels, odd k) to use instead of
            estimating one.
        noise: the standard deviation of the noise in each channel, in 8-bit levels
            (0: the image is clean), or None to measure it; presets without a noise model
            (`fast`, `paper`) accept only None or 0.
        jpeg_table: None, or the `[8, 8]` luma quantisation table of the JPEG the image
            was decoded from (`io.read_image` gives it): the compression is then measured
            and treated as noise (presets with a noise model).

    Returns:
        `SuperResolution` with the `[scale*H, scale*W, C]` image in [0, 1].

    Example:
        >>> import jax
        >>> lr = jax.random.uniform(jax.random.key(0), (24, 24, 3))
        >>> super_resolve(lr, scale=2, key=jax.random.key(1)).image.shape
        (48, 48, 3)
    """
    preset = checked_preset(preset, method=method)
    image = checked_image(jnp.asarray(image), scale=scale)
    estimate_key, inverse_key = stage_keys(key, preset=preset)
    degradation = estimate_degradation(
        image, scale=scale, key=estimate_key, preset=preset, noise=noise, kernel=kernel, jpeg_table=jpeg_table
    )
    inverse = design_inverse(degradation, scale=scale, key=inverse_key, preset=preset)
    out = restore(image, inverse, scale=scale, color=preset.color, method=method, preset=preset)
    return SuperResolution(out, jnp.asarray(mean_kernel(degradation)), inverse.drk, inverse.fit, degradation)
