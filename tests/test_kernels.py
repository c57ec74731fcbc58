"""Kernels: Gaussians against a float64 NumPy reference, Eq. 5, the gallery, properties."""

import math

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from issr_jax.kernels import gaussian


def numpy_gaussian(size, sigma_x, sigma_y, theta):
    """Float64 reference: covariance R diag(sx^2, sy^2) R^T, first axis at angle theta
    counter-clockwise from the horizontal (rows point down)."""
    axis1 = np.array([-math.sin(theta), math.cos(theta)])  # (row, col)
    axis2 = np.array([-math.cos(theta), -math.sin(theta)])
    cov = sigma_x**2 * np.outer(axis1, axis1) + sigma_y**2 * np.outer(axis2, axis2)
    r = np.arange(size) - size // 2
    rows, cols = np.meshgrid(r, r, indexing="ij")
    pts = np.stack([rows, cols], -1).astype(np.float64)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, np.linalg.inv(cov), pts))
    return k / k.sum()


@pytest.mark.parametrize("sigma_x,sigma_y,theta", [(1.0, 1.0, 0.0), (2.5, 0.7, 0.3), (0.6, 1.9, 2.0), (3.0, 3.0, 1.0)])
def test_gaussian_matches_float64_reference(sigma_x, sigma_y, theta):
    got = gaussian.gaussian_kernel(size=11, sigma_x=sigma_x, sigma_y=sigma_y, theta=theta)
    np.testing.assert_allclose(got, numpy_gaussian(11, sigma_x, sigma_y, theta), atol=2e-7)


def test_orientation_theta_zero_is_horizontal():
    k = np.asarray(gaussian.gaussian_kernel(size=11, sigma_x=3.0, sigma_y=0.8, theta=0.0))
    assert k[5, 8] > 10 * k[8, 5]  # spread along the row (horizontal), not the column
    cov = np.asarray(gaussian.kernel_covariance(gaussian.gaussian_kernel(size=31, sigma_x=3.0, sigma_y=0.8, theta=0.0)))
    np.testing.assert_allclose(cov, [[0.64, 0], [0, 9.0]], atol=1e-3)


def test_covariance_round_trip():
    cov = np.array([[2.0, 0.7], [0.7, 1.2]])
    k = gaussian.kernel_from_covariance(cov, size=31)
    np.testing.assert_allclose(gaussian.kernel_covariance(k), cov, atol=1e-4)


def test_even_size_is_refused():
    with pytest.raises(ValueError, match="odd"):
        gaussian.kernel_from_covariance(jnp.eye(2), size=10)


def test_paper_sigma_is_eq5():
    image = np.random.default_rng(0).uniform(size=(40, 30)).astype(np.float32)
    for scale_unit in (1.0, 255.0):
        sigma_o = np.std(image.astype(np.float64) * scale_unit)
        for delta in (1.0, 2.5):
            expected = (sigma_o + delta) / (sigma_o * math.sqrt(2 * math.pi))
            got = float(gaussian.paper_sigma(image, delta=delta, pixel_scale=scale_unit))
            assert got == pytest.approx(expected, rel=1e-5)
    # The unit decides everything: [0, 255] gives a near-delta, [0, 1] a very wide kernel.
    assert float(gaussian.paper_sigma(image, delta=2.0, pixel_scale=255.0)) < 0.45
    assert float(gaussian.paper_sigma(image, delta=2.0, pixel_scale=1.0)) > 2.5


def test_gallery_shape_determinism_and_ranges():
    image = jax.random.uniform(jax.random.key(0), (32, 32))
    kw = dict(num_kernels=16, size=11, delta_range=(1.0, 3.0), pixel_scale=1.0)
    a = gaussian.kernel_gallery(image, key=jax.random.key(1), **kw)
    b = gaussian.kernel_gallery(image, key=jax.random.key(1), **kw)
    c = gaussian.kernel_gallery(image, key=jax.random.key(2), **kw)
    assert a.shape == (16, 11, 11)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(a.sum(axis=(1, 2)), 1.0, atol=1e-5)
    # Each principal variance comes from Eq. 5 with delta in [1, 3].
    lo = float(gaussian.paper_sigma(image, delta=1.0, pixel_scale=1.0))
    hi = float(gaussian.paper_sigma(image, delta=3.0, pixel_scale=1.0))
    for k in np.asarray(gaussian.kernel_gallery(image, key=jax.random.key(3), **{**kw, "size": 61})):
        eig = np.sqrt(np.linalg.eigvalsh(np.asarray(gaussian.kernel_covariance(k))))
        assert lo * 0.97 <= eig.min() and eig.max() <= hi * 1.03


def test_jit_and_vmap_agree_with_eager():
    sig = jnp.array([0.8, 1.5, 2.2])
    eager = [gaussian.gaussian_kernel(size=9, sigma_x=s, sigma_y=s / 2, theta=0.4) for s in sig]
    batched = jax.jit(jax.vmap(lambda s: gaussian.gaussian_kernel(size=9, sigma_x=s, sigma_y=s / 2, theta=0.4)))(sig)
    np.testing.assert_allclose(batched, np.stack(eager), atol=1e-7)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    sigma_x=st.floats(0.2, 8.0),
    sigma_y=st.floats(0.2, 8.0),
    theta=st.floats(-10.0, 10.0),
    half=st.integers(1, 10),
)
def test_property_kernels_are_valid(sigma_x, sigma_y, theta, half):
    size = 2 * half + 1
    k = np.asarray(gaussian.gaussian_kernel(size=size, sigma_x=sigma_x, sigma_y=sigma_y, theta=theta))
    assert np.all(np.isfinite(k))
    assert np.all(k >= 0)
    assert abs(k.sum() - 1) < 1e-5
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-6)  # point-symmetric about the centre
    assert k[half, half] == k.max()  # centred
