"""Figures like the paper's Fig. 4/5: per method its kernel, its restoration kernel, an SR crop."""

from __future__ import annotations

import numpy as np

from experiments.harness.discovery import Sample
from experiments.harness.methods import MethodOutput
from issr_jax.io import quantise

__all__ = ["figure_rows", "kernel_panel"]


def kernel_panel(kernel: np.ndarray | None, size: int, *, signed: bool, extent: int | None = None) -> np.ndarray:
    """A kernel as a `[size, size, 3]` grey panel, enlarged by pixel repetition.

    `extent` (default: the kernel's side) is the side that fills the panel, so kernels of
    different sizes drawn with the same `extent` share one pixel scale.

    Non-negative kernels map 0 -> black, max -> white; signed ones (a DRK) map 0 -> mid
    grey and +-max|value| -> white/black. No kernel: a white panel.
    """
    panel = np.ones((size, size, 3), np.float32)
    if kernel is None:
        return panel
    kernel = np.asarray(kernel, np.float32)
    peak = float(np.max(np.abs(kernel))) or 1.0
    shown = 0.5 + 0.5 * kernel / peak if signed else np.clip(kernel / peak, 0.0, 1.0)
    factor = max(1, size // max(extent or 0, kernel.shape[0]))
    big = np.repeat(np.repeat(shown, factor, axis=0), factor, axis=1)[:size, :size]
    top, left = (size - big.shape[0]) // 2, (size - big.shape[1]) // 2
    panel[top : top + big.shape[0], left : left + big.shape[1]] = big[..., None]
    return panel


def figure_rows(sample: Sample, outputs: dict[str, MethodOutput]) -> list[list[np.ndarray]]:
    """Rows: one per method (its K, its restoration kernel, a crop of its SR), then the
    ground truth (true K if known, an empty panel, the HR crop). Like the paper's Fig. 4/5."""
    h, w = sample.hr.shape[:2]
    side = min(192, h // 2, w // 2)
    top, left = (h - side) // 2, (w - side) // 2
    crop = lambda image: quantise(image[top : top + side, left : left + side])
    kernels = [k for o in outputs.values() for k in (o.kernel, o.drk) if k is not None]
    kernels += [sample.kernel] if sample.kernel is not None else []
    extent = max((k.shape[0] for k in kernels), default=None)  # one pixel scale for every kernel
    panel = lambda kernel, signed: kernel_panel(kernel, side, signed=signed, extent=extent)
    rows = [[panel(o.kernel, False), panel(o.drk, True), crop(o.image)] for o in outputs.values()]
    rows.append([panel(sample.kernel, False), panel(None, True), crop(sample.hr)])
    return rows
