"""NIQE, the no-reference naturalness score, as BasicSR and the MATLAB reference compute it.

NumPy with one JAX call (the half-scale :func:`issr_jax.resize.imresize`), because
reproducing the reference scores depends on its exact float32 arithmetic (see :func:`niqe`).
The model (`modelparameters.mat`) is not shipped: `load_niqe_model` says where it is looked for.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import jax
import numpy as np
import scipy.io
import scipy.ndimage
import scipy.special

from issr_jax.color import YCBCR_FROM_RGB, YCBCR_OFFSET
from issr_jax.metrics.fidelity import PIXEL_MAX, gaussian_taps
from issr_jax.resize import imresize

__all__ = ["NIQE_MODEL_ENV", "load_niqe_model", "niqe"]

NIQE_MODEL_ENV = "ISSR_JAX_NIQE_MODEL"


_NIQE_BLOCK = 96
# NIQE's local mean / deviation window: MATLAB fspecial('gaussian', 7, 7/6).
_NIQE_WINDOW = np.outer(gaussian_taps(7, 7.0 / 6.0), gaussian_taps(7, 7.0 / 6.0))
# AGGD shape grid of the reference code: alpha = 0.2:0.001:10.
_AGGD_ALPHAS = np.arange(0.2, 10.001, 0.001)
_AGGD_RATIOS = np.square(scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS) * 2)) / (
    scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS)) * scipy.special.gamma(np.reciprocal(_AGGD_ALPHAS) * 3)
)


@functools.lru_cache(maxsize=8)
def _load_niqe_model_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    if path.endswith(".npz"):
        with np.load(path) as data:
            contents = dict(data)
    else:
        contents = scipy.io.loadmat(path)
    # The NIQE release's .mat spells them mu_prisparam / cov_prisparam; BasicSR's .npz
    # spells them mu_pris_param / cov_pris_param.
    for mu_key, cov_key in (("mu_prisparam", "cov_prisparam"), ("mu_pris_param", "cov_pris_param")):
        if mu_key in contents and cov_key in contents:
            mu = np.asarray(contents[mu_key], dtype=np.float64).reshape(-1)
            cov = np.asarray(contents[cov_key], dtype=np.float64)
            break
    else:
        raise ValueError(
            f"{path} has no NIQE model: expected keys mu_prisparam and cov_prisparam, "
            f"found {sorted(k for k in contents if not k.startswith('__'))}"
        )
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{path}: NIQE model must be a 36-vector and a 36x36 matrix, got {mu.shape} and {cov.shape}")
    return mu, cov


def load_niqe_model(model_path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loads the NIQE pristine model (mean and covariance of the 36 features).

    Args:
        model_path: the NIQE release's ``modelparameters.mat`` (keys ``mu_prisparam``,
            ``cov_prisparam``), or an ``.npz`` with those keys (BasicSR's
            ``niqe_pris_params.npz`` spelling ``mu_pris_param`` also works). When ``None``,
            the path in the environment variable ``ISSR_JAX_NIQE_MODEL``.

    Returns:
        ``(mu, cov)``: float64 ``[36]`` and ``[36, 36]``.
    """
    if model_path is None:
        model_path = os.environ.get(NIQE_MODEL_ENV) or None
    if model_path is None:
        raise ValueError(
            "NIQE needs its pristine model: pass model_path= or set the environment variable "
            f"{NIQE_MODEL_ENV} to the NIQE release's modelparameters.mat "
            "(http://live.ece.utexas.edu/research/quality/niqe_release.zip)."
        )
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"NIQE model file not found: {path}")
    return _load_niqe_model_file(str(path.resolve()))


def _aggd_fit(values: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching on the alpha grid.

    Returns ``(alpha, beta_left, beta_right)``; NaN scales when a side is empty.
    Float32 in, float32 moments, as the reference code computes them.
    """
    values = values.reshape(-1)
    left_std = np.sqrt(np.mean(values[values < 0] ** 2))
    right_std = np.sqrt(np.mean(values[values > 0] ** 2))
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
    r_hat_norm = (r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1)) / ((gamma_hat**2 + 1) ** 2)
    alpha = _AGGD_ALPHAS[np.argmin((_AGGD_RATIOS - r_hat_norm) ** 2)]
    spread = np.sqrt(scipy.special.gamma(1 / alpha) / scipy.special.gamma(3 / alpha))
    return alpha, left_std * spread, right_std * spread


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 NIQE features of one MSCN block ``[h, w]`` float32."""
    alpha, beta_left, beta_right = _aggd_fit(block)
    features = [alpha, (beta_left + beta_right) / 2]
    # Products of neighbours (right, down, down-right, down-left), wrapping around the
    # block like MATLAB's circshift.
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, beta_left, beta_right = _aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_right - beta_left) * (scipy.special.gamma(2 / alpha) / scipy.special.gamma(1 / alpha))
        features.extend([alpha, mean, beta_left, beta_right])
    return features


