"""Draws docs/figures/how_it_works.jpg: the demo's labelled comparison (x2, default preset).

    python -m experiments.readme_figure [--output=docs/figures/how_it_works.jpg]

The figure `make demo` writes as issr_demo/comparison.png (`issr_jax.app.demo.demo_figure`):
bicubic | issr-jax | ground truth with their PSNR, the same enlarged around the left eye,
and the estimated kernel | true kernel | restoration kernel. Saved as a JPEG (quality 80)
so that the committed file stays small.
"""

from __future__ import annotations

from pathlib import Path

import jax
from absl import app, flags

from issr_jax.app import demo
from issr_jax.io import write_image

flags.DEFINE_string("output", "docs/figures/how_it_works.jpg", "Where to write the figure.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    result = demo.demo_result(scale=2, key=jax.random.key(0))
    Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    write_image(FLAGS.output, demo.demo_figure(result), overwrite=True, quality=80)
    scores = ", ".join(f"{name} {value:.2f} dB" for name, value in result.psnr.items())
    print(f"wrote {FLAGS.output} from {result.source}: PSNR-Y {scores}")


if __name__ == "__main__":
    app.run(main)
