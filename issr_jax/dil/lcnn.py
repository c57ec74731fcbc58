"""The L-CNN (paper Sec. 3.3): a stack of linear 3x3 convolutions with no activations.

Because every layer is linear and bias-free, the whole network is one linear
shift-invariant operator: running it on an image equals convolving the image with the
network's impulse response, the Deep Restoration Kernel (see `drk.py`). A bias would
make the network affine (it adds a constant image), so the DRK would no longer equal the
network; biases are therefore off by default and kept only as an option.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["LCNN", "impulse_response_size", "near_identity"]


def impulse_response_size(*, depth: int, kernel_size: int) -> int:
    """Side length of the L-CNN's impulse response: `1 + depth * (kernel_size - 1)`."""
    return 1 + depth * (kernel_size - 1)


class _Conv3x3(nn.Module):
    """SAME 2-D correlation written as shifted matrix products (no `lax.conv`).

    Same parameter layout and initialiser as `nn.Conv` (`kernel: [k, k, in, out]`,
    LeCun normal). Why not `nn.Conv`: on XLA:CPU a convolution inside `lax.scan` (the fit
    loop) runs about 20x slower than the same convolution outside a loop, while matrix
    products do not slow down; on the tiny canvases of the fit the two cost the same.
    """

    features: int
    kernel_size: int
    use_bias: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features))
        h, w = x.shape[1], x.shape[2]
        lo = (k - 1) // 2
        padded = jnp.pad(x, ((0, 0), (lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
        out = sum(
            jnp.einsum(
                "nhwc,cd->nhwd", padded[:, i : i + h, j : j + w, :], kernel[i, j], precision=jax.lax.Precision.HIGHEST
            )
            for i in range(k)
            for j in range(k)
        )
        if self.use_bias:
            out = out + self.param("bias", nn.initializers.zeros, (self.features,))
        return out


class LCNN(nn.Module):
    """Linear CNN: `depth` SAME convolutions, `features` channels, one channel in and out.

    Input `[N, H, W, 1] float32`; output the same shape. SAME zero padding: on a canvas whose
    border holds zeros at least `depth * (kernel_size // 2)` wide, nothing is cut off.
    """

    depth: int = 5
    features: int = 32
    kernel_size: int = 3
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(self.depth):
            out = 1 if i == self.depth - 1 else self.features
            x = _Conv3x3(out, self.kernel_size, self.use_bias, name=f"conv{i}")(x)
        return x

    def init_params(self, key: jax.Array):
        """Parameters for a 1-channel input (the canvas size does not matter)."""
        return self.init(key, jnp.zeros((1, 3, 3, 1), jnp.float32))["params"]


def near_identity(params, *, noise: float):
    """Parameters that start the network near the identity: every layer a unit centre tap
    from channel 0 to channel 0 plus `noise` times its (LeCun normal) draw, so the DRK
    starts near a unit impulse. A deep linear network started at random spends its first
    thousands of Adam steps undoing the random DRK; near the identity it does not
    (`dil_chain`, docs/paper-choices.md)."""

    def start(kernel):
        centre = kernel.shape[0] // 2
        return (noise * kernel).at[centre, centre, 0, 0].add(1.0)

    return {name: {**layer, "kernel": start(layer["kernel"])} for name, layer in params.items()}
