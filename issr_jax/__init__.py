"""issr_jax: ISSR-DIL zero-shot super-resolution (Deep Identity Learning) in JAX.

The pure functions, one module per idea (see docs/architecture.md):

>>> import jax, issr_jax
>>> lr = jax.random.uniform(jax.random.key(0), (24, 24, 3))
>>> issr_jax.super_resolve(lr, scale=2, key=jax.random.key(1)).image.shape
(48, 48, 3)
"""

from issr_jax.batch.chunks import super_resolve_dataset
from issr_jax.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from issr_jax.degradation import Degradation, estimate_degradation
from issr_jax.dil.fit import FitConfig, FitResult, extract_drk, fit_inverse, fit_inverse_batch
from issr_jax.dil.identity_loss import LossWeights, dil_objective
from issr_jax.drk import apply_drk
from issr_jax.kernels.gaussian import gaussian_kernel, kernel_gallery, paper_sigma
from issr_jax.kernels.spectral import estimate_spectral_kernel
from issr_jax.noise.estimate import estimate_luma_noise
from issr_jax.output_size import OutputPlan, SizeRequest, plan_output, super_resolve_to_size
from issr_jax.pipeline import Inverse, SuperResolution, design_inverse, restore, super_resolve
from issr_jax.presets import PRESETS, Preset, get_preset
from issr_jax.resize import imresize
from issr_jax.restoration.denoise import denoise_image
from issr_jax.restoration.lmmse import lmmse_restoration_kernel

__version__ = "0.1.0"


def __getattr__(name: str):
    """`issr_jax.LCNN` imports flax on first use: the default preset never needs it."""
    if name == "LCNN":
        from issr_jax.dil.lcnn import LCNN

        return LCNN
    raise AttributeError(f"module 'issr_jax' has no attribute {name!r}")


__all__ = [
    "FitConfig",
    "Inverse",
    "Degradation",
    "denoise_image",
    "estimate_spectral_kernel",
    "estimate_degradation",
    "estimate_luma_noise",
    "design_inverse",
    "lmmse_restoration_kernel",
    "FitResult",
    "LCNN",
    "LossWeights",
    "OutputPlan",
    "PRESETS",
    "Preset",
    "SizeRequest",
    "SuperResolution",
    "apply_drk",
    "dil_objective",
    "extract_drk",
    "fit_inverse",
    "fit_inverse_batch",
    "gaussian_kernel",
    "get_preset",
    "imresize",
    "kernel_gallery",
    "paper_sigma",
    "plan_output",
    "restore",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "super_resolve",
    "super_resolve_dataset",
    "super_resolve_to_size",
    "ycbcr_to_rgb",
]
