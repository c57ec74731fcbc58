"""Figures like the paper's Fig. 4/5: per method its kernel, its restoration kernel, an SR crop,
each labelled with the method and the crop with the image's PSNR."""

from __future__ import annotations

import numpy as np

from experiments.harness.discovery import Sample
from experiments.harness.methods import MethodOutput
from issr_jax.app.figures import kernel_panel, labelled
from issr_jax.io import quantise

__all__ = ["figure_rows"]


def figure_rows(sample: Sample, outputs: dict[str, MethodOutput], psnr: dict[str, float]) -> list[list[np.ndarray]]:
    """Rows: one per method (its K, its restoration kernel, a crop of its SR labelled with
    the method and its PSNR on the whole image), then the ground truth (true K if known,
    an empty panel, the HR crop). Like the paper's Fig. 4/5.

    Args:
        sample: the image (HR, true kernel if known).
        outputs: each method's output, by method name.
        psnr: each method's PSNR (dB) on this image, by method name.
    """
    h, w = sample.hr.shape[:2]
    side = min(192, h // 2, w // 2)
    top, left = (h - side) // 2, (w - side) // 2
    crop = lambda image: quantise(image[top : top + side, left : left + side])
    kernels = [k for o in outputs.values() for k in (o.kernel, o.drk) if k is not None]
    kernels += [sample.kernel] if sample.kernel is not None else []
    extent = max((k.shape[0] for k in kernels), default=None)  # one pixel scale for every kernel
    panel = lambda kernel, signed, text: labelled(kernel_panel(kernel, side, signed=signed, extent=extent), text)
    rows = [
        [
            panel(o.kernel, False, f"{name}: K" if o.kernel is not None else f"{name}: no K"),
            panel(o.drk, True, f"{name}: DRK" if o.drk is not None else ""),
            labelled(crop(o.image), f"{name}: {psnr[name]:.2f} dB"),
        ]
        for name, o in outputs.items()
    ]
    rows.append(
        [
            panel(sample.kernel, False, "true K" if sample.kernel is not None else ""),
            panel(None, True, ""),
            labelled(crop(sample.hr), "ground truth"),
        ]
    )
    return rows
