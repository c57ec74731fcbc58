"""The L-CNN's impulse response (the DRK) composed from its filters, without running it.

The L-CNN is a stack of linear, bias-free SAME correlations, so its response to a
centred unit impulse is built layer by layer on supports that grow by `k - 1` per layer
(3, 5, 7, 9, 11 for five 3x3 layers): exactly what the network computes on an impulse
canvas, minus the zeros. Meet in the middle halves the work again: the first layers are
composed forward from the input (a `[m, m, C]` response), the last ones backward from the
output (the transposed network run on an impulse), and the two halves are combined once.
For the paper's 5 x 32-channel network that is about 0.4 M multiply-adds, against 3.4 M
for the network on an 11x11 impulse canvas and 110 M for one evaluation of the reference
`identity_loss.dil_objective` (nine 21x21 canvases through the network).

Each layer is one matrix product over channels (all positions times all taps at once),
then a shift-and-add that places each tap's products. The gradient is written by hand
(`jax.custom_vjp`): differentiated automatically, the same products came out as batched
matrix products on transposed operands plus copies, about 3x slower on XLA:CPU for a
batch of 100 fits; by hand every product reads the filters in their stored layout or
one transposed copy, and the shift-and-add's transpose is the matching slices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["impulse_response"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _place(products: jax.Array) -> jax.Array:
    """`[m, m, f, f, D]` products of each position `a` with each tap `i` -> `[m + f - 1,
    m + f - 1, D]`, the product landing at `a + (f - 1) - i` (a SAME correlation on a
    canvas grown by `f - 1`)."""
    f = products.shape[2]
    return sum(
        jnp.pad(products[:, :, i, j], ((f - 1 - i, i), (f - 1 - j, j), (0, 0))) for i in range(f) for j in range(f)
    )


def _unplace(grad: jax.Array, m: int, f: int) -> jax.Array:
    """The transpose of `_place`: `[m + f - 1, m + f - 1, D] -> [m, m, f, f, D]`."""
    rows = [
        jnp.stack([grad[f - 1 - i : f - 1 - i + m, f - 1 - j : f - 1 - j + m] for j in range(f)], axis=2)
        for i in range(f)
    ]
    return jnp.stack(rows, axis=2)


def _matrix(filters: jax.Array, transposed: bool) -> jax.Array:
    """The filters as the matrix a layer multiplies by: `[(f f C), D]` as stored when
    the layer is run transposed (contracting D), else `[C, (f f D)]` (a copy)."""
    if transposed:
        return filters.reshape(-1, filters.shape[-1])
    return jnp.transpose(filters, (2, 0, 1, 3)).reshape(filters.shape[2], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _grow(response: jax.Array, filters: jax.Array, transposed: bool) -> jax.Array:
    """One more layer on a response.

    Args:
        response: `[m, m, K]`, what the layers so far give on a centred impulse.
        filters: `[f, f, C, D]` of a SAME correlation from C to D channels.
        transposed: False: the layer as it is (K = C, out D); True: the layer with its
            channels swapped, as the backward half needs it (K = D, out C).

    Returns:
        `[m + f - 1, m + f - 1, out]`: the same layers plus this one, nothing cut off.
    """
    return _grow_forward(response, filters, transposed)[0]


def _grow_forward(response, filters, transposed):
    m, f = response.shape[0], filters.shape[0]
    matrix = _matrix(filters, transposed)
    flat = response.reshape(m * m, -1)
    products = jnp.matmul(flat, matrix.T if transposed else matrix, precision=_HIGHEST)
    return _place(products.reshape(m, m, f, f, -1)), (response, filters)


def _grow_backward(transposed, residuals, grad):
    response, filters = residuals
    m, f = response.shape[0], filters.shape[0]
    matrix = _matrix(filters, transposed)
    grad_products = _unplace(grad, m, f).reshape(m * m, -1)
    flat = response.reshape(m * m, -1)
    grad_response = jnp.matmul(grad_products, matrix if transposed else matrix.T, precision=_HIGHEST)
    if transposed:
        grad_filters = jnp.matmul(grad_products.T, flat, precision=_HIGHEST).reshape(filters.shape)
    else:
        grad_matrix = jnp.matmul(flat.T, grad_products, precision=_HIGHEST)
        grad_filters = jnp.transpose(grad_matrix.reshape(filters.shape[2], f, f, -1), (1, 2, 0, 3))
    return grad_response.reshape(response.shape), grad_filters


_grow.defvjp(_grow_forward, _grow_backward)


def _diagonal_sums(z: jax.Array) -> jax.Array:
    """`[..., m, f] -> [..., m + f - 1]`: `out[q] = sum_a z[a, q - a]`, by skewing: each
    row padded by `m` and the rows read back `m + f - 1` wide start one place further right.
    A fixed number of operations whatever `f` (one pad per tap compiled for minutes at f = 11)."""
    *batch, m, f = z.shape
    padded = jnp.pad(z, [(0, 0)] * len(batch) + [(0, 0), (0, m)])
    skewed = padded.reshape(*batch, m * (f + m))[..., : m * (f + m - 1)]
    return jnp.sum(skewed.reshape(*batch, m, f + m - 1), axis=-2)


def _combine(forward: jax.Array, backward: jax.Array) -> jax.Array:
    """The two halves into the impulse response: `h[q] = sum_{a + b = q} forward[a] .
    backward[b]` over channels, `[m, m, C]` and `[f, f, C]` -> `[m + f - 1, m + f - 1]`.
    One matrix product of every position pair, then the 2-D diagonal sums."""
    m, f = forward.shape[0], backward.shape[0]
    pairs = jnp.matmul(forward.reshape(m * m, -1), backward.reshape(f * f, -1).T, precision=_HIGHEST)
    pairs = jnp.transpose(pairs.reshape(m, m, f, f), (0, 2, 1, 3))  # [a_x, b_x, a_y, b_y]
    columns = _diagonal_sums(pairs)  # [a_x, b_x, q_y]
    return _diagonal_sums(jnp.transpose(columns, (2, 0, 1))).T


def impulse_response(params) -> jax.Array:
    """The DRK of a bias-free L-CNN, from its parameters alone.

    Equals `dil.fit.extract_drk` (the network run on a centred impulse) to float
    rounding: `K * impulse_response(params)` (true convolution) is what the network gives
    on K, away from the canvas borders.

    Args:
        params: L-CNN parameters, `{"conv0": {"kernel": [k, k, 1, C]}, ..., "conv{L-1}":
            {"kernel": [k, k, C, 1]}}` (flax's layout, any depth L >= 1, no biases).

    Returns:
        `[d, d] float32`, d = `1 + L (k - 1)`.
    """
    layers = [params[f"conv{i}"] for i in range(len(params))]
    if any(set(layer) != {"kernel"} for layer in layers):
        raise ValueError("impulse_response needs a bias-free L-CNN: a bias makes the network affine")
    filters = [layer["kernel"] for layer in layers]
    split = (len(filters) + 1) // 2  # layers [0, split) forward, [split, L) backward
    # The first layer on a centred impulse: output p reads the input at p + t, so the
    # impulse at the centre shows the flipped filter.
    forward = filters[0][::-1, ::-1, 0, :]
    for w in filters[1:split]:
        forward = _grow(forward, w, False)
    if split == len(filters):
        return forward[..., 0]
    # The last layers run transposed (channels out -> in) on an impulse from the output
    # side: `[f, f, C]` with f = 1 + (L - split)(k - 1), their combined filter flipped.
    backward = filters[-1][::-1, ::-1, :, 0]
    for w in filters[split:-1][::-1]:
        backward = _grow(backward, w, True)
    return _combine(forward, backward)
