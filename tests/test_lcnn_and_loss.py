"""The L-CNN and the identity loss against float64 references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from issr_jax.dil import identity_loss, lcnn
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
    terms = identity_loss.identity_terms(jnp.asarray(response), jnp.asarray(drk), jnp.asarray(kernel))
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
    terms = identity_loss.identity_terms(jnp.zeros((41, 41)), jnp.ones((11, 11)), jnp.ones((31, 31)) / 961)
    assert float(terms["pinv"]) == 0.0


def test_canvas_rejects_uncentrable_sizes():
    with pytest.raises(ValueError, match="centre"):
        identity_loss.place_on_canvas(jnp.ones((11, 11)), size=20)
