"""Deep Identity Learning of the whole chain (`dil_chain`): its targets are the closed
form's normal equations, and the L-CNN trained on them approaches the closed form."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from issr_jax import presets
from issr_jax.dil import fit, identity_loss, impulse_response, lcnn
from issr_jax.dil.chain_target import chain_targets
from issr_jax.kernels.gaussian import gaussian_kernel
from issr_jax.restoration import lmmse


def _kernel(scale: int, lopsided: bool = False) -> np.ndarray:
    kernel = np.asarray(gaussian_kernel(size=4 * scale + 3, sigma_x=0.8 * scale, sigma_y=0.5 * scale, theta=0.4))
    kernel = kernel.astype(np.float64)
    if lopsided:
        kernel[2:4, 3:5] *= 1.6
    return kernel / kernel.sum()


def _gram(correlation: np.ndarray) -> np.ndarray:
    """The Toeplitz matrix `C[t, t'] = c(t - t')` of a `[2d - 1, 2d - 1]` correlation."""
    d = (correlation.shape[0] + 1) // 2
    t = np.arange(d)
    rows = (t[:, None, None, None] - t[None, None, :, None]) + d - 1
    cols = (t[None, :, None, None] - t[None, None, None, :]) + d - 1
    return correlation[rows, cols].reshape(d * d, d * d)


def _relative_error(drk: np.ndarray, correlation: np.ndarray, cross: np.ndarray) -> float:
    flat = np.asarray(drk, np.float64).reshape(-1)
    return float(flat @ _gram(correlation) @ flat - 2 * cross.reshape(-1) @ flat + 1)


@pytest.mark.parametrize("scale,lopsided", [(2, False), (2, True), (3, False)])
def test_the_minimiser_of_the_chain_statistics_is_the_closed_form(scale, lopsided):
    kernel = _kernel(scale, lopsided)
    size = lmmse.restoration_kernel_size(scale)
    correlation, cross = lmmse.chain_statistics(kernel, scale=scale, size=size)
    solution = np.linalg.solve(_gram(correlation), cross.reshape(-1)).reshape(size, size)
    closed_form = np.asarray(lmmse.lmmse_restoration_kernel(kernel, scale=scale), np.float64)
    # Measured: at most 1e-7 apart (taps up to 2.9); the closed form is float32.
    np.testing.assert_allclose(solution, closed_form, atol=1e-5 * np.abs(closed_form).max())
    # The expected error relative to the image's variance: the identity (bicubic) loses
    # the most, the closed form the least of any kernel on its support.
    identity = np.zeros((size, size))
    identity[size // 2, size // 2] = 1.0
    best = _relative_error(closed_form, correlation, cross)
    assert 0 < best < _relative_error(identity, correlation, cross) < 1
    nudged = closed_form + 1e-3 * np.random.default_rng(0).normal(size=closed_form.shape)
    assert _relative_error(nudged, correlation, cross) > best


def test_chain_targets_are_the_statistics_in_float32():
    scale, size = 2, 11
    kernel = _kernel(scale, lopsided=True)
    correlation, cross = lmmse.chain_statistics(kernel, scale=scale, size=size)
    targets = chain_targets(kernel[None], scale=scale, drk_size=size)
    assert targets.pinv is None and targets.cross.dtype == jnp.float32
    for seed in range(3):
        drk = np.random.default_rng(seed).normal(scale=0.3, size=(size, size))
        identity = identity_loss.target_terms(jnp.asarray(drk, jnp.float32), targets)["identity"]
        assert float(identity) == pytest.approx(_relative_error(drk, correlation, cross), rel=1e-4)


def test_near_identity_starts_at_a_unit_impulse():
    model = lcnn.LCNN(depth=4, features=8)
    params = lcnn.near_identity(model.init_params(jax.random.key(0)), noise=0.0)
    drk = impulse_response.impulse_response(params)
    np.testing.assert_array_equal(drk, np.eye(9)[4][:, None] * np.eye(9)[4][None, :])


def test_the_fit_on_the_chain_approaches_the_closed_form():
    """A short `dil_chain` fit (5 layers, 11x11 DRK, 1500 Adam steps) against the closed
    form on the same support, in the expected error both minimise."""
    scale, size = 2, 11
    kernel = _kernel(scale)
    config = dataclasses.replace(presets.DIL_CHAIN.fit, depth=5, epochs=1500, decay_every_epochs=750)
    targets = chain_targets(np.broadcast_to(kernel, (8, *kernel.shape)), scale=scale, drk_size=size)
    result = fit.fit_targets(targets, key=jax.random.key(0), config=config)
    correlation, cross = lmmse.chain_statistics(kernel, scale=scale, size=size)
    closed_form = np.asarray(lmmse.lmmse_restoration_kernel(kernel, scale=scale, size=size))
    start = _relative_error(np.eye(size)[size // 2][:, None] * np.eye(size)[size // 2][None, :], correlation, cross)
    fitted, best = _relative_error(result.drk, correlation, cross), _relative_error(closed_form, correlation, cross)
    # Measured: the fit ends 0.1% above the closed form's error, from 55% above at the start.
    assert best <= fitted < 1.01 * best < start
    assert float(result.losses[-1]) == pytest.approx(fitted, rel=1e-4)
