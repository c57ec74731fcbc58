"""The built-in demo: an image made offline, degraded with a known kernel.

`demo_image` draws a 'natural-looking' test scene with sharp edges, smooth gradients,
fine periodic detail and 1/f texture from a fixed seed, so the demo and the tests need no
download. `degrade` blurs and subsamples it the way DIV2KRK was made (a Gaussian blur, then one
pixel per `s x s` block, sampled at the block's centre).
"""

from __future__ import annotations

import numpy as np

__all__ = ["demo_image", "demo_kernel", "degrade"]


def demo_image(*, size: int = 384, seed: int = 0) -> np.ndarray:
    """A synthetic RGB scene, `[size, size, 3] float32` in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # 1/f^2 power-spectrum texture (the statistics of natural images).
    freq = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    freq[0, 0] = 1.0
    texture = []
    for _ in range(3):
        spectrum = (rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))) / freq
        field = np.real(np.fft.ifft2(spectrum))
        texture.append((field - field.mean()) / (field.std() + 1e-12))
    image = 0.5 + 0.08 * np.stack(texture, axis=-1)
    image += 0.25 * np.stack([xx, yy, 1 - xx], axis=-1) - 0.125  # smooth colour gradient
    # Flat shapes with sharp edges.
    for _ in range(14):
        cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.04, 0.14)
        colour = rng.uniform(0.05, 0.95, size=3)
        if rng.uniform() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        else:
            mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < 0.6 * r)
        image[mask] = 0.7 * colour + 0.3 * image[mask]
    # Fine detail: a chirped grating in one corner and thin lines.
    corner = (yy > 0.72) & (xx > 0.72)
    grating = 0.5 + 0.4 * np.sin(2 * np.pi * (40 * (xx - 0.72) ** 2 * size / 8 + 0.0))
    image[corner] = grating[corner][:, None]
    for k in range(6):
        row = int(size * (0.08 + 0.03 * k))
        image[row, int(0.05 * size) : int(0.6 * size)] = 0.1 + 0.15 * k
    return np.clip(image, 0.0, 1.0).astype(np.float32)


DEMO_COVARIANCE = np.array([[1.6, 0.55], [0.55, 0.9]])  # HR pixels^2: sigmas about 1.4 and 0.8


def demo_kernel(*, size: int = 11) -> np.ndarray:
    """The demo's known blur, centred: `[size, size] float32`, sums to 1."""
    return _sampled_gaussian(DEMO_COVARIANCE, size=size, shift=0.0).astype(np.float32)


def _sampled_gaussian(covariance: np.ndarray, *, size: int, shift: float) -> np.ndarray:
    offsets = np.arange(size) - size // 2 - shift
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    points = np.stack([rows, cols], axis=-1)
    weights = np.exp(-0.5 * np.einsum("...i,ij,...j->...", points, np.linalg.inv(covariance), points))
    return weights / weights.sum()


def degrade(image: np.ndarray, *, scale: int, covariance: np.ndarray = DEMO_COVARIANCE, size: int = 11) -> np.ndarray:
    """Blur by a Gaussian, then keep one pixel in `scale` along each axis.

    LR pixel `n` is the blurred HR image at position `scale * n + (scale - 1) / 2`, the
    centre of its `scale x scale` block, which is where MATLAB's bicubic (and DIV2KRK's
    generator) put it; for even scales that is between HR pixels, so the Gaussian is
    sampled half a pixel off-centre.

    Args:
        image: `[H, W, C] float` in [0, 1].
        scale: integer factor.
        covariance: `[2, 2]` of the Gaussian, HR pixels^2 (row, column axes).
        size: odd side of the sampled kernel.

    Returns:
        `[H // scale, W // scale, C] float32`.
    """
    base, shift = (scale - 1) // 2, (scale - 1) / 2 - (scale - 1) // 2
    kernel = _sampled_gaussian(np.asarray(covariance, np.float64), size=size, shift=shift)
    r = size // 2
    padded = np.pad(image.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    blurred = np.zeros((h, w, image.shape[2]))
    for i in range(size):
        for j in range(size):
            blurred += kernel[i, j] * padded[i : i + h, j : j + w]
    return blurred[base::scale, base::scale][: h // scale, : w // scale].astype(np.float32)


def run_demo(output_dir, *, scale: int, key, preset="default", method: str = "drk", overwrite: bool = True) -> str:
    """Runs the method on the demo image and writes what a person wants to look at.

    Writes to `output_dir`: `hr.png` (ground truth), `lr.png` (its degraded version),
    `bicubic.png`, `sr.png` (blind), `sr_known_kernel.png` (fitted to the true kernel) and
    `comparison.png` (a crop: bicubic | blind | known kernel | ground truth).

    Returns:
        a short report with the PSNR (Y, border crop = scale) of each result and the times.
    """
    import time
    from pathlib import Path

    from issr_jax.app.figures import compose_figure
    from issr_jax.io import quantise, write_image
    from issr_jax.metrics import psnr
    from issr_jax.pipeline import super_resolve
    from issr_jax.resize import imresize

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    kernel = demo_kernel()
    hr = demo_image()
    lr = degrade(hr, scale=scale)
    hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
    lr = quantise(lr).astype(np.float32)
    results = {"bicubic": quantise(imresize(lr, scale=scale))}
    times = {}
    for name, known in (("sr", None), ("sr_known_kernel", kernel)):
        start = time.perf_counter()
        out = super_resolve(lr, scale=scale, key=key, preset=preset, method=method, kernel=known).image
        results[name] = quantise(out)
        times[name] = time.perf_counter() - start
    for name, image in {"hr": hr, "lr": lr, **results}.items():
        write_image(output_dir / f"{name}.png", image, overwrite=overwrite)
    h, w = hr.shape[:2]
    crop = (slice(h // 4, h // 4 + h // 3), slice(w // 2, w // 2 + w // 3))
    panels = [results["bicubic"][crop], results["sr"][crop], results["sr_known_kernel"][crop], hr[crop]]
    write_image(output_dir / "comparison.png", compose_figure([panels]), overwrite=overwrite)
    lines = [f"demo x{scale}, preset {getattr(preset, 'name', preset)}, method {method}: wrote {output_dir}/"]
    for name in ("bicubic", "sr", "sr_known_kernel"):
        score = psnr(results[name], hr, crop_border=scale)
        timing = f"  ({times[name]:.2f} s, compilation included)" if name in times else ""
        lines.append(f"  {name:16s} PSNR-Y {float(score):6.2f} dB{timing}")
    lines.append("  comparison.png: bicubic | blind | known kernel | ground truth")
    return "\n".join(lines)
