"""The DRK: FFT application against a float64 reference, and equality with the L-CNN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from issr_jax import drk as drk_lib
from issr_jax.dil.fit import extract_drk
from issr_jax.dil.lcnn import LCNN


def reference_apply(image, kernel):
    """Float64: symmetric (edge-repeating) padding, then 'valid' true convolution."""
    r = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="symmetric")
    return np.stack(
        [signal.convolve2d(padded[..., c], kernel.astype(np.float64), mode="valid") for c in range(image.shape[2])], -1
    )


@pytest.mark.parametrize("shape,size", [((37, 29, 3), 11), ((64, 50, 1), 21), ((23, 41, 2), 31)])
def test_apply_drk_matches_reference(shape, size):
    rng = np.random.default_rng(size)
    image = rng.uniform(size=shape).astype(np.float32)
    kernel = rng.normal(size=(size, size)).astype(np.float32)  # not symmetric: catches flips
    got = drk_lib.apply_drk(jnp.asarray(image), jnp.asarray(kernel))
    np.testing.assert_allclose(got, reference_apply(image, kernel), atol=3e-5 * np.abs(kernel).sum())


def test_apply_drk_jit_and_eager_agree():
    image = jax.random.uniform(jax.random.key(0), (30, 40, 3))
    kernel = jax.random.normal(jax.random.key(1), (11, 11))
    with jax.disable_jit():
        eager = drk_lib.apply_drk(image, kernel)
    np.testing.assert_allclose(drk_lib.apply_drk(image, kernel), eager, atol=1e-5)


def test_drk_apply_equals_lcnn_away_from_borders():
    model = LCNN()
    params = model.init_params(jax.random.key(3))
    drk = extract_drk(params, model=model, size=11)
    image = jax.random.uniform(jax.random.key(4), (48, 40, 1))
    via_network = model.apply({"params": params}, image[None])[0]
    via_drk = drk_lib.apply_drk(image, drk)
    r = 5  # the L-CNN zero-pads, apply_drk mirrors: they differ only within r of a border
    np.testing.assert_allclose(via_drk[r:-r, r:-r], via_network[r:-r, r:-r], atol=1e-5)


def test_fast_fft_length():
    for n in (1, 7, 11, 97, 1024, 1357, 2071):
        m = drk_lib.fast_fft_length(n)
        assert m >= n
        rest = m
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        assert rest == 1
        assert all(not _is_smooth(k) for k in range(n, m))


def _is_smooth(k):
    for p in (2, 3, 5):
        while k % p == 0:
            k //= p
    return k == 1
