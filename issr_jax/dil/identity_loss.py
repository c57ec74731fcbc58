"""Deep Identity Learning (paper Eq. 6-7): `||K * DRK - I||^2 + R`, as a loss of the DRK.

`I` is the identity of convolution: the unit impulse centred on a canvas large enough to
hold the full convolution `K * DRK` (`k + d - 1` for a `k x k` kernel and a `d x d` DRK).
On a smaller canvas the loss would only see the centre of `K * DRK` and leave its tails
free.

The L-CNN is linear and bias-free, so running it on K gives `K * DRK` exactly, DRK its
impulse response (`impulse_response.impulse_response`). The identity term is then a
quadratic form of the DRK `h` alone:

    ||K * h - I||^2 = h^T C h - 2 b^T h + 1,

`C` the Toeplitz matrix of K's autocorrelation (lags up to `d - 1`) and `b` K's centre,
flipped. An `IdentityTarget` holds `(C, b)` per kernel; a minibatch's mean loss is the
same form with the mean `(C, b)`. The fit computes targets once per gallery and, per Adam
step, composes `h` and evaluates the form: no network on canvases. Any other identity
that is a quadratic form of the DRK fits the same mould (`dil.chain_target`: the whole
blur-subsample-bicubic chain, normalised so that the constant is 1 too).

`dil_objective` is today's formulation, kept as the reference: the network run on K and
on an impulse, each placed on a canvas (the fast loss equals it to float rounding on
canvases of `k + d - 1` or more, `tests/test_lcnn_and_loss.py`), and the objective of a
fit on a smaller canvas, where SAME padding truncates every layer and the network is no
longer `K * DRK`.

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
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

from issr_jax.drk import fast_fft_length

if TYPE_CHECKING:  # flax loads with the L-CNN, not with the package
    import flax.linen as nn

__all__ = [
    "IdentityTarget",
    "LossWeights",
    "centred_impulse",
    "correlation_target",
    "dil_objective",
    "identity_terms",
    "kernel_pinv",
    "kernel_targets",
    "place_on_canvas",
    "target_loss",
    "target_terms",
]


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the regularisers in Eq. 7; the defaults are the paper's (Sec. 4.1)."""

    pinv: float = 0.1
    unity: float = 0.7
    range_scale: float = 0.1


class IdentityTarget(NamedTuple):
    """An identity loss `h^T C h - 2 b^T h + 1` of a `[d, d]` DRK `h`, and `pinv(K)`.

    `C` is Toeplitz (`C[t, t'] = c(t - t')`, `c` a point-symmetric correlation on lags
    `|t - t'| < d`), so `h^T C h = sum_delta c(delta) (h ** h)(delta)` is evaluated in
    Fourier space on an `M x M` grid (`M >= 2d - 1`: `h`'s autocorrelation does not
    wrap): `sum_f w(f) |H(f)|^2`, `H` the real 2-D DFT of `h`, `w` the DFT of `c` with
    the half spectrum's multiplicities and `1 / M^2` folded in (`correlation_target`).
    That is one small FFT per step where the Toeplitz matrix took a `d^2 x d^2` gather.

    Every leaf may carry leading batch axes (a gallery, a minibatch, many images).

    Attributes:
        weights: `[..., M, M // 2 + 1] float32`, `w`.
        cross: `[..., d, d] float32`, `b`.
        pinv: `[..., d, d]` pseudo-inverse of K for `L_pinv`, or None where it is
            undefined (K and the DRK differ in size): the term is then 0.
    """

    weights: jax.Array
    cross: jax.Array
    pinv: jax.Array | None


