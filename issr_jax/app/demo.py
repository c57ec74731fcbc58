"""The built-in demo: a real photograph, degraded with a known blur and a little noise.

`demo_photo` is a CC0 photograph shipped in the source tree (`third_party/chelsea/`, with
its source and licence). `degrade` blurs and subsamples it the way DIV2KRK was made (a
Gaussian blur, then one pixel per `s x s` block, sampled at the block's centre); the
demo then adds Gaussian noise and rounds to 8 bits, as a camera file would be.
`demo_result` super-resolves it blind and with the true kernel, `demo_figure` draws the
labelled comparison, `run_demo` writes both. `demo_image` draws a synthetic scene
(sharp edges, smooth gradients, fine periodic detail, 1/f texture) from a fixed seed: the
tests' input, and the demo's where the photograph is absent (an installed wheel).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

__all__ = [
    "DEMO_PHOTO",
    "DemoResult",
    "degrade",
    "demo_figure",
    "demo_image",
    "demo_kernel",
    "demo_photo",
    "demo_result",
    "run_demo",
]

DEMO_PHOTO = Path(__file__).resolve().parents[2] / "third_party" / "chelsea" / "chelsea.webp"
DEMO_NOISE = 1.0 / 255  # standard deviation of the noise added to the LR image, in [0, 1] units
DEMO_DETAIL = (130, 150)  # (row, column) of the photograph the figure's enlarged detail centres on: the left eye


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


def demo_photo() -> np.ndarray | None:
    """The demo photograph, `[288, 384, 3] float32` in [0, 1], or None outside a source
    checkout (it is not part of the installed package)."""
    if not DEMO_PHOTO.is_file():
        return None
    from issr_jax.io import read_image

    return read_image(DEMO_PHOTO).pixels


@dataclasses.dataclass
class DemoResult:
    """What the demo computed; images `[H, W, 3] float32` in [0, 1], as 8-bit files hold them.

    Attributes:
        source: what the ground truth is (the photograph, or the synthetic scene).
        scale, preset, method: the settings.
        hr, lr: the ground truth (cropped to `scale x` the LR) and its degraded version.
        images: `"bicubic"`, `"sr"` (blind), `"sr_known_kernel"` (the true kernel given).
        psnr: dB on BT.601 Y, border crop = scale, for each of `images`.
        seconds: of each super-resolution, compilation included.
        kernel, true_kernel, drk: the blind estimate, the blur applied (same size), and
            the blind restoration kernel.
    """

    source: str
    scale: int
    preset: str
    method: str
    hr: np.ndarray
    lr: np.ndarray
    images: dict[str, np.ndarray]
    psnr: dict[str, float]
    seconds: dict[str, float]
    kernel: np.ndarray
    true_kernel: np.ndarray
    drk: np.ndarray


def demo_result(*, scale: int, key, preset="default", method: str = "drk", noise: float = DEMO_NOISE) -> DemoResult:
    """Degrades the demo photograph (blur `DEMO_COVARIANCE`, subsampling, Gaussian noise of
    standard deviation `noise`, 8 bits), then super-resolves it blind and with the true
    kernel, and scores each result against the photograph."""
    from issr_jax.io import quantise
    from issr_jax.metrics import psnr
    from issr_jax.pipeline import super_resolve
    from issr_jax.resize import imresize

    hr = demo_photo()
    source = "chelsea.webp (CC0, third_party/chelsea)" if hr is not None else "the synthetic scene (no photograph)"
    hr = demo_image() if hr is None else hr
    lr = degrade(hr, scale=scale)
    lr = quantise(lr + np.random.default_rng(0).normal(0.0, noise, lr.shape).astype(np.float32))
    hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
    images, seconds, results = {"bicubic": quantise(imresize(lr, scale=scale))}, {}, {}
    for name, known in (("sr", None), ("sr_known_kernel", demo_kernel())):
        start = time.perf_counter()
        results[name] = super_resolve(lr, scale=scale, key=key, preset=preset, method=method, kernel=known)
        images[name] = quantise(results[name].image)
        seconds[name] = time.perf_counter() - start
    kernel = np.asarray(results["sr"].kernel)
    return DemoResult(
        source=source,
        scale=scale,
        preset=getattr(preset, "name", preset),
        method=method,
        hr=hr,
        lr=lr,
        images=images,
        psnr={name: float(psnr(image, hr, crop_border=scale)) for name, image in images.items()},
        seconds=seconds,
        kernel=kernel,
        true_kernel=demo_kernel(size=kernel.shape[0]),
        drk=np.asarray(results["sr"].drk),
    )


def demo_figure(result: DemoResult, *, kernel_side: int = 192) -> np.ndarray:
    """The labelled comparison: bicubic | issr-jax | ground truth (whole images, each with
    its PSNR), the same three twice enlarged around `DEMO_DETAIL` (the left eye; the
    centre of the synthetic scene), and the estimated kernel | true kernel | restoration
    kernel.

    Returns:
        `[H, W, 3] float32` in [0, 1].
    """
    from issr_jax.app.figures import compose_figure, kernel_panel, labelled

    shown = [result.images["bicubic"], result.images["sr"], result.hr]
    names = ["bicubic", f"issr-jax ({result.preset})", "ground truth"]
    scores = [f": PSNR-Y {result.psnr['bicubic']:.2f} dB", f": PSNR-Y {result.psnr['sr']:.2f} dB", ""]
    h, w = result.hr.shape[:2]
    side = min(128, h // 2, w // 2)
    centre = DEMO_DETAIL if result.source.startswith(DEMO_PHOTO.name) else (h // 2, w // 2)
    top, left = (min(max(c - side // 2, 0), n - side) for c, n in zip(centre, (h, w)))
    detail = lambda image: np.repeat(np.repeat(image[top : top + side, left : left + side], 2, 0), 2, 1)
    extent = max(result.kernel.shape[0], result.drk.shape[0])
    kernels = [
        (kernel_panel(result.kernel, kernel_side, signed=False, extent=extent), "estimated kernel"),
        (kernel_panel(result.true_kernel, kernel_side, signed=False, extent=extent), "true kernel"),
        (kernel_panel(result.drk, kernel_side, signed=True, extent=extent), "restoration kernel (DRK)"),
    ]
    return compose_figure(
        [
            [labelled(image, name + score) for image, name, score in zip(shown, names, scores)],
            [labelled(detail(image), f"{name}, detail x2") for image, name in zip(shown, names)],
            [labelled(panel, name) for panel, name in kernels],
        ],
        gap=6,
    )


def run_demo(output_dir, *, scale: int, key, preset="default", method: str = "drk", overwrite: bool = True) -> str:
    """Runs the method on the demo photograph and writes what a person wants to look at.

    Writes to `output_dir`: `hr.png` (ground truth), `lr.png` (its degraded version),
    `bicubic.png`, `sr.png` (blind), `sr_known_kernel.png` (the true kernel given) and
    `comparison.png` (`demo_figure`).

    Returns:
        a short report with the PSNR (Y, border crop = scale) of each result and the times.
    """
    from issr_jax.io import write_image

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = demo_result(scale=scale, key=key, preset=preset, method=method)
    for name, image in {"hr": result.hr, "lr": result.lr, **result.images}.items():
        write_image(output_dir / f"{name}.png", image, overwrite=overwrite)
    write_image(output_dir / "comparison.png", demo_figure(result), overwrite=overwrite)
    lines = [
        f"demo: {result.source}, blurred, subsampled x{scale}, noise {DEMO_NOISE * 255:g}/255; "
        f"preset {result.preset}, method {method}: wrote {output_dir}/"
    ]
    for name in ("bicubic", "sr", "sr_known_kernel"):
        timing = f"  ({result.seconds[name]:.2f} s, compilation included)" if name in result.seconds else ""
        lines.append(f"  {name:16s} PSNR-Y {result.psnr[name]:6.2f} dB{timing}")
    lines.append("  comparison.png: bicubic | issr-jax | ground truth, centres x2, estimated | true kernel | DRK")
    return "\n".join(lines)
