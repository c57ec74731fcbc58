"""The evaluation harness: datasets x scales x methods -> metrics, tables, images, figures.

Modules by idea: `discovery` (the datasets' layouts, one sample), `methods` (a method
spec through the library's stages), `scoring`, `figures`, `tables` (results.md) and
`loop` (the run). Imports the library; the library never imports it.

`run(config, workdir, data_root)` does the work behind `python -m experiments.run`. For each
(dataset, scale, image) it runs every requested method (see `experiments/configs/common.py`
for the method specs), scores the result as SR papers do, and appends one JSON line per
(image, method) to `metrics.jsonl`. A rerun skips the pairs already there, so an
interrupted run resumes. `results.md` is rewritten from all of `metrics.jsonl` at the end.

Scoring convention (BasicSR / the RCAN MATLAB scripts): the SR output is quantised to
uint8 as a PNG would hold it, HR is cropped to `LR size x scale` (top-left), and PSNR and
SSIM are computed on BT.601 Y with `crop_border = scale`; NIQE on the SR's Y with the same
crop. Grayscale images (Set14 `bridge`, `man`) are read as three equal channels, as
BasicSR's loaders do, so their PSNR-Y is 20 log10(255/219) = 1.32 dB above the grey PSNR.

Times: the three pipeline stages (estimate K, design the inverse, restore) are timed
separately with `block_until_ready`. They include JAX compilation whenever a shape is new
(every new image size for `restore`), so results.md reports medians beside means. Methods
that share a stage on the same image (the paper preset's DRK and L-CNN rows share one
fit) compute it once; each row still reports the stage's time, and lists it in `shared`.
"""

from experiments.harness.discovery import Sample, SampleFiles, list_samples, load_sample
from experiments.harness.figures import figure_rows
from experiments.harness.loop import METRICS_FILE, resolve_niqe_model, run
from experiments.harness.methods import KERNEL_SOURCES, KINDS, MethodOutput, build_preset, run_method
from experiments.harness.scoring import kernel_error, score
from experiments.harness.tables import write_results
from issr_jax.app.figures import compose_figure, kernel_panel

__all__ = [
    "KERNEL_SOURCES",
    "KINDS",
    "METRICS_FILE",
    "MethodOutput",
    "Sample",
    "SampleFiles",
    "build_preset",
    "compose_figure",
    "figure_rows",
    "kernel_error",
    "kernel_panel",
    "list_samples",
    "load_sample",
    "resolve_niqe_model",
    "run",
    "run_method",
    "score",
    "write_results",
]
