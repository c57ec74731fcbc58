"""Deep Identity Learning of the whole chain: the identity the DRK actually has to meet.

The paper trains the L-CNN so that `K * DRK = I`. After stage 3 the DRK sees

    HR x --blur K--> --keep every s-th pixel--> LR --MATLAB bicubic x s--> u,

so the identity that matters is `DRK * u = x`. Over images with the natural-image prior
of the closed-form design (`restoration.lmmse`), the expected error of a DRK `h`, relative
to the image's variance, is the quadratic form `h^T C h - 2 b^T h + 1`
(`restoration.lmmse.chain_statistics`): an `IdentityTarget` like the paper's, so the same
L-CNN is trained on it with the same Adam and step decay (`dil.fit.fit_targets`). Its
minimiser over all `d x d` kernels is the closed form; the L-CNN reaches it by gradient
descent, as the paper's idea would have it, but on the real chain instead of K alone.
"""

from __future__ import annotations

import jax

from issr_jax.dil.identity_loss import IdentityTarget, correlation_target
from issr_jax.restoration.lmmse import RIDGE, chain_statistics

__all__ = ["chain_targets"]


def chain_targets(kernels, *, scale: int, drk_size: int, ridge: float = RIDGE) -> IdentityTarget:
    """The chain's identity for each kernel, as fit targets.

    Computed in float64 outside `jit` (`chain_statistics`: the prior spans six decades),
    handed to the fit in float32.

    Args:
        kernels: `[..., k, k]` degradation kernels in HR pixels (odd k, sum 1, centred).
        scale: integer SR factor.
        drk_size: side d of the DRK the L-CNN produces.
        ridge: white floor on the upsampled image, relative to its variance (as
            `lmmse_restoration_kernel`'s).

    Returns:
        `IdentityTarget` with leaves `[..., ...]` float32 and no `pinv` (L_pinv compares
        the DRK with K, which the chain's identity does not).
    """
    correlation, cross = chain_statistics(kernels, scale=scale, size=drk_size, ridge=ridge)
    return _as_target(correlation.astype("float32"), cross.astype("float32"))


@jax.jit
def _as_target(correlation: jax.Array, cross: jax.Array) -> IdentityTarget:
    flat = correlation.reshape(-1, *correlation.shape[-2:])
    target = jax.vmap(correlation_target)(flat, cross.reshape(-1, *cross.shape[-2:]))
    return jax.tree.map(lambda leaf: leaf.reshape(*correlation.shape[:-2], *leaf.shape[1:]), target)