def _mscn(luma: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + 1)``.

    Float32 image, float64 window, float32 results and float32 variance
    ``E[I^2] - mu^2`` (the cancellation is part of the reference scores), replicate
    borders.
    """
    mu = scipy.ndimage.convolve(luma, _NIQE_WINDOW, mode="nearest")
    second_moment = scipy.ndimage.convolve(np.square(luma), _NIQE_WINDOW, mode="nearest")
    sigma = np.sqrt(np.abs(second_moment - np.square(mu)))
    return (luma - mu) / (sigma + 1)


def _niqe_luma(image: np.ndarray, crop_border: int) -> np.ndarray:
    """The rounded [0, 255] float32 plane NIQE scores: Y (or grey), cropped, rounded."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 3:
        # Y as BasicSR's rgb2ycbcr computes it (float64 dot product of the float32
        # image, cast back to float32), so rounding below flips exactly as there.
        luma = ((image.astype(np.float64) @ YCBCR_FROM_RGB[0] + YCBCR_OFFSET[0]) / PIXEL_MAX).astype(np.float32)
    elif image.ndim == 2:
        luma = image
    else:
        raise ValueError(f"expected [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
    luma = luma * np.float32(PIXEL_MAX)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        luma = luma[crop_border:-crop_border, crop_border:-crop_border]
    return np.round(luma)


def niqe(image: jax.Array, *, crop_border: int = 0, model_path: str | os.PathLike | None = None) -> float:
    """Natural Image Quality Evaluator (Mittal et al. 2013), as BasicSR's ``calculate_niqe``.

    Lower is better. The steps: Y on the [0, 255] scale (grey values as they are for
    grey images), crop ``crop_border`` per side, round to integers, truncate to
    multiples of 96 (top-left); at two scales (the second is the antialiased bicubic
    :func:`~issr_jax.resize.imresize` by 1/2) compute MSCN coefficients with a 7x7
    Gaussian window (replicate borders), and per 96x96 (then 48x48) block 18 AGGD
    features of the coefficients and of their products with 4 neighbours (circular
    within the block); fit a Gaussian to the blocks' 36 features and return its
    distance to the pristine model, ``sqrt(d^T pinv((S_pristine + S) / 2) d)``.

    NIQE is fragile on small images: with few blocks the feature covariance is poorly
    determined, and float32 rounding in the variance alone moves scores by up to ~0.3 on
    4-block images. This function keeps the reference float32 arithmetic so it matches
    BasicSR (and MATLAB) to about 1e-3 or better.

    Args:
        image: ``[H, W, 3]`` float RGB in [0, 1], or ``[H, W]`` / ``[H, W, 1]`` grey; at
            least two 96x96 blocks after the crop (e.g. 96x192).
        crop_border: pixels removed from each side, after the Y conversion.
        model_path: the pristine model (see :func:`load_niqe_model`); default: the path
            in ``$ISSR_JAX_NIQE_MODEL``.

    Returns:
        The NIQE score, a Python float.

    Raises:
        ValueError: no model given, or the image is smaller than two 96x96 blocks.
    """
    mu_pristine, cov_pristine = load_niqe_model(model_path)
    luma = _niqe_luma(image, crop_border)
    blocks_h, blocks_w = luma.shape[0] // _NIQE_BLOCK, luma.shape[1] // _NIQE_BLOCK
    if blocks_h * blocks_w < 2:
        raise ValueError(
            f"NIQE needs at least two {_NIQE_BLOCK}x{_NIQE_BLOCK} blocks (e.g. 96x192) after "
            f"crop_border={crop_border}; the image gives {luma.shape[0]}x{luma.shape[1]}, "
            f"i.e. {blocks_h * blocks_w} block(s)"
        )
    luma = luma[: blocks_h * _NIQE_BLOCK, : blocks_w * _NIQE_BLOCK]

    per_scale = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # A block without negative (or positive) values gives NaN features, which the
        # fit below skips, as the reference does.
        warnings.simplefilter("ignore", RuntimeWarning)
        for scale in (1, 2):
            coefficients = _mscn(luma)
            size = _NIQE_BLOCK // scale
            per_scale.append(
                np.array(
                    [
                        _block_features(coefficients[i * size : (i + 1) * size, j * size : (j + 1) * size])
                        for j in range(blocks_w)  # columns outer, rows inner
                        for i in range(blocks_h)
                    ]
                )
            )
            if scale == 1:
                luma = np.asarray(imresize(luma / np.float32(PIXEL_MAX), scale=0.5)) * np.float32(PIXEL_MAX)
        features = np.concatenate(per_scale, axis=1)
        mu = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise ValueError(f"NIQE: only {len(complete)} block(s) have finite features (flat image?); need 2")
    cov = np.cov(complete, rowvar=False)
    difference = mu_pristine - mu
    quality = difference @ np.linalg.pinv((cov_pristine + cov) / 2) @ difference
    return float(np.sqrt(quality))
