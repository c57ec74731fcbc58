"""Degraded copies of the datasets, built deterministically in the workdir.

A dataset name `BASE@VARIANT` in a config names a copy of `BASE` (a folder under the
data root) whose LR images are degraded as `VARIANT` says; the copy is written under
`WORKDIR/inputs/BASE@VARIANT/` the first time it is needed, with links to the original HR
images and kernels, and read from there like any dataset (so JPEG variants go through the
file reader and its quantisation table, as a user's file would):

- `clean`: the LR images as they are (PNG);
- `gN`: Gaussian noise of standard deviation N 8-bit levels added to each RGB channel,
  rounded to 8 bits (PNG);
- `sd`: signal-dependent (Poisson-Gaussian) noise of variance `0.1 x + 1` at level `x`
  (8-bit levels: a camera at a moderate gain), rounded (PNG);
- `jQ`: saved by Pillow as a JPEG of quality Q (4:2:0 chroma, its default);
- `bicubic` (any base with HR images): each HR image's centre crop of `CROP` pixels,
  shrunk by MATLAB bicubic (antialiased) at the config's scales: sharp photographs
  downscaled by software, in Set5's layout.

The noise of image NAME is drawn from `default_rng([SEED, crc32(NAME)])`: the same
variant is the same files on every machine.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import numpy as np
import PIL.Image

from issr_jax.io import read_image
from issr_jax.resize import imresize

__all__ = ["CROP", "SEED", "variant_root"]

SEED = 2026
CROP = 480  # HR crop side of the `bicubic` variant: divisible by 2, 3 and 4


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def _link(target: Path, link: Path) -> None:
    if not link.exists():
        os.symlink(os.path.abspath(target), link)


def _rgb8(pixels: np.ndarray) -> np.ndarray:
    pixels = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
    return np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8)


def _degrade(lr: Path, out_stem: Path, variant: str, name: str) -> None:
    pixels = read_image(lr).pixels
    levels = np.repeat(pixels, 3, axis=-1).astype(np.float64) * 255.0 if pixels.shape[-1] == 1 else pixels * 255.0
    if variant == "clean":
        PIL.Image.fromarray(_rgb8(pixels)).save(out_stem.with_suffix(".png"))
    elif match := re.fullmatch(r"g(\d+(?:\.\d+)?)", variant):
        noisy = levels + _rng(name).normal(0.0, float(match[1]), levels.shape)
        PIL.Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8)).save(out_stem.with_suffix(".png"))
    elif variant == "sd":
        noisy = levels + _rng(name).normal(0.0, 1.0, levels.shape) * np.sqrt(0.1 * levels + 1.0)
        PIL.Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8)).save(out_stem.with_suffix(".png"))
    elif match := re.fullmatch(r"j(\d+)", variant):
        PIL.Image.fromarray(_rgb8(pixels)).save(out_stem.with_suffix(".jpg"), quality=int(match[1]))
    else:
        raise ValueError(f"unknown variant {variant!r}: clean, gN (e.g. g5), sd, jQ (e.g. j75) or bicubic")


def _bicubic_set(base: Path, root: Path, scales: list[int]) -> None:
    (root / "HR").mkdir(parents=True, exist_ok=True)
    for hr in sorted((base / "HR").glob("*.png")):
        target = root / "HR" / hr.name
        pixels = read_image(hr).pixels
        h, w = pixels.shape[:2]
        top, left = max((h - CROP) // 2, 0), max((w - CROP) // 2, 0)
        crop = pixels[top : top + CROP, left : left + CROP]
        if not target.exists():
            PIL.Image.fromarray(_rgb8(crop)).save(target)
        for scale in scales:
            folder = root / f"LR_x{scale}"
            folder.mkdir(exist_ok=True)
            lr = folder / f"{hr.stem}x{scale}.png"
            if not lr.exists():
                PIL.Image.fromarray(_rgb8(np.asarray(imresize(crop, scale=1 / scale)))).save(lr)


def variant_root(data_root: Path, workdir: Path, dataset: str, scale: int) -> Path:
    """The data root holding `dataset` (`BASE@VARIANT`) at `scale`, built if missing."""
    base_name, variant = dataset.split("@", 1)
    base = Path(data_root) / base_name
    root = Path(workdir) / "inputs"
    folder = root / dataset
    if variant == "bicubic":
        _bicubic_set(base, folder, [scale])
        return root
    (folder / f"LR_x{scale}").mkdir(parents=True, exist_ok=True)
    _link(base / "HR", folder / "HR")
    if (base / f"kernels_x{scale}").is_dir():
        _link(base / f"kernels_x{scale}", folder / f"kernels_x{scale}")
    for lr in sorted((base / f"LR_x{scale}").glob("*.png")):
        out_stem = folder / f"LR_x{scale}" / lr.stem
        if not any(out_stem.with_suffix(s).exists() for s in (".png", ".jpg")):
            _degrade(lr, out_stem, variant, lr.stem)
    return root
