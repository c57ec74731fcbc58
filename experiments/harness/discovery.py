"""Sample discovery: the datasets' file layouts, and one sample read with its ground truth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from issr_jax.io import read_image, read_kernel

__all__ = ["Sample", "SampleFiles", "list_samples", "load_sample"]


def _natural_key(name: str) -> list:
    """`im_2` before `im_10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class Sample(NamedTuple):
    """One LR image with its ground truth.

    Attributes:
        dataset, name, scale: identification (`name` is the HR file's stem).
        lr: `[h, w, 3] float32` in [0, 1].
        hr: `[h*scale, w*scale, 3] float32` in [0, 1], cropped top-left to the LR size x scale.
        kernel: `[k, k] float32` true degradation kernel as a true convolution (DIV2KRK),
            or None.
        jpeg_table: the `[8, 8]` luma quantisation table when the LR file is a JPEG.
    """

    dataset: str
    name: str
    scale: int
    lr: np.ndarray
    hr: np.ndarray
    kernel: np.ndarray | None
    jpeg_table: np.ndarray | None = None


class SampleFiles(NamedTuple):
    dataset: str
    name: str
    scale: int
    lr: Path
    hr: Path
    kernel: Path | None


def list_samples(data_root: Path, dataset: str, scale: int) -> list[SampleFiles]:
    """The images of one dataset at one scale, sorted naturally by name.

    Layouts (see the datasets' README): DIV2KRK has `HR/im_N.png`, `LR_xS/im_N.png` and
    `kernels_xS/kernel_N.mat`; Set5, Set14 and BSD100 have `HR/NAME.png` and
    `LR_xS/NAMExS.png`.

    Raises:
        FileNotFoundError: the dataset or scale folder is missing, or an HR image has no LR.
    """
    root = Path(data_root) / dataset
    hr_dir, lr_dir = root / "HR", root / f"LR_x{scale}"
    kernels = dataset.split("@")[0] == "DIV2KRK" and not dataset.endswith("@bicubic")
    for folder in (hr_dir, lr_dir):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: missing (is --data_root right? it holds "
                f"{', '.join(sorted(p.name for p in Path(data_root).glob('*')))})"
            )
    samples = []
    for hr in sorted(hr_dir.glob("*.png"), key=lambda p: _natural_key(p.stem)):
        name = hr.stem
        stem = name if kernels else f"{name}x{scale}"
        lr = next((lr_dir / f"{stem}{s}" for s in (".png", ".jpg") if (lr_dir / f"{stem}{s}").is_file()), None)
        lr = lr or lr_dir / f"{stem}.png"
        kernel = None
        if kernels:
            kernel = root / f"kernels_x{scale}" / f"kernel_{name.split('_')[-1]}.mat"
            kernel = kernel if kernel.is_file() else None
        if not lr.is_file():
            raise FileNotFoundError(f"{lr}: the LR image of {hr} is missing")
        samples.append(SampleFiles(dataset, name, scale, lr, hr, kernel))
    if not samples:
        raise FileNotFoundError(f"{hr_dir}: no PNG images")
    return samples


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def load_sample(files: SampleFiles) -> Sample:
    """Reads one sample: RGBA LR (DIV2KRK) loses its constant alpha, grey becomes RGB,
    HR is cropped to the LR size x scale, the kernel (a correlation kernel in DIV2KRK's
    generator) is flipped into a true-convolution kernel."""
    lr_image = read_image(files.lr)
    lr = _as_rgb(lr_image.pixels)
    hr = _as_rgb(read_image(files.hr).pixels)
    h, w = lr.shape[0] * files.scale, lr.shape[1] * files.scale
    if hr.shape[0] < h or hr.shape[1] < w:
        raise ValueError(f"{files.hr}: HR {hr.shape[:2]} is smaller than LR {lr.shape[:2]} x {files.scale}")
    kernel = None
    if files.kernel is not None:
        # KernelGAN's generator correlates the HR with K; convolution takes flip(K).
        kernel = np.ascontiguousarray(np.flip(read_kernel(files.kernel)))
    return Sample(files.dataset, files.name, files.scale, lr, hr[:h, :w], kernel, lr_image.jpeg_luma_table)
