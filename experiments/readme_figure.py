"""Draws docs/figures/how_it_works.png from the built-in demo (x2, default preset).

    python -m experiments.readme_figure [--output=docs/figures/how_it_works.png]

Top row: the estimated kernel, the true kernel, the DRK (each magnified, normalised to
its own range). Bottom row: crops of bicubic, the result, and the ground truth.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from issr_jax.app import demo
from issr_jax.io import write_image
from issr_jax.pipeline import super_resolve
from issr_jax.resize import imresize

flags.DEFINE_string("output", "docs/figures/how_it_works.png", "Where to write the figure.")
FLAGS = flags.FLAGS


def _show_kernel(kernel: np.ndarray, *, side: int) -> np.ndarray:
    """A kernel as a `[side, side, 3]` picture: 0 is mid-gray for signed kernels."""
    k = np.asarray(kernel, np.float64)
    if k.min() < 0:
        k = 0.5 + 0.5 * k / np.abs(k).max()
    else:
        k = k / k.max()
    repeat = max(1, side // k.shape[0])
    big = np.kron(k, np.ones((repeat, repeat)))
    pad = side - big.shape[0]
    big = np.pad(big, ((pad // 2, pad - pad // 2),) * 2, constant_values=1.0)
    return np.repeat(big[..., None], 3, axis=-1)


def _row(panels: list[np.ndarray], gap: int = 6) -> np.ndarray:
    out = []
    for p in panels:
        out += [p, np.ones((p.shape[0], gap, 3))]
    return np.concatenate(out[:-1], axis=1)


def main(argv):
    del argv
    scale = 2
    hr = demo.demo_image()
    lr = demo.degrade(hr, scale=scale)
    result = super_resolve(lr, scale=scale, key=jax.random.key(0))
    true_kernel = demo.demo_kernel(size=result.kernel.shape[0])
    side = 168
    top = _row(
        [
            _show_kernel(result.kernel, side=side),
            _show_kernel(true_kernel, side=side),
            _show_kernel(result.drk, side=side),
        ]
    )
    crop = (slice(200, 200 + side), slice(150, 150 + side))
    bicubic = np.clip(np.asarray(imresize(lr, scale=scale)), 0, 1)
    bottom = _row(
        [bicubic[crop], np.asarray(result.image)[crop], hr[: lr.shape[0] * scale, : lr.shape[1] * scale][crop]]
    )
    figure = np.concatenate([top, np.ones((6, top.shape[1], 3)), bottom], axis=0)
    Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    write_image(FLAGS.output, figure, overwrite=True)
    print(f"wrote {FLAGS.output}: estimated K | true K | DRK over bicubic | default | ground truth")


if __name__ == "__main__":
    app.run(main)