def correlation_target(correlation: jax.Array, cross: jax.Array, pinv: jax.Array | None = None) -> IdentityTarget:
    """The `IdentityTarget` of `h^T C h - 2 b^T h + 1` from `C`'s correlation.

    Args:
        correlation: `[..., 2d - 1, 2d - 1]`, `c(delta)` at `delta + d - 1` (point-symmetric).
        cross: `[..., d, d]`, `b`.
        pinv: `[..., d, d]` or None (see `IdentityTarget`).
    """
    d = cross.shape[-1]
    size = fast_fft_length(2 * d - 1)
    # c on the periodic grid, lag 0 at index 0; point symmetry makes its DFT real.
    pad = [(0, 0)] * (correlation.ndim - 2) + [(0, size - 2 * d + 1)] * 2
    periodic = jnp.roll(jnp.pad(correlation, pad), (1 - d, 1 - d), axis=(-2, -1))
    spectrum = jnp.fft.rfft2(periodic).real
    multiplicity = jnp.full(size // 2 + 1, 2.0).at[0].set(1.0)
    multiplicity = multiplicity.at[-1].set(1.0) if size % 2 == 0 else multiplicity
    return IdentityTarget(spectrum * multiplicity / size**2, cross, pinv)


def centred_impulse(size: int) -> jax.Array:
    """`[size, size] float32` zeros with a 1 at the centre (odd `size`)."""
    return jnp.zeros((size, size), jnp.float32).at[size // 2, size // 2].set(1.0)


def place_on_canvas(kernel: jax.Array, *, size: int) -> jax.Array:
    """Zero-pads a centred odd `[k, k]` kernel to a centred `[size, size]` canvas."""
    pad = (size - kernel.shape[-1]) // 2
    if pad < 0 or (size - kernel.shape[-1]) % 2:
        raise ValueError(f"cannot centre a {kernel.shape[-1]}-wide kernel on a {size}-wide canvas")
    return jnp.pad(kernel, [(0, 0)] * (kernel.ndim - 2) + [(pad, pad), (pad, pad)])


def kernel_pinv(kernels: jax.Array, *, drk_size: int) -> jax.Array | None:
    """`pinv(K)` of each `[k, k]` kernel of `[N, k, k]` for `L_pinv`, `[N, k, k] float32`,
    or None when `k != drk_size` (the term is then undefined)."""
    kernels = jnp.asarray(kernels, jnp.float32)
    return jax.vmap(jnp.linalg.pinv)(kernels) if kernels.shape[-1] == drk_size else None


def kernel_targets(kernels: jax.Array, *, drk_size: int) -> IdentityTarget:
    """The paper's identity `K * DRK = I` as targets, one per kernel.

    `||K * h - I||^2 = h^T C h - 2 b^T h + 1` with `c` K's autocorrelation and `b` K's
    centre, flipped (`(K * h)` at the centre of the full canvas is `sum_t K[c - t] h[t]`).

    Args:
        kernels: `[N, k, k]` degradation kernels (odd k, centred).
        drk_size: side d of the DRK (odd).

    Returns:
        `IdentityTarget` with leaves `[N, ...]` float32; `pinv` only when `k == d`.
    """
    kernels = jnp.asarray(kernels, jnp.float32)
    k, d = kernels.shape[-1], drk_size
    pinv = kernel_pinv(kernels, drk_size=d)
    if k < d:
        kernels = place_on_canvas(kernels, size=d)
        k = d
    # The autocorrelation by FFT on a grid of at least k + d - 1: lags below d do not wrap.
    grid = fast_fft_length(k + d - 1)
    power = jnp.abs(jnp.fft.rfft2(kernels, s=(grid, grid))) ** 2
    autocorrelation = jnp.fft.irfft2(power, s=(grid, grid))
    correlation = jnp.roll(autocorrelation, (d - 1, d - 1), axis=(-2, -1))[..., : 2 * d - 1, : 2 * d - 1]
    lo = (k - d) // 2
    cross = kernels[:, lo : lo + d, lo : lo + d][:, ::-1, ::-1]
    return correlation_target(correlation, cross, pinv)


def _quadratic_form(drk: jax.Array, weights: jax.Array) -> jax.Array:
    """`h^T C h` from `IdentityTarget.weights` (`[M, M // 2 + 1]`)."""
    size = weights.shape[-2]
    return jnp.sum(weights * jnp.abs(jnp.fft.rfft2(drk, s=(size, size))) ** 2)


def _regulariser_terms(drk: jax.Array, pinv: jax.Array | None) -> dict[str, jax.Array]:
    """`pinv` (`[..., d, d]` or None; averaged over its leading axes), `unity`, `range_scale`."""
    if pinv is None:  # L_pinv compares two matrices: undefined when K and DRK differ in size
        pinv_term = jnp.zeros((), jnp.float32)
    else:
        pinv_term = jnp.mean(jnp.sqrt(jnp.sum((drk - pinv) ** 2, axis=(-2, -1))))
    span = jnp.maximum(jnp.max(drk) - jnp.min(drk), 1e-12)
    return {
        "pinv": pinv_term,
        "unity": jnp.abs(1.0 - jnp.sum(drk)),
        "range_scale": jnp.linalg.norm(drk - (drk - jnp.min(drk)) / span),
    }


def target_terms(drk: jax.Array, targets: IdentityTarget) -> dict[str, jax.Array]:
    """The four terms of Eq. 6-7 for one DRK, averaged over a batch of targets.

    Args:
        drk: `[d, d]`, the L-CNN's impulse response.
        targets: `IdentityTarget` with leaves `[B, ...]`.

    Returns:
        dict of scalars: `identity`, `pinv`, `unity`, `range_scale`.
    """
    weights, cross = jnp.mean(targets.weights, axis=0), jnp.mean(targets.cross, axis=0)
    identity = _quadratic_form(drk, weights) - 2.0 * jnp.sum(cross * drk) + 1.0
    return {"identity": identity, **_regulariser_terms(drk, targets.pinv)}


def _weighted(terms: dict[str, jax.Array], weights: LossWeights) -> jax.Array:
    """Eq. 7. A term of weight 0 is left out, not multiplied by 0: its gradient can be NaN
    (a norm at 0, the range of a constant DRK) and 0 * NaN would poison the step."""
    loss = terms["identity"]
    for name in ("pinv", "unity", "range_scale"):
        if getattr(weights, name):
            loss = loss + getattr(weights, name) * terms[name]
    return loss


def target_loss(
    drk: jax.Array, targets: IdentityTarget, *, weights: LossWeights
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Eq. 7 for a DRK over a batch of targets: `(scalar loss, dict of the batch-mean terms)`."""
    terms = target_terms(drk, targets)
    return _weighted(terms, weights), terms


def identity_terms(response: jax.Array, drk: jax.Array, *, pinv: jax.Array | None) -> dict[str, jax.Array]:
    """The four terms of Eq. 6-7 for one kernel, from the network's output on K (the
    reference formulation).

    Args:
        response: `[c, c]`, the L-CNN applied to K on the canvas, i.e. `K * DRK`.
        drk: `[d, d]`, the L-CNN's impulse response.
        pinv: `[d, d]`, `pinv(K)` for `L_pinv`, or None where it is undefined (`k != d`).

    Returns:
        dict of scalars: `identity`, `pinv`, `unity`, `range_scale`.
    """
    identity = jnp.sum((response - centred_impulse(response.shape[-1])) ** 2)
    return {"identity": identity, **_regulariser_terms(drk, pinv)}


def dil_objective(
    params,
    kernels: jax.Array,
    *,
    model: nn.Module,
    weights: LossWeights,
    canvas_size: int,
    drk_size: int,
    pinv: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean DIL loss over a batch of kernels, computed by running the L-CNN on K (as trained
    in the paper) and on a unit impulse (for the DRK the regularisers see). The reference
    for `target_loss` and the objective on canvases smaller than `k + drk_size - 1`.

    Args:
        params: L-CNN parameters.
        kernels: `[B, k, k]` degradation kernels.
        model: the `LCNN` module.
        weights: regulariser weights.
        canvas_size: side of the canvas (>= k + drk_size - 1 to see all of K * DRK).
        drk_size: side of the DRK (the L-CNN's impulse response).
        pinv: `[B, k, k]`, the kernels' `kernel_pinv` (the fit passes it in: it is a
            constant of the gallery), or None to compute it here (still None when
            `k != drk_size`, where `L_pinv` is undefined).

    Returns:
        (scalar loss, dict of the batch-mean terms).
    """
    pinv = kernel_pinv(kernels, drk_size=drk_size) if pinv is None else pinv
    canvases = place_on_canvas(kernels, size=canvas_size)
    impulse = place_on_canvas(centred_impulse(drk_size), size=canvas_size)
    inputs = jnp.concatenate([canvases, impulse[None]], axis=0)[..., None]
    outputs = model.apply({"params": params}, inputs)[..., 0]
    responses, drk_canvas = outputs[:-1], outputs[-1]
    lo = (canvas_size - drk_size) // 2
    drk = drk_canvas[lo : lo + drk_size, lo : lo + drk_size]
    terms = jax.vmap(lambda response, p: identity_terms(response, drk, pinv=p))(responses, pinv)
    terms = jax.tree.map(jnp.mean, terms)
    return _weighted(terms, weights), terms
