"""The L-CNN and the identity loss against float64 references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from issr_jax.dil import identity_loss, impulse_response, lcnn
from issr_jax.dil.fit import extract_drk
from issr_jax.kernels.gaussian import gaussian_kernel


@pytest.fixture(scope="module")
def model_and_params():
    model = lcnn.LCNN()
    return model, model.init_params(jax.random.key(0))


def test_lcnn_equals_lax_conv_stack(model_and_params):
    model, params = model_and_params
    x = jax.random.normal(jax.random.key(1), (2, 15, 17, 1))
    ref = x
    for i in range(5):
        ref = jax.lax.conv_general_dilated(
            ref,
            params[f"conv{i}"]["kernel"],
            (1, 1),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision="highest",
        )
    np.testing.assert_allclose(model.apply({"params": params}, x), ref, atol=1e-5)


def test_bias_free_by_default_and_linear(model_and_params):
    model, params = model_and_params
    assert all(set(layer) == {"kernel"} for layer in params.values())
    assert [params[f"conv{i}"]["kernel"].shape for i in range(5)] == [(3, 3, 1, 32)] + [(3, 3, 32, 32)] * 3 + [
        (3, 3, 32, 1)
    ]
    x, y = jax.random.normal(jax.random.key(2), (2, 1, 12, 12, 1))
    f = lambda v: model.apply({"params": params}, v)
    np.testing.assert_allclose(f(2 * x - 3 * y), 2 * f(x) - 3 * f(y), atol=1e-5)
    assert lcnn.impulse_response_size(depth=5, kernel_size=3) == 11


def test_network_on_k_is_full_convolution_with_drk(model_and_params):
    """On the (k + d - 1) canvas, L-CNN(K) is exactly the full convolution K * DRK."""
    model, params = model_and_params
    kernel = np.asarray(gaussian_kernel(size=11, sigma_x=1.3, sigma_y=0.7, theta=0.5))
    drk = np.asarray(extract_drk(params, model=model, size=11), np.float64)
    canvas = identity_loss.place_on_canvas(jnp.asarray(kernel), size=21)
    response = np.asarray(model.apply({"params": params}, canvas[None, :, :, None])[0, :, :, 0])
    np.testing.assert_allclose(response, signal.convolve2d(kernel, drk, mode="full"), atol=1e-6)


def test_identity_terms_match_numpy():
    rng = np.random.default_rng(0)
    drk = rng.normal(size=(11, 11)).astype(np.float32)
    kernel = np.asarray(gaussian_kernel(size=11, sigma_x=1.0, sigma_y=1.5, theta=0.2))
    response = signal.convolve2d(kernel, drk, mode="full").astype(np.float32)
    pinv = identity_loss.kernel_pinv(jnp.asarray(kernel)[None], drk_size=11)[0]
    terms = identity_loss.identity_terms(jnp.asarray(response), jnp.asarray(drk), pinv=pinv)
    impulse = np.zeros((21, 21))
    impulse[10, 10] = 1
    d64 = drk.astype(np.float64)
    expected = {
        "identity": np.sum((response - impulse) ** 2),
        # jnp.linalg.pinv's default cut-off: singular values below 10 * max(M, N) * eps32
        # of the largest are dropped (PyTorch's float32 pinv does the same).
        "pinv": np.linalg.norm(d64 - np.linalg.pinv(kernel.astype(np.float64), rcond=110 * np.finfo(np.float32).eps)),
        "unity": abs(1 - d64.sum()),
        "range_scale": np.linalg.norm(d64 - (d64 - d64.min()) / (d64.max() - d64.min())),
    }
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=2e-3), name


def test_pinv_term_is_off_when_sizes_differ():
    assert identity_loss.kernel_pinv(jnp.ones((2, 31, 31)) / 961, drk_size=11) is None
    assert identity_loss.kernel_pinv(jnp.ones((2, 11, 11)) / 121, drk_size=11).shape == (2, 11, 11)
    terms = identity_loss.identity_terms(jnp.zeros((41, 41)), jnp.ones((11, 11)), pinv=None)
    assert float(terms["pinv"]) == 0.0


def test_canvas_rejects_uncentrable_sizes():
    with pytest.raises(ValueError, match="centre"):
        identity_loss.place_on_canvas(jnp.ones((11, 11)), size=20)


@pytest.mark.parametrize("depth,kernel_size,features", [(5, 3, 32), (1, 3, 4), (2, 3, 4), (4, 5, 8), (15, 3, 8)])
def test_composed_impulse_response_is_the_network_on_an_impulse(depth, kernel_size, features):
    model = lcnn.LCNN(depth=depth, features=features, kernel_size=kernel_size)
    params = model.init_params(jax.random.key(depth))
    size = lcnn.impulse_response_size(depth=depth, kernel_size=kernel_size)
    composed = impulse_response.impulse_response(params)
    assert composed.shape == (size, size)
    # Measured: at most 1.4e-7 apart (entries up to 0.7).
    np.testing.assert_allclose(composed, extract_drk(params, model=model, size=size), atol=1e-6)


def test_composed_impulse_response_refuses_a_bias():
    model = lcnn.LCNN(depth=2, features=4, use_bias=True)
    with pytest.raises(ValueError, match="bias"):
        impulse_response.impulse_response(model.init_params(jax.random.key(0)))


def _gallery(seed: int, size: int, count: int = 8) -> jax.Array:
    rng = np.random.default_rng(seed)
    return jnp.stack(
        [
            gaussian_kernel(
                size=size, sigma_x=rng.uniform(0.3, 3), sigma_y=rng.uniform(0.3, 3), theta=rng.uniform(0, 3)
            )
            for _ in range(count)
        ]
    )


@pytest.mark.parametrize("kernel_size,extra", [(11, 0), (11, 4), (7, 2), (21, 0), (31, 6)])
def test_fast_objective_equals_the_network_objective(model_and_params, kernel_size, extra):
    """Loss, terms and gradients of the composed formulation against the network run on
    canvases of `k + d - 1` and more (random parameters; L_pinv on when k == d)."""
    model, _ = model_and_params
    params = model.init_params(jax.random.key(kernel_size + extra))
    kernels = _gallery(kernel_size, kernel_size)
    weights = identity_loss.LossWeights()
    reference = lambda p: identity_loss.dil_objective(
        p, kernels, model=model, weights=weights, canvas_size=kernel_size + 10 + 2 * extra, drk_size=11
    )
    targets = identity_loss.kernel_targets(kernels, drk_size=11)
    fast = lambda p: identity_loss.target_loss(impulse_response.impulse_response(p), targets, weights=weights)
    (loss, terms), grads = jax.value_and_grad(reference, has_aux=True)(params)
    (fast_loss, fast_terms), fast_grads = jax.value_and_grad(fast, has_aux=True)(params)
    # Measured: losses (2 to 1e4) 1e-7 relative apart, terms 1.5e-6, gradients (up to 3) 2e-6.
    assert float(fast_loss) == pytest.approx(float(loss), rel=1e-5)
    for name in terms:
        assert float(fast_terms[name]) == pytest.approx(float(terms[name]), rel=1e-5, abs=1e-5), name
    for a, b in zip(jax.tree.leaves(fast_grads), jax.tree.leaves(grads)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("kernel_size,drk_size", [(11, 11), (5, 11), (21, 11), (11, 21)])
def test_kernel_target_is_the_identity_residual(kernel_size, drk_size):
    """`h^T C h - 2 b^T h + 1` from `kernel_targets` is `||K * h - I||^2` (float64 scipy),
    for kernels smaller than, as large as and larger than the DRK."""
    kernels = _gallery(1, kernel_size, count=3)
    drk = np.random.default_rng(2).normal(size=(drk_size, drk_size)).astype(np.float32)
    targets = identity_loss.kernel_targets(kernels, drk_size=drk_size)
    for i, kernel in enumerate(np.asarray(kernels, np.float64)):
        residual = signal.convolve2d(kernel, drk.astype(np.float64), mode="full")
        residual[residual.shape[0] // 2, residual.shape[1] // 2] -= 1.0
        one = jax.tree.map(lambda leaf, i=i: None if leaf is None else leaf[i : i + 1], targets)
        identity = identity_loss.target_terms(jnp.asarray(drk), one)["identity"]
        assert float(identity) == pytest.approx(np.sum(residual**2), rel=1e-5)


def test_correlation_target_is_the_toeplitz_quadratic_form():
    """`correlation_target` against the explicit Toeplitz matrix in float64."""
    d = 7
    rng = np.random.default_rng(3)
    half = rng.normal(size=(2 * d - 1, 2 * d - 1))
    correlation = half + half[::-1, ::-1]  # point-symmetric, as a correlation is
    cross = rng.normal(size=(d, d))
    drk = rng.normal(size=(d, d))
    t = np.arange(d)
    gram = correlation[
        (t[:, None, None, None] - t[None, None, :, None]) + d - 1,
        (t[None, :, None, None] - t[None, None, None, :]) + d - 1,
    ]
    expected = np.einsum("ab,abcd,cd->", drk, gram, drk) - 2 * np.sum(cross * drk) + 1
    target = identity_loss.correlation_target(jnp.asarray(correlation, jnp.float32), jnp.asarray(cross, jnp.float32))
    batch = jax.tree.map(lambda leaf: leaf[None], target)
    identity = identity_loss.target_terms(jnp.asarray(drk, jnp.float32), batch)["identity"]
    assert float(identity) == pytest.approx(expected, rel=1e-5)
