"""How close Deep Identity Learning of the chain gets to its closed form, on DIV2KRK.

    python -m experiments.chain_convergence [--data_root=../shared/datasets] [--scales=2,4]
        [--sizes=11,21,31] [--steps=2000,6000]

Both designs start from the `dil_chain` (= `fast`) preset's spectral estimate of each LR
image. Rows: the closed form (`lmmse_restoration_kernel`) restricted to each support in `--sizes`
(what an L-CNN of that receptive field could reach at best), and the `dil_chain` preset's
fit run for each step count in `--steps` (its learning rate decays tenfold halfway). PSNR
on BT.601 Y of the quantised output, border crop = scale, as RESULTS.md; the gap is paired
on the same images. Prints one Markdown table.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from experiments.harness.scoring import score
from issr_jax import pipeline
from issr_jax.degradation import estimate_degradation
from issr_jax.io import read_image
from issr_jax.presets import get_preset
from issr_jax.restoration.lmmse import lmmse_restoration_kernel, restoration_kernel_size

_DATA_ROOT = flags.DEFINE_string("data_root", "../shared/datasets", "Folder holding DIV2KRK/.")
_SCALES = flags.DEFINE_list("scales", "2,4", "SR factors.")
_SIZES = flags.DEFINE_list("sizes", "11,21,31", "Supports of the restricted closed form.")
_STEPS = flags.DEFINE_list("steps", "2000,6000", "Adam steps of the dil_chain fit (the preset: 6000).")


def _psnr(lr: np.ndarray, hr: np.ndarray, drk: np.ndarray, *, scale: int) -> float:
    inverse = pipeline.Inverse(np.asarray(drk, np.float32), None)
    sr = pipeline.restore(lr, inverse, scale=scale, color="y", method="drk", preset=get_preset("fast"))
    return score(np.asarray(sr), hr, scale=scale, niqe_model=None)["psnr"]


def _row(scale: int, label: str, psnrs: list[float], reference: list[float], seconds: float | None = None) -> tuple:
    gap = np.array(psnrs) - np.array(reference)
    timing = "" if seconds is None else f"{seconds / len(psnrs):.1f}"
    row = (f"x{scale}", label, f"{np.mean(psnrs):.2f}", f"{gap.mean():+.3f}", f"{gap.min():+.2f}", timing)
    print(" | ".join(row), flush=True)
    return row


def _scale_rows(root: Path, scale: int, sizes: list[int], steps_list: list[int]) -> list[tuple]:
    chain = get_preset("dil_chain")
    paths = sorted((root / f"LR_x{scale}").glob("*.png"))
    images = [read_image(p).pixels for p in paths]
    truths = [read_image(root / "HR" / p.name).pixels for p in paths]
    truths = [hr[: lr.shape[0] * scale, : lr.shape[1] * scale] for lr, hr in zip(images, truths)]
    estimate_key, inverse_key = pipeline.stage_keys(jax.random.key(0), preset=chain)
    degradations = [estimate_degradation(lr, scale=scale, key=estimate_key, preset=chain) for lr in images]
    stacked = jax.tree.map(lambda *leaves: np.stack(leaves), *degradations)
    kernels = stacked.kernels
    scores = lambda drks: [_psnr(lr, hr, d, scale=scale) for lr, hr, d in zip(images, truths, drks)]
    reference = scores(lmmse_restoration_kernel(kernels[:, 0], scale=scale))
    rows = []
    for size in sizes:
        label = f"closed form, {size}x{size}" + (" (= `fast`)" if size == restoration_kernel_size(scale) else "")
        rows.append(
            _row(scale, label, scores(lmmse_restoration_kernel(kernels[:, 0], scale=scale, size=size)), reference)
        )
    for steps in steps_list:
        # One Adam step per epoch (the gallery is one minibatch); the rate decays halfway.
        preset = chain.replace(fit=dataclasses.replace(chain.fit, epochs=steps, decay_every_epochs=steps // 2))
        start = time.perf_counter()
        keys = jax.numpy.stack([inverse_key] * len(images))
        drks = np.asarray(pipeline.design_inverse_batch(stacked, scale=scale, keys=keys, preset=preset).drk)
        seconds = time.perf_counter() - start
        rows.append(_row(scale, f"`dil_chain` fit, {steps} Adam steps", scores(drks), reference, seconds))
    return rows


def main(argv: list[str]) -> None:
    root = Path(_DATA_ROOT.value) / "DIV2KRK"
    rows = []
    for scale in (int(s) for s in _SCALES.value):
        rows += _scale_rows(root, scale, [int(s) for s in _SIZES.value], [int(s) for s in _STEPS.value])
    header = ("scale", "design", "PSNR", "gap to `fast`", "worst image", "s per fit (batched, compile incl.)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    app.run(main)
