"""Plots each image's PSNR gain of one method over bicubic, per dataset and scale.

    python -m experiments.plot_gains --workdirs=workdirs/gains_div2krk,workdirs/gains_bicubic_sets \
        [--method=default_drk] [--output=docs/figures/gains.png]

Reads the `metrics.jsonl` of harness workdirs (`python -m experiments.run`), pairs every
record of `--method` with the bicubic record of the same image, and draws one column of
dots per (dataset, scale), its mean as a bar, the worst image named when it loses more
than 1 dB. Prints the numbers drawn (n, mean, min, max per column). A table of means hides
what this shows: whether a mean is many small gains or a few large losses.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from absl import app, flags

from experiments.harness.gains import paired_gains

flags.DEFINE_list("workdirs", None, "Harness workdirs whose metrics.jsonl to read.")
flags.DEFINE_string("method", "default_drk", "The method compared with bicubic (a method name of the configs).")
flags.DEFINE_string("output", "docs/figures/gains.png", "Where to write the plot (PNG).")
flags.mark_flag_as_required("workdirs")
FLAGS = flags.FLAGS


def plot_gains(gains: dict[tuple[str, int], list[tuple[str, float]]], *, method: str, output: Path) -> None:
    """Writes the plot of `paired_gains` to `output` (PNG, about 1000 x 450 pixels)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    rng = np.random.default_rng(0)  # the horizontal jitter of the dots, the same every run
    for column, pairs in enumerate(gains.values()):
        values = np.array([gain for _, gain in pairs])
        axes.scatter(column + rng.uniform(-0.18, 0.18, len(values)), values, s=10, alpha=0.5, color="tab:blue")
        axes.plot([column - 0.3, column + 0.3], [values.mean()] * 2, color="black", linewidth=2)
        worst_image, worst = min(pairs, key=lambda pair: pair[1])
        if worst < -1:
            axes.annotate(worst_image, (column, worst), xytext=(6, 0), textcoords="offset points", fontsize=8)
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xticks(range(len(gains)), [f"{d} x{s}\n(n={len(p)})" for (d, s), p in gains.items()], fontsize=8)
    axes.set_ylabel("PSNR-Y gain over bicubic (dB)")
    axes.set_title(f"{method}: each dot one image, bar = mean; above 0 beats MATLAB bicubic")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    plt.close(figure)


def main(argv):
    del argv
    records = []
    for workdir in FLAGS.workdirs:
        lines = (Path(workdir) / "metrics.jsonl").read_text().splitlines()
        records += [json.loads(line) for line in lines if line.strip()]
    gains = paired_gains(records, FLAGS.method)
    if not gains:
        raise app.UsageError(f"no {FLAGS.method} records paired with bicubic in {FLAGS.workdirs}")
    plot_gains(gains, method=FLAGS.method, output=Path(FLAGS.output))
    print(f"wrote {FLAGS.output}; {FLAGS.method} minus bicubic, PSNR-Y dB:")
    for (dataset, scale), pairs in gains.items():
        values = [gain for _, gain in pairs]
        worst = min(pairs, key=lambda pair: pair[1])
        print(
            f"  {dataset} x{scale}: n={len(values)} mean {statistics.fmean(values):+.2f}, "
            f"min {worst[1]:+.2f} ({worst[0]}), max {max(values):+.2f}, "
            f"{sum(v > 0 for v in values)} of {len(values)} above bicubic"
        )


if __name__ == "__main__":
    app.run(main)
