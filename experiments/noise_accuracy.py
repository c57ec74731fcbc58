"""How well `noise.estimate` reads the noise of an image, on DIV2KRK LR images.

    python -m experiments.noise_accuracy --scale=2

Adds Gaussian noise of each sigma (8-bit levels, to each RGB channel; seeded per image
as `experiments.harness.variants`), rounds to 8 bits, and compares the estimate (per
channel: the luma's divided by `luma_noise_gain`) with sigma: mean, worst relative error
and time per image. The `sd` row is signal-dependent noise of variance `0.1 x + 1`; its
reference is the noise's RMS over the image's unsaturated pixels.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from absl import app, flags

from experiments.harness.variants import _rng
from issr_jax.io import read_image
from issr_jax.noise.estimate import estimate_luma_noise, luma_noise_gain

_DATA_ROOT = flags.DEFINE_string("data_root", "../shared/datasets", "Folder holding DIV2KRK/.")
_SCALE = flags.DEFINE_integer("scale", 2, "Which LR images (LR_xS).")
_SIGMAS = flags.DEFINE_list("sigmas", "0,0.5,1,2,5,10,20,sd", "Noise levels (8-bit levels), sd: signal-dependent.")


def main(argv: list[str]) -> None:
    del argv
    paths = sorted((Path(_DATA_ROOT.value) / "DIV2KRK" / f"LR_x{_SCALE.value}").glob("*.png"))
    images = [(p.stem, read_image(p).pixels[..., :3] * 255.0) for p in paths]
    print(f"{len(images)} DIV2KRK LR_x{_SCALE.value} images")
    print("| sigma | mean estimate | worst relative error | seconds per image |")
    print("|---|---|---|---|")
    for level in _SIGMAS.value:
        estimates, truths, seconds = [], [], 0.0
        for name, levels in images:
            if level == "sd":
                spread = np.sqrt(0.1 * levels + 1.0)
                truth = float(np.sqrt(np.mean(spread**2)))
            else:
                spread, truth = float(level), float(level)
            noisy = np.clip(np.round(levels + _rng(name).normal(0.0, 1.0, levels.shape) * spread), 0, 255)
            start = time.perf_counter()
            estimate = float(estimate_luma_noise((noisy / 255.0).astype(np.float32))) / luma_noise_gain(3)
            seconds += time.perf_counter() - start
            estimates.append(estimate)
            truths.append(truth)
        estimates, truths = np.array(estimates), np.array(truths)
        worst = "-" if level == "0" else f"{np.max(np.abs(estimates - truths) / truths) * 100:.0f}%"
        print(f"| {level} | {estimates.mean():.2f} | {worst} | {seconds / len(images):.2f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
