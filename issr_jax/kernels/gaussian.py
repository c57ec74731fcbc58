"""Blur kernels: anisotropic Gaussians, the paper's Eq. 5 estimate, the per-image gallery.

All functions are pure, jittable and vmappable. Kernels are `[size, size] float32`,
non-negative, summing to 1 and centred on pixel `(size // 2, size // 2)` (odd sizes).
A Gaussian is point-symmetric, so convolution and correlation with it coincide.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = [
    "gaussian_kernel",
    "kernel_from_covariance",
    "kernel_from_precision",
    "kernel_covariance",
    "paper_sigma",
    "kernel_gallery",
]


def kernel_from_covariance(covariance: jax.Array, *, size: int) -> jax.Array:
    """Samples a centred Gaussian with the given covariance on a `size x size` grid.

    Args:
        covariance: `[2, 2]` symmetric positive-definite, in pixels^2, axes (row, column).
        size: odd kernel side length (static).

    Returns:
        `[size, size] float32`, non-negative, sums to 1.
    """
    covariance = jnp.asarray(covariance, jnp.float32)
    return kernel_from_precision(jnp.linalg.inv(covariance), size=size)


def kernel_from_precision(precision: jax.Array, *, size: int) -> jax.Array:
    """`kernel_from_covariance` given the inverse covariance `[2, 2]` (pixels^-2)."""
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    r = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
    rows, cols = jnp.meshgrid(r, r, indexing="ij")
    offsets = jnp.stack([rows, cols], axis=-1)  # [size, size, 2]
    mahalanobis = jnp.einsum("...i,ij,...j->...", offsets, precision, offsets)
    kernel = jnp.exp(-0.5 * mahalanobis)
    return kernel / jnp.sum(kernel)


def gaussian_kernel(*, size: int, sigma_x, sigma_y, theta) -> jax.Array:
    """Anisotropic Gaussian kernel with principal deviations `sigma_x`, `sigma_y` (pixels).

    The first principal axis makes the angle `theta` (radians, counter-clockwise from the
    column axis) with the image's horizontal axis.

    Args:
        size: odd kernel side length (static).
        sigma_x: scalar > 0, deviation along the first principal axis, in pixels.
        sigma_y: scalar > 0, deviation along the second principal axis, in pixels.
        theta: scalar rotation angle in radians.

    Returns:
        `[size, size] float32`, non-negative, sums to 1, centred.
    """
    sigma_x = jnp.asarray(sigma_x, jnp.float32)
    sigma_y = jnp.asarray(sigma_y, jnp.float32)
    theta = jnp.asarray(theta, jnp.float32)
    # Principal axes in (row, column) coordinates; rows point down, so "counter-clockwise"
    # flips the sign of the row component.
    c, s = jnp.cos(theta), jnp.sin(theta)
    rotation = jnp.array([[-s, -c], [c, -s]])  # columns: first and second principal axes
    covariance = rotation @ jnp.diag(jnp.stack([sigma_x**2, sigma_y**2])) @ rotation.T
    return kernel_from_covariance(covariance, size=size)


def kernel_covariance(kernel: jax.Array) -> jax.Array:
    """Second central moments of a kernel, `[2, 2]` in pixels^2 (row, column axes).

    Args:
        kernel: `[h, w]` non-negative weights (need not sum to 1).
    """
    kernel = jnp.asarray(kernel, jnp.float32)
    kernel = kernel / jnp.sum(kernel)
    h, w = kernel.shape
    rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    mean_r, mean_c = jnp.sum(kernel * rows), jnp.sum(kernel * cols)
    dr, dc = rows - mean_r, cols - mean_c
    return jnp.array(
        [[jnp.sum(kernel * dr * dr), jnp.sum(kernel * dr * dc)], [jnp.sum(kernel * dr * dc), jnp.sum(kernel * dc * dc)]]
    )


def paper_sigma(image: jax.Array, *, delta, pixel_scale: float) -> jax.Array:
    """The paper's Eq. 5: `sigma_f = (sigma_o + delta) / (sigma_o * sqrt(2 pi))`.

    `sigma_o` is the standard deviation of the LR image's values. The paper does not say in
    which unit pixel values are measured, and the answer changes everything: with values in
    [0, 255] (`pixel_scale=255`) every natural image gives `sigma_f` of about 0.42 (a
    near-delta kernel); with [0, 1] (`pixel_scale=1`) it gives 2.5 to 13 pixels.

    Args:
        image: `[H, W]` or `[H, W, C]` float in [0, 1]; the deviation is taken over all values.
        delta: scalar or array, the perturbation `delta_sigma` (same unit as `pixel_scale`).
        pixel_scale: the value of a white pixel in the unit Eq. 5 is evaluated in.

    Returns:
        `sigma_f` in pixels, the shape of `delta`.
    """
    sigma_o = jnp.std(jnp.asarray(image, jnp.float32) * pixel_scale)
    sigma_o = jnp.maximum(sigma_o, 1e-6)  # a flat image: avoid 0/0, gives a very wide kernel
    return (sigma_o + jnp.asarray(delta, jnp.float32)) / (sigma_o * math.sqrt(2 * math.pi))


def kernel_gallery(
    image: jax.Array,
    *,
    key: jax.Array,
    num_kernels: int,
    size: int,
    delta_range: tuple[float, float],
    pixel_scale: float,
    min_sigma: float = 0.2,
) -> jax.Array:
    """The per-image kernel gallery the identity fit trains on (paper Sec. 3.2).

    Each kernel is an anisotropic Gaussian whose two principal deviations each come from
    Eq. 5 with an independent draw `delta ~ U[delta_range]` (the paper gives one sigma for an
    "anisotropic" kernel; drawing each axis's perturbation independently is the most literal
    reading), rotated by `theta ~ U[0, pi]`.

    Args:
        image: `[H, W]` or `[H, W, C]` float in [0, 1], the LR image (usually its Y channel).
        key: PRNG key.
        num_kernels: gallery size (static).
        size: odd kernel side length (static).
        delta_range: `(low, high)` of the uniform perturbation, in `pixel_scale` units.
        pixel_scale: unit of pixel values for Eq. 5 (see `paper_sigma`).
        min_sigma: floor on each deviation in pixels, so a kernel never degenerates to a
            sampled delta with a singular covariance.

    Returns:
        `[num_kernels, size, size] float32`.
    """
    key_delta, key_theta = jax.random.split(key)
    deltas = jax.random.uniform(key_delta, (num_kernels, 2), minval=delta_range[0], maxval=delta_range[1])
    thetas = jax.random.uniform(key_theta, (num_kernels,), minval=0.0, maxval=math.pi)
    sigmas = jnp.maximum(paper_sigma(image, delta=deltas, pixel_scale=pixel_scale), min_sigma)
    make = lambda s, t: gaussian_kernel(size=size, sigma_x=s[0], sigma_y=s[1], theta=t)
    return jax.vmap(make)(sigmas, thetas)
