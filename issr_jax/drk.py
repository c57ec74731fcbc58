"""The Deep Restoration Kernel: the L-CNN's impulse response, and applying it to images.

`extract_drk` runs the network on a unit impulse; by linearity the result `h` satisfies
`LCNN(x) = x (*) h` (true convolution) away from the borders. `apply_drk` computes that
convolution with real FFTs over a fast-length canvas and symmetric (edge-repeating) border
padding, which on CPU is several times faster than a direct 11x11 convolution and far
faster than running the 32-channel network on a full image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from issr_jax.dil.identity_loss import centred_impulse

if TYPE_CHECKING:  # flax loads with the L-CNN, not with the package
    import flax.linen as nn

__all__ = ["extract_drk", "apply_drk", "fast_fft_length"]


def extract_drk(params, *, model: nn.Module, size: int) -> jax.Array:
    """The network's impulse response, `[size, size] float32` (size = its receptive field)."""
    impulse = centred_impulse(size)[None, :, :, None]
    return model.apply({"params": params}, impulse)[0, :, :, 0]


def fast_fft_length(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3 and 5."""
    best = 2 * n
    p2 = 1
    while p2 < best:
        p3 = p2
        while p3 < best:
            p5 = p3
            while p5 < n:
                p5 *= 5
            best = min(best, p5)
            p3 *= 3
        p2 *= 2
    return best


@jax.jit
def apply_drk(image: jax.Array, drk: jax.Array) -> jax.Array:
    """Convolves every channel of an image with a restoration kernel (true convolution).

    Borders are extended by symmetric padding (edge pixel repeated, as MATLAB's
    'symmetric'), so the output has the input's size and no dark frame.

    Args:
        image: `[H, W, C]` float32 (any range; nothing is clipped).
        drk: `[d, d]` float32, odd `d`, centred.

    Returns:
        `[H, W, C]` float32.
    """
    h, w, _ = image.shape
    d = drk.shape[0]
    r = d // 2
    padded = jnp.pad(image, ((r, r), (r, r), (0, 0)), mode="symmetric")
    fh, fw = fast_fft_length(h + 2 * r), fast_fft_length(w + 2 * r)
    spectrum = jnp.fft.rfft2(padded, s=(fh, fw), axes=(0, 1))
    kernel_spectrum = jnp.fft.rfft2(drk.astype(jnp.float32), s=(fh, fw))
    full = jnp.fft.irfft2(spectrum * kernel_spectrum[:, :, None], s=(fh, fw), axes=(0, 1))
    # Full convolution index i + 2r on the padded canvas is output pixel i.
    return full[2 * r : 2 * r + h, 2 * r : 2 * r + w, :]
