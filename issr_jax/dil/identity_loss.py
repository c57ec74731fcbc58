"""Deep Identity Learning (paper Eq. 6-7): `||K * DRK - I||^2 + R`.

`I` is the identity of convolution: the unit impulse centred on a canvas large enough to
hold the full convolution `K * DRK` (`k + d - 1` for a `k x k` kernel and a `d x d` DRK).
On a smaller canvas the loss would only see the centre of `K * DRK` and leave its tails
free.

The regulariser `R = w_pinv L_pinv + w_unity L_unity + w_rs L_rs`:
- `L_pinv = ||DRK - pinv(K)||_F`, `pinv` the Moore-Penrose pseudo-inverse of K read as a
    matrix (the paper's definition; it is not a convolution inverse, see Table 4), with
  `jnp.linalg.pinv`'s float32 cut-off (singular values below `10 * k * eps` of the
  largest are dropped, as in PyTorch's `pinv`).
- `L_unity = |1 - sum(DRK)|`, the DRK preserves the mean.
- `L_rs = ||DRK - minmax_normalise(DRK)||_F`, the "range" term.
A weight of 0 switches a term off.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:  # flax loads with the L-CNN, not with the package
    import flax.linen as nn

__all__ = ["LossWeights", "centred_impulse", "place_on_canvas", "identity_terms", "dil_objective"]


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the regularisers in Eq. 7; the defaults are the paper's (Sec. 4.1)."""

    pinv: float = 0.1
    unity: float = 0.7
    range_scale: float = 0.1


def centred_impulse(size: int) -> jax.Array:
    """`[size, size] float32` zeros with a 1 at the centre (odd `size`)."""
    return jnp.zeros((size, size), jnp.float32).at[size // 2, size // 2].set(1.0)


def place_on_canvas(kernel: jax.Array, *, size: int) -> jax.Array:
    """Zero-pads a centred odd `[k, k]` kernel to a centred `[size, size]` canvas."""
    pad = (size - kernel.shape[-1]) // 2
    if pad < 0 or (size - kernel.shape[-1]) % 2:
        raise ValueError(f"cannot centre a {kernel.shape[-1]}-wide kernel on a {size}-wide canvas")
    return jnp.pad(kernel, [(0, 0)] * (kernel.ndim - 2) + [(pad, pad), (pad, pad)])


def identity_terms(response: jax.Array, drk: jax.Array, kernel: jax.Array) -> dict[str, jax.Array]:
    """The four terms of Eq. 6-7 for one kernel.

    Args:
        response: `[c, c]`, the L-CNN applied to K on the canvas, i.e. `K * DRK`.
        drk: `[d, d]`, the L-CNN's impulse response.
        kernel: `[k, k]`, the degradation kernel K (for `L_pinv`; needs `k == d`).

    Returns:
        dict of scalars: `identity`, `pinv`, `unity`, `range_scale`.
    """
    identity = jnp.sum((response - centred_impulse(response.shape[-1])) ** 2)
    if kernel.shape == drk.shape:
        pinv = jnp.linalg.norm(drk - jnp.linalg.pinv(kernel))
    else:  # L_pinv compares two matrices: undefined when K and DRK differ in size
        pinv = jnp.zeros((), jnp.float32)
    unity = jnp.abs(1.0 - jnp.sum(drk))
    span = jnp.maximum(jnp.max(drk) - jnp.min(drk), 1e-12)
    range_scale = jnp.linalg.norm(drk - (drk - jnp.min(drk)) / span)
    return {"identity": identity, "pinv": pinv, "unity": unity, "range_scale": range_scale}


def dil_objective(
    params, kernels: jax.Array, *, model: nn.Module, weights: LossWeights, canvas_size: int, drk_size: int
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean DIL loss over a batch of kernels, computed by running the L-CNN on K (as trained
    in the paper) and on a unit impulse (for the DRK the regularisers see).

    Args:
        params: L-CNN parameters.
        kernels: `[B, k, k]` degradation kernels.
        model: the `LCNN` module.
        weights: regulariser weights.
        canvas_size: side of the canvas (>= k + drk_size - 1 to see all of K * DRK).
        drk_size: side of the DRK (the L-CNN's impulse response).

    Returns:
        (scalar loss, dict of the batch-mean terms).
    """
    canvases = place_on_canvas(kernels, size=canvas_size)
    impulse = place_on_canvas(centred_impulse(drk_size), size=canvas_size)
    inputs = jnp.concatenate([canvases, impulse[None]], axis=0)[..., None]
    outputs = model.apply({"params": params}, inputs)[..., 0]
    responses, drk_canvas = outputs[:-1], outputs[-1]
    lo = (canvas_size - drk_size) // 2
    drk = drk_canvas[lo : lo + drk_size, lo : lo + drk_size]
    terms = jax.vmap(identity_terms, in_axes=(0, None, 0))(responses, drk, kernels)
    terms = jax.tree.map(jnp.mean, terms)
    loss = (
        terms["identity"]
        + weights.pinv * terms["pinv"]
        + weights.unity * terms["unity"]
        + weights.range_scale * terms["range_scale"]
    )
    return loss, terms
