"""Scoring as SR papers do: PSNR/SSIM on Y of the quantised output, NIQE, kernel errors."""

from __future__ import annotations

import numpy as np

from issr_jax.io import quantise
from issr_jax.metrics import niqe, psnr, ssim

__all__ = ["kernel_error", "score"]


def score(sr: np.ndarray, hr: np.ndarray, *, scale: int, niqe_model: str | None) -> dict:
    """PSNR-Y, SSIM-Y (crop = scale) of the quantised SR against HR, and NIQE of the SR.

    NIQE is None when no model is given or the image is too small for it (< two 96x96
    blocks after the crop).
    """
    sr = quantise(sr)
    result = {
        "psnr": float(psnr(sr, hr, crop_border=scale, y_channel=True)),
        "ssim": float(ssim(sr, hr, crop_border=scale, y_channel=True)),
        "niqe": None,
    }
    if niqe_model:
        try:
            result["niqe"] = float(niqe(sr, crop_border=scale, model_path=niqe_model))
        except ValueError as error:  # too small for two blocks
            result["niqe_error"] = str(error)
    return result


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Relative L2 error `||K_est - K_true|| / ||K_true||`, both normalised to sum 1 and
    zero-padded to a common centred canvas (the larger side; both sides odd)."""
    size = max(estimate.shape[0], truth.shape[0])

    def canvas(kernel):
        kernel = np.asarray(kernel, np.float64)
        kernel = kernel / kernel.sum()
        pad = (size - kernel.shape[0]) // 2
        return np.pad(kernel, pad)

    a, b = canvas(estimate), canvas(truth)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
