"""Plots the mean PSNR gain over bicubic against the noise level and the JPEG quality.

    python -m experiments.plot_real_inputs --workdirs=workdirs/real_inputs_x2,workdirs/real_inputs_x4 \
        [--output=docs/figures/real_inputs.png]

Reads the `metrics.jsonl` of `experiments/configs/real_inputs.py` runs; per scale, one
panel of gain against Gaussian sigma (0 = the clean images) and one against JPEG quality
(100 = clean), a line per method (`fast`, `default`, the true-kernel oracle), the worst
image's gain as a dotted line. Prints the numbers drawn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from absl import app, flags

from experiments.harness.gains import paired_gains

flags.DEFINE_list("workdirs", None, "real_inputs workdirs whose metrics.jsonl to read.")
flags.DEFINE_string("output", "docs/figures/real_inputs.png", "Where to write the plot (PNG).")
flags.mark_flag_as_required("workdirs")
FLAGS = flags.FLAGS

METHODS = (
    ("fast_drk", "fast", "tab:gray"),
    ("default_drk", "default", "tab:blue"),
    ("oracle_drk", "true K", "tab:green"),
)


def _level(variant: str) -> tuple[str, float] | None:
    """`("noise", sigma)` or `("jpeg", quality)`; the clean images belong to both axes."""
    if variant == "clean":
        return ("clean", 0.0)
    if match := re.fullmatch(r"g(\d+(?:\.\d+)?)", variant):
        return ("noise", float(match[1]))
    if match := re.fullmatch(r"j(\d+)", variant):
        return ("jpeg", float(match[1]))
    return None


def main(argv: list[str]) -> None:
    del argv
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [
        json.loads(line) for w in FLAGS.workdirs for line in (Path(w) / "metrics.jsonl").read_text().splitlines()
    ]
    scales = sorted({int(r["scale"]) for r in records})
    figure, axes = plt.subplots(len(scales), 2, figsize=(10, 3.6 * len(scales)), squeeze=False)
    for row, scale in enumerate(scales):
        for method, label, colour in METHODS:
            points = {"noise": [], "jpeg": []}
            for (dataset, s), gains in paired_gains(records, method).items():
                level = _level(dataset.split("@")[-1])
                if s != scale or level is None:
                    continue
                values = [g for _, g in gains]
                mean, worst = sum(values) / len(values), min(values)
                kinds = ("noise", "jpeg") if level[0] == "clean" else (level[0],)
                for kind in kinds:
                    x = level[1] if kind == "noise" else (100.0 if level[0] == "clean" else level[1])
                    points[kind].append((x, mean, worst))
                print(f"x{scale} {dataset} {label}: mean {mean:+.2f}, worst {worst:+.2f} (n {len(values)})")
            for column, kind in enumerate(("noise", "jpeg")):
                ordered = sorted(points[kind])
                if not ordered:
                    continue
                ax = axes[row][column]
                xs = [p[0] for p in ordered]
                ax.plot(xs, [p[1] for p in ordered], "o-", color=colour, label=f"{label} (mean)")
                ax.plot(xs, [p[2] for p in ordered], ":", color=colour, label=f"{label} (worst image)")
        for column, title in enumerate(
            ("Gaussian noise sigma (8-bit levels, per channel)", "JPEG quality (100: clean)")
        ):
            ax = axes[row][column]
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_xlabel(title)
            ax.set_ylabel(f"x{scale}: PSNR-Y gain over bicubic (dB)")
            ax.grid(alpha=0.3)
            if column == 1:
                ax.invert_xaxis()
        axes[row][0].legend(fontsize=7)
    figure.suptitle("DIV2KRK dev, gain over bicubic of the same degraded input")
    figure.tight_layout()
    Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(FLAGS.output, dpi=85)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
