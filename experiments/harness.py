"""The evaluation harness: datasets x scales x methods -> metrics, tables, images, figures.

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

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from issr_jax import pipeline

from issr_jax.restoration import baselines
from issr_jax.io import read_image, write_image
from issr_jax.io.kernel_files import read_kernel
from issr_jax.metrics import NIQE_MODEL_ENV, niqe, psnr, ssim
from issr_jax.presets import Preset, get_preset

__all__ = [
    "Sample",
    "list_samples",
    "load_sample",
    "build_preset",
    "run_method",
    "score",
    "kernel_error",
    "compose_figure",
    "write_results",
    "resolve_niqe_model",
    "run",
]

KINDS = ("bicubic", "issr", "wiener", "pinv")
KERNEL_SOURCES = ("estimated", "true")
METRICS_FILE = "metrics.jsonl"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _csv(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def _natural_key(name: str) -> list:
    """`im_2` before `im_10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def quantise(image) -> np.ndarray:
    """`[H, W, C] float32`: the values a uint8 PNG of `image` holds, back in [0, 1]."""
    return (np.round(np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


# ---------------------------------------------------------------------------- datasets


class Sample(NamedTuple):
    """One LR image with its ground truth.

    Attributes:
      dataset, name, scale: identification (`name` is the HR file's stem).
      lr: `[h, w, 3] float32` in [0, 1].
      hr: `[h*scale, w*scale, 3] float32` in [0, 1], cropped top-left to the LR size x scale.
      kernel: `[k, k] float32` true degradation kernel as a true convolution (DIV2KRK),
        or None.
    """

    dataset: str
    name: str
    scale: int
    lr: np.ndarray
    hr: np.ndarray
    kernel: np.ndarray | None


class SampleFiles(NamedTuple):
    dataset: str
    name: str
    scale: int
    lr: Path
    hr: Path
    kernel: Path | None


def list_samples(data_root: Path, dataset: str, scale: int) -> list[SampleFiles]:
    """The images of one dataset at one scale, sorted naturally by name.

    Layouts (see the datasets' README): DIV2KRK has `HR/im_N.png`, `LR_xS/im_N.png` and
    `kernels_xS/kernel_N.mat`; Set5, Set14 and BSD100 have `HR/NAME.png` and
    `LR_xS/NAMExS.png`.

    Raises:
      FileNotFoundError: the dataset or scale folder is missing, or an HR image has no LR.
    """
    root = Path(data_root) / dataset
    hr_dir, lr_dir = root / "HR", root / f"LR_x{scale}"
    for folder in (hr_dir, lr_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: missing (is --data_root right? it holds {', '.join(sorted(p.name for p in Path(data_root).glob('*')))})")
    samples = []
    for hr in sorted(hr_dir.glob("*.png"), key=lambda p: _natural_key(p.stem)):
        name = hr.stem
        if dataset == "DIV2KRK":
            lr = lr_dir / f"{name}.png"
            kernel = root / f"kernels_x{scale}" / f"kernel_{name.split('_')[-1]}.mat"
            kernel = kernel if kernel.is_file() else None
        else:
            lr = lr_dir / f"{name}x{scale}.png"
            kernel = None
        if not lr.is_file():
            raise FileNotFoundError(f"{lr}: the LR image of {hr} is missing")
        samples.append(SampleFiles(dataset, name, scale, lr, hr, kernel))
    if not samples:
        raise FileNotFoundError(f"{hr_dir}: no PNG images")
    return samples


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def load_sample(files: SampleFiles) -> Sample:
    """Reads one sample: RGBA LR (DIV2KRK) loses its constant alpha, grey becomes RGB,
    HR is cropped to the LR size x scale, the kernel (a correlation kernel in DIV2KRK's
    generator) is flipped into a true-convolution kernel."""
    lr = _as_rgb(read_image(files.lr).pixels)
    hr = _as_rgb(read_image(files.hr).pixels)
    h, w = lr.shape[0] * files.scale, lr.shape[1] * files.scale
    if hr.shape[0] < h or hr.shape[1] < w:
        raise ValueError(f"{files.hr}: HR {hr.shape[:2]} is smaller than LR {lr.shape[:2]} x {files.scale}")
    kernel = None
    if files.kernel is not None:
        # KernelGAN's generator correlates the HR with K; convolution takes flip(K).
        kernel = np.ascontiguousarray(np.flip(read_kernel(files.kernel)))
    return Sample(files.dataset, files.name, files.scale, lr, hr[:h, :w], kernel)


# ---------------------------------------------------------------------------- methods


def _apply_overrides(obj: Any, overrides: dict, where: str) -> Any:
    """`dataclasses.replace` applied recursively: nested dicts go into nested dataclasses."""
    changes = {}
    for key, value in overrides.items():
        if not hasattr(obj, key):
            raise ValueError(f"{where}: {type(obj).__name__} has no field {key!r}")
        current = getattr(obj, key)
        if isinstance(value, dict):
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"{where}.{key} is not a nested settings object; give a value")
            value = _apply_overrides(current, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(obj, **changes)


def build_preset(spec: ml_collections.ConfigDict, name: str) -> Preset:
    """The spec's preset with its overrides applied (e.g. `fit.weights.pinv`)."""
    overrides = spec.overrides.to_dict() if isinstance(spec.overrides, ml_collections.ConfigDict) else dict(spec.overrides)
    preset = _apply_overrides(get_preset(spec.preset), overrides, f"method_specs.{name}.overrides")
    return preset.replace(name=name)


def _check_spec(spec: ml_collections.ConfigDict, name: str) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"method_specs.{name}.kind must be one of {KINDS}, got {spec.kind!r}")
    if spec.kernel_source not in KERNEL_SOURCES:
        raise ValueError(f"method_specs.{name}.kernel_source must be one of {KERNEL_SOURCES}, got {spec.kernel_source!r}")
    if spec.kind == "issr" and spec.method not in pipeline.METHODS:
        raise ValueError(f"method_specs.{name}.method must be one of {pipeline.METHODS}, got {spec.method!r}")
    if spec.kind == "issr" and spec.method == "lcnn" and build_preset(spec, name).inverse != "dil":
        raise ValueError(f"method_specs.{name}: method 'lcnn' needs a preset with inverse='dil'")


class MethodOutput(NamedTuple):
    image: np.ndarray  # [sH, sW, 3] float32 in [0, 1], not yet quantised
    kernel: np.ndarray | None  # the K the restoration was designed for
    drk: np.ndarray | None  # the restoration kernel
    seconds: dict  # stage -> seconds
    shared: list  # stages reused from another method on the same image
    extra: dict  # anything else worth a JSON field


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = jax.block_until_ready(function())
    return value, time.perf_counter() - start


def _true_gallery(kernel: np.ndarray, preset: Preset) -> jax.Array:
    """A supplied kernel as `design_inverse`'s `[N, k, k]` input, as `super_resolve(kernel=)`
    builds it: normalised, repeated to the gallery size for the identity fit."""
    kernel = jnp.asarray(kernel / kernel.sum(), jnp.float32)
    count = preset.num_kernels if preset.inverse == "dil" else 1
    return jnp.broadcast_to(kernel, (count, *kernel.shape))


def _estimator_key(preset: Preset) -> tuple:
    return (preset.estimator, preset.kernel_size, preset.pixel_scale, tuple(preset.delta_range), preset.num_kernels)


def run_method(spec: ml_collections.ConfigDict, name: str, sample: Sample, *, key: jax.Array, cache: dict) -> MethodOutput | None:
    """Runs one method spec on one sample; None when it needs a true kernel there is not.

    `cache` is per image: kernel estimates and designed inverses are shared between the
    methods that would compute the same thing (same estimator settings, same preset up
    to its name and colour, same kernel source).
    """
    lr = jnp.asarray(sample.lr)
    scale = sample.scale
    if spec.kind == "bicubic":
        image, seconds = _timed(lambda: baselines.bicubic(lr, scale=scale))
        return MethodOutput(np.asarray(image), None, None, {"restore": seconds}, [], {})
    if spec.kernel_source == "true" and sample.kernel is None:
        return None
    preset = build_preset(spec, name)
    estimate_key, inverse_key = jax.random.split(key)  # as pipeline.super_resolve
    seconds, shared = {}, []

    if spec.kernel_source == "true":
        kernels = _true_gallery(sample.kernel, preset)
    else:
        cache_key = ("estimate", _estimator_key(preset))
        if cache_key not in cache:
            cache[cache_key] = _timed(lambda: pipeline.estimate_kernels(lr, scale=scale, key=estimate_key, preset=preset))
        else:
            shared.append("estimate")
        kernels, seconds["estimate"] = cache[cache_key]
        if preset.inverse == "dil" and kernels.shape[0] == 1:
            # A single estimate (spectral) fed to the identity fit: repeat it to the gallery
            # size, as a supplied kernel is (the fit's minibatches need N % batch_size == 0).
            kernels = jnp.broadcast_to(kernels, (preset.num_kernels, *kernels.shape[1:]))
    kernel = np.asarray(jnp.mean(kernels, axis=0))

    if spec.kind in ("wiener", "pinv"):
        restore = baselines.wiener_restore if spec.kind == "wiener" else baselines.pinv_restore
        image, seconds["restore"] = _timed(lambda: restore(lr, scale=scale, kernel=kernel))
        drk = baselines.pinv_kernel(kernel) if spec.kind == "pinv" else None
        return MethodOutput(np.asarray(image), kernel, drk, seconds, shared, {})

    cache_key = ("inverse", dataclasses.replace(preset, name="", color="y"), spec.kernel_source)
    if cache_key not in cache:
        cache[cache_key] = _timed(lambda: pipeline.design_inverse(kernels, scale=scale, key=inverse_key, preset=preset))
    else:
        shared.append("invert")
    inverse, seconds["invert"] = cache[cache_key]
    image, seconds["restore"] = _timed(
        lambda: pipeline.restore(lr, inverse, scale=scale, color=preset.color, method=spec.method, preset=preset)
    )
    extra = {}
    if inverse.fit is not None:
        losses = np.asarray(inverse.fit.losses)
        extra["fit_final_loss"] = float(losses[-1])
        extra["fit_loss_finite"] = bool(np.all(np.isfinite(losses)))
    return MethodOutput(np.asarray(image), kernel, np.asarray(inverse.drk), seconds, shared, extra)


# ---------------------------------------------------------------------------- scoring


def score(sr: np.ndarray, hr: np.ndarray, *, scale: int, niqe_model: str | None) -> dict:
    """PSNR-Y, SSIM-Y (crop = scale) of the quantised SR against HR, and NIQE of the SR.

    NIQE is None when no model is given or the image is too small for it (< two 96x96
    blocks after the crop).
    """
    sr = quantise(sr)
    result = {
        "psnr": float(psnr(sr, hr, crop_border=scale, y_channel=True)),
        "ssim": float(ssim(sr, hr, crop_border=scale, y_channel=True)),
        "niqe": None,
    }
    if niqe_model:
        try:
            result["niqe"] = float(niqe(sr, crop_border=scale, model_path=niqe_model))
        except ValueError as error:  # too small for two blocks
            result["niqe_error"] = str(error)
    return result


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Relative L2 error `||K_est - K_true|| / ||K_true||`, both normalised to sum 1 and
    zero-padded to a common centred canvas (the larger side; both sides odd)."""
    size = max(estimate.shape[0], truth.shape[0])

    def canvas(kernel):
        kernel = np.asarray(kernel, np.float64)
        kernel = kernel / kernel.sum()
        pad = (size - kernel.shape[0]) // 2
        return np.pad(kernel, pad)

    a, b = canvas(estimate), canvas(truth)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---------------------------------------------------------------------------- figures


def _kernel_panel(kernel: np.ndarray | None, size: int, *, signed: bool, extent: int | None = None) -> np.ndarray:
    """A kernel as a `[size, size, 3]` grey panel, enlarged by pixel repetition.

    `extent` (default: the kernel's side) is the side that fills the panel, so kernels of
    different sizes drawn with the same `extent` share one pixel scale.

    Non-negative kernels map 0 -> black, max -> white; signed ones (a DRK) map 0 -> mid
    grey and +-max|value| -> white/black. No kernel: a white panel.
    """
    panel = np.ones((size, size, 3), np.float32)
    if kernel is None:
        return panel
    kernel = np.asarray(kernel, np.float32)
    peak = float(np.max(np.abs(kernel))) or 1.0
    shown = 0.5 + 0.5 * kernel / peak if signed else np.clip(kernel / peak, 0.0, 1.0)
    factor = max(1, size // max(extent or 0, kernel.shape[0]))
    big = np.repeat(np.repeat(shown, factor, axis=0), factor, axis=1)[:size, :size]
    top, left = (size - big.shape[0]) // 2, (size - big.shape[1]) // 2
    panel[top : top + big.shape[0], left : left + big.shape[1]] = big[..., None]
    return panel


def compose_figure(rows: list[list[np.ndarray]], *, gap: int = 4) -> np.ndarray:
    """Panels `[h, w, 3]` in [0, 1] arranged in rows on a white background, `gap` pixels apart."""
    height = max(p.shape[0] for row in rows for p in row)
    lines = []
    for row in rows:
        line = []
        for panel in row:
            panel = np.pad(panel, ((0, height - panel.shape[0]), (0, gap), (0, 0)), constant_values=1.0)
            line.append(panel)
        lines.append(np.concatenate(line, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=1.0) for line in lines]
    return np.concatenate(lines, axis=0)[:-gap, :-gap]


def _figure_rows(sample: Sample, outputs: dict[str, MethodOutput]) -> list[list[np.ndarray]]:
    """Rows: one per method (its K, its restoration kernel, a crop of its SR), then the
    ground truth (true K if known, an empty panel, the HR crop). Like the paper's Fig. 4/5."""
    h, w = sample.hr.shape[:2]
    side = min(192, h // 2, w // 2)
    top, left = (h - side) // 2, (w - side) // 2
    crop = lambda image: quantise(image[top : top + side, left : left + side])
    kernels = [k for o in outputs.values() for k in (o.kernel, o.drk) if k is not None]
    kernels += [sample.kernel] if sample.kernel is not None else []
    extent = max((k.shape[0] for k in kernels), default=None)  # one pixel scale for every kernel
    panel = lambda kernel, signed: _kernel_panel(kernel, side, signed=signed, extent=extent)
    rows = [[panel(o.kernel, False), panel(o.drk, True), crop(o.image)] for o in outputs.values()]
    rows.append([panel(sample.kernel, False), panel(None, True), crop(sample.hr)])
    return rows


# ---------------------------------------------------------------------------- results.md


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _fmt(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def write_results(records: list[dict], path: Path, config: ml_collections.ConfigDict) -> None:
    """results.md from all records: per dataset, rows = methods, columns = NIQE / SSIM /
    PSNR per scale (means over images), then the paired gain over bicubic, the stage
    times and the kernel errors."""
    labels = {name: config.method_specs[name].label for name in config.method_specs}
    order = _csv(config.methods) + [m for m in config.method_specs if m not in _csv(config.methods)]
    by = {}
    for record in records:
        by.setdefault((record["dataset"], record["scale"], record["method"]), {})[record["image"]] = record
    datasets = sorted({r["dataset"] for r in records}, key=lambda d: _csv(config.datasets).index(d) if d in _csv(config.datasets) else 99)
    present = {r["method"] for r in records}
    methods = [m for m in order if m in present]
    methods += sorted(present - set(methods))
    lines = [f"# {config.title}", "", "Generated by `experiments/harness.py` from `metrics.jsonl`; "
             "PSNR/SSIM on Y with border crop = scale, SR quantised to uint8; NIQE on the SR's Y (lower is better). "
             "n = images scored.", ""]
    for dataset in datasets:
        scales = sorted({r["scale"] for r in records if r["dataset"] == dataset})
        lines += [f"## {dataset}", ""]
        header = "| method | " + " | ".join(f"x{s} NIQE | x{s} SSIM | x{s} PSNR | x{s} n" for s in scales) + " |"
        lines += [header, "|---|" + "---|" * (4 * len(scales))]
        for m in methods:
            cells = []
            for s in scales:
                rows = list(by.get((dataset, s, m), {}).values())
                cells += [
                    _fmt(_mean(r["niqe"] for r in rows), 2),
                    _fmt(_mean(r["ssim"] for r in rows), 4),
                    _fmt(_mean(r["psnr"] for r in rows), 2),
                    str(len(rows)),
                ]
            if any(len(by.get((dataset, s, m), {})) for s in scales):
                lines.append(f"| {labels.get(m, m)} | " + " | ".join(cells) + " |")
        lines.append("")
        # Gain over bicubic on the same images.
        bicubic_name = next((m for m in methods if labels.get(m, "").startswith("Bicubic") or m == "bicubic"), None)
        if bicubic_name is not None:
            lines += [f"Gain over bicubic on the same images ({dataset}; dNIQE < 0 is better):", ""]
            lines += ["| method | " + " | ".join(f"x{s} dNIQE | x{s} dSSIM | x{s} dPSNR" for s in scales) + " |",
                      "|---|" + "---|" * (3 * len(scales))]
            for m in methods:
                if m == bicubic_name:
                    continue
                cells = []
                for s in scales:
                    base, rows = by.get((dataset, s, bicubic_name), {}), by.get((dataset, s, m), {})
                    common = [i for i in rows if i in base]
                    for metric, digits in (("niqe", 2), ("ssim", 4), ("psnr", 2)):
                        diffs = [rows[i][metric] - base[i][metric] for i in common
                                 if rows[i][metric] is not None and base[i][metric] is not None]
                        cells.append(_fmt(_mean(diffs), digits, signed=True))
                lines.append(f"| {labels.get(m, m)} | " + " | ".join(cells) + " |")
            lines.append("")
        # Times.
        lines += [f"Seconds per image ({dataset}; median / mean; estimate, invert, restore; "
                  "first calls include JAX compilation):", ""]
        lines += ["| method | " + " | ".join(f"x{s} estimate | x{s} invert | x{s} restore" for s in scales) + " |",
                  "|---|" + "---|" * (3 * len(scales))]
        for m in methods:
            cells = []
            for s in scales:
                rows = list(by.get((dataset, s, m), {}).values())
                for stage in ("estimate", "invert", "restore"):
                    values = [r["seconds"][stage] for r in rows if stage in r["seconds"]]
                    cells.append(f"{statistics.median(values):.2f} / {statistics.mean(values):.2f}" if values else "-")
            if any(by.get((dataset, s, m)) for s in scales):
                lines.append(f"| {labels.get(m, m)} | " + " | ".join(cells) + " |")
        lines.append("")
        # Kernel errors.
        with_error = [m for m in methods if any("kernel_rel_l2" in r for s in scales for r in by.get((dataset, s, m), {}).values())]
        if with_error:
            lines += [f"Kernel estimate vs the true kernel ({dataset}): relative L2 error on a common centred canvas, mean:", ""]
            lines += ["| method | " + " | ".join(f"x{s}" for s in scales) + " |", "|---|" + "---|" * len(scales)]
            for m in with_error:
                cells = [_fmt(_mean(r.get("kernel_rel_l2") for r in by.get((dataset, s, m), {}).values()), 3) for s in scales]
                lines.append(f"| {labels.get(m, m)} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["Figures in `figures/`: one row per method (its kernel K, its restoration kernel with 0 = mid grey, "
              "a centre crop of its SR), last row the ground truth (true K if known, blank, HR crop).", ""]
    lines += ["Methods:", ""] + [f"- `{m}`: {labels.get(m, m)} ({_describe_spec(config.method_specs[m])})"
                                  for m in methods if m in config.method_specs] + [""]
    Path(path).write_text("\n".join(lines))


def _describe_spec(spec: ml_collections.ConfigDict) -> str:
    if spec.kind == "bicubic":
        return "kind=bicubic"
    overrides = spec.overrides.to_dict() if isinstance(spec.overrides, ml_collections.ConfigDict) else dict(spec.overrides)
    text = f"kind={spec.kind}, preset={spec.preset}, kernel={spec.kernel_source}"
    if spec.kind == "issr":
        text += f", method={spec.method}"
    if overrides:
        text += f", overrides={json.dumps(overrides)}"
    if spec.max_images:
        text += f", first {spec.max_images} images only"
    return text


# ---------------------------------------------------------------------------- the run


def resolve_niqe_model(niqe_model: str | None, data_root: Path) -> str | None:
    """The NIQE model: the flag, else `$ISSR_JAX_NIQE_MODEL`, else `<data_root>/../niqe/
    modelparameters.mat` if it exists, else None (NIQE skipped, with a note)."""
    import os

    for candidate in (niqe_model, os.environ.get(NIQE_MODEL_ENV)):
        if candidate:
            if not Path(candidate).is_file():
                raise FileNotFoundError(f"{candidate}: NIQE model not found")
            return str(candidate)
    fallback = Path(data_root).parent / "niqe" / "modelparameters.mat"
    return str(fallback) if fallback.is_file() else None


def _load_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by an interrupted run: redo that pair
                _say(f"{path}:{number}: unreadable line ignored")
    return records


def _record_key(record: dict) -> tuple:
    return (record["dataset"], int(record["scale"]), record["image"], record["method"])


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run(config: ml_collections.ConfigDict, workdir: str | Path, data_root: str | Path, *, niqe_model: str | None = None) -> int:
    """Runs an experiment config; returns the number of new (image, method) records.

    Args:
      config: see `experiments/configs/common.py::base_config`.
      workdir: output folder (created); holds `config.json`, `metrics.jsonl`,
        `results.md`, `images/` and `figures/`.
      data_root: the folder holding DIV2KRK/, Set5/, Set14/, BSD100/.
      niqe_model: NIQE's `modelparameters.mat` (see `resolve_niqe_model`).
    """
    workdir, data_root = Path(workdir), Path(data_root)
    workdir.mkdir(parents=True, exist_ok=True)
    methods = _csv(config.methods)
    unknown = [m for m in methods if m not in config.method_specs]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; this config has {list(config.method_specs)}")
    for name in methods:
        _check_spec(config.method_specs[name], name)
    niqe_path = resolve_niqe_model(niqe_model, data_root) if config.niqe else None
    if config.niqe and niqe_path is None:
        _say(f"note: no NIQE model (--niqe_model, ${NIQE_MODEL_ENV}, or {data_root.parent / 'niqe' / 'modelparameters.mat'}); NIQE skipped")
    (workdir / "config.json").write_text(json.dumps(
        {"config": json.loads(config.to_json()), "data_root": str(data_root), "niqe_model": niqe_path,
         "jax": jax.__version__, "backend": jax.default_backend(), "argv": sys.argv}, indent=2))

    metrics_path = workdir / METRICS_FILE
    records = _load_records(metrics_path)
    done = {_record_key(r) for r in records}
    groups = [(d, int(s)) for d in _csv(config.datasets) for s in _csv(config.scales)]
    work = []
    for dataset, scale in groups:
        files = list_samples(data_root, dataset, scale)
        if config.max_images:
            files = files[: config.max_images]
        for index, item in enumerate(files):
            todo = [m for m in methods
                    if (dataset, scale, item.name, m) not in done
                    and not (config.method_specs[m].max_images and index >= config.method_specs[m].max_images)
                    and not (config.method_specs[m].kind != "bicubic"
                             and config.method_specs[m].kernel_source == "true" and item.kernel is None)]
            work.append((item, index, todo))
    total_todo = sum(1 for *_, todo in work if todo)
    _say(f"{len(work)} images in {len(groups)} (dataset, scale) groups; {total_todo} with work to do, "
         f"{len(done)} records already in {metrics_path}")

    new, finished, started = 0, 0, time.perf_counter()
    with metrics_path.open("a") as sink:
        for item, index, todo in work:
            if not todo:
                continue
            image_start = time.perf_counter()
            sample = load_sample(item)
            key = jax.random.key(config.seed)  # the same key for every image, as the CLI
            cache, outputs, parts = {}, {}, []
            for name in todo:
                spec = config.method_specs[name]
                method_start = time.perf_counter()
                output = run_method(spec, name, sample, key=key, cache=cache)
                if output is None:
                    continue
                scores = score(output.image, sample.hr, scale=item.scale, niqe_model=niqe_path)
                record = {
                    "dataset": item.dataset, "scale": item.scale, "image": item.name, "method": name,
                    **scores,
                    "seconds": {**output.seconds, "total": sum(output.seconds.values())},
                    "shared": output.shared,
                    "lr_shape": list(sample.lr.shape),
                    **output.extra,
                }
                if output.kernel is not None:
                    record["kernel_size"] = int(output.kernel.shape[0])
                    if sample.kernel is not None and spec.kernel_source == "estimated":
                        record["kernel_rel_l2"] = kernel_error(output.kernel, sample.kernel)
                if output.drk is not None:
                    record["drk_size"] = int(output.drk.shape[0])
                    record["drk_sum"] = float(np.sum(output.drk))
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                records.append(record)
                outputs[name] = output
                new += 1
                if config.save_images:
                    folder = workdir / "images" / f"{item.dataset}_x{item.scale}" / name
                    folder.mkdir(parents=True, exist_ok=True)
                    write_image(folder / f"{item.name}.png", quantise(output.image), overwrite=True)
                parts.append(f"{name} {time.perf_counter() - method_start:.1f}s {scores['psnr']:.2f}dB")
            if index < config.figures and outputs:
                (workdir / "figures").mkdir(exist_ok=True)
                figure = compose_figure(_figure_rows(sample, outputs))
                write_image(workdir / "figures" / f"{item.dataset}_x{item.scale}_{item.name}.png", figure, overwrite=True)
            finished += 1
            elapsed = time.perf_counter() - started
            eta = elapsed / finished * (total_todo - finished)
            _say(f"[{finished}/{total_todo}] {item.dataset} x{item.scale} {item.name}: "
                 f"{time.perf_counter() - image_start:.1f} s ({', '.join(parts)}), ETA {_duration(eta)}")
    write_results(records, workdir / "results.md", config)
    _say(f"{new} new records in {_duration(time.perf_counter() - started)}; results in {workdir / 'results.md'}")
    return new
