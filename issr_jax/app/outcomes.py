"""One file in, one result out: the outcome statuses, and the read and write of a file."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path

import numpy as np

from issr_jax.degradation import Degradation
from issr_jax.io import FormatError, Image, ImageError, read_image, save_npy, write_atomically, write_image
from issr_jax.io.write import check_format, check_quality
from issr_jax.noise.estimate import luma_noise_gain
from issr_jax.output_size import OutputPlan, SizeRequest, plan_output, resize_to_plan
from issr_jax.pipeline import MIN_SIDE, SuperResolution
from issr_jax.resize import imresize

__all__ = [
    "FAILURES_NAME",
    "PNG_COMPRESS_LEVEL",
    "FileOutcome",
    "FolderSummary",
    "OutputOptions",
    "OutputSizeError",
    "Source",
    "Status",
    "check_output",
    "describe_degradation",
    "describe_failure",
    "read_input",
    "write_result",
]

PNG_COMPRESS_LEVEL = 1  # zlib level of written PNGs: ~5x faster to encode than 6, files ~8% larger
WRITES_IN_FLIGHT = 4  # outputs held while being encoded and written (bounds memory)
FAILURES_NAME = "failures.txt"  # the failures list of a folder run, in the output folder


class OutputSizeError(ImageError):
    """The requested output size does not fit this input (it would not enlarge it)."""


class Status(enum.Enum):
    """What happened to one input file of a folder run."""

    DONE = "done"  # written
    SKIPPED = "skipped"  # the output exists and overwriting was not asked for
    FAILED = "failed"  # see the outcome's problem


@dataclasses.dataclass
class FileOutcome:
    """What happened to one input file."""

    input: Path
    output: Path
    status: Status
    problem: str = ""
    seconds: float = 0.0
    stages: dict = dataclasses.field(default_factory=dict)
    estimate: str = ""  # what stage 1 found (`describe_degradation`), for --verbose


@dataclasses.dataclass
class FolderSummary:
    """Counts and outcomes of a folder run."""

    outcomes: list[FileOutcome]
    ignored: list[tuple[Path, str]]  # entries of the folder that are not images
    seconds: float

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """How every result of a run is sized and written.

    Attributes:
        size: the output size asked for (`issr_jax.output_size.SizeRequest`).
        quality: JPEG/WebP quality 1-100, or None (JPEG 95, WebP lossless).
        strip_metadata: write no ICC profile, PNG colour chunks or EXIF (else the input's
            are carried over).
        save_kernels: also write `NAME_kernel.npy`, `NAME_drk.npy` and
            `NAME_degradation.json` (the noise and the blur's explanations) beside each output.
    """

    size: SizeRequest
    quality: int | None = None
    strip_metadata: bool = False
    save_kernels: bool = False

    def __post_init__(self):
        check_quality(self.quality)  # before any file is read, not at the first write


@dataclasses.dataclass(frozen=True)
class Source:
    """An input as read, and the output planned for it."""

    image: Image
    plan: OutputPlan


def read_input(input_path: Path, *, size: SizeRequest, max_pixels: int) -> Source:
    """Reads an input and plans its output; refuses an input too small, an output too large
    (before decoding when the scale is known from the request alone) or a size that would
    not enlarge it."""
    image = read_image(input_path, max_pixels=max(1, max_pixels // size.minimum_scale() ** 2))
    h, w, _ = image.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(input_path, f"image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    try:
        plan = plan_output(image.shape, size)
    except ValueError as error:
        raise OutputSizeError(input_path, str(error)) from error
    working = plan.scale**2 * h * w  # the super-resolved image, before any resize
    if working > max_pixels:
        raise ImageError(
            input_path,
            f"super-resolving this {w}x{h} image x{plan.scale} makes {working / 1e6:.1f} megapixels, more than "
            f"the limit of {max_pixels / 1e6:g} megapixels",
        )
    return Source(image, plan)


def check_output(source: Source, output_path: Path) -> None:
    """Refuses, before any computation, an output whose format cannot hold the input's
    samples (16 bits) or alpha (`io.FormatError`)."""
    image = source.image
    has_alpha = image.alpha is not None or image.constant_alpha is not None
    try:
        check_format(output_path, dtype=image.dtype, channels=image.shape[2], has_alpha=has_alpha)
    except FormatError as error:  # named by its input, as every failure of a run is
        raise FormatError(image.path, f"cannot be written as {output_path.name}: {error.problem}") from error


def write_result(
    source: Source, result: SuperResolution, output_path: Path, *, options: OutputOptions, overwrite: bool
) -> None:
    """Writes one result at its planned size (and its alpha, metadata and optionally its
    kernels), atomically. A varying alpha is resized with bicubic straight to the output size."""
    plan, image = source.plan, source.image
    alpha = None
    if image.alpha is not None:
        alpha = np.clip(np.asarray(imresize(image.alpha, output_shape=(plan.height, plan.width))), 0.0, 1.0)
    try:
        write_image(
            output_path,
            np.asarray(resize_to_plan(result.image, plan=plan)),
            dtype=image.dtype,
            alpha=alpha,
            constant_alpha=image.constant_alpha,
            overwrite=overwrite,
            compress_level=PNG_COMPRESS_LEVEL,
            metadata=None if options.strip_metadata else image.metadata,
            quality=options.quality,
        )
    except ValueError as error:  # the writer refuses NaN/Inf; the pipeline clips, so this is a bug guard
        raise ImageError(
            image.path, f"super-resolution produced values that cannot be written ({error}); please report this input"
        ) from error
    if options.save_kernels:
        stem = output_path.with_suffix("")
        save_npy(Path(f"{stem}_kernel.npy"), np.asarray(result.kernel), overwrite=overwrite)
        save_npy(Path(f"{stem}_drk.npy"), np.asarray(result.drk), overwrite=overwrite)
        if result.degradation is not None:
            record = _degradation_record(result.degradation, channels=image.pixels.shape[-1])
            text = json.dumps(record, indent=2) + "\n"
            write_atomically(Path(f"{stem}_degradation.json"), text.encode(), overwrite=overwrite)


def _degradation_record(degradation: Degradation, *, channels: int) -> dict:
    luma = float(degradation.noise)
    return {
        "noise": round(luma / luma_noise_gain(channels), 4),
        "noise_luma": round(luma, 4),
        "noise_units": "standard deviation in 8-bit levels, per channel (noise) and of the BT.601 luma",
        "explanations": [
            {"weight": round(float(w), 4), "slope": round(float(a), 4), "kernel_size": int(np.shape(k)[-1])}
            for w, a, k in zip(degradation.weights, degradation.slopes, degradation.kernels)
        ],
    }


def describe_degradation(degradation: Degradation | None, *, channels: int) -> str:
    """One line on what stage 1 found: the noise and the weights of the explanations."""
    if degradation is None:
        return ""
    luma = float(degradation.noise)
    weights = ", ".join(f"{float(w):.2f}" for w in np.asarray(degradation.weights)[:4])
    more = "" if len(degradation.weights) <= 4 else f", ... ({len(degradation.weights)})"
    return f"noise {luma / luma_noise_gain(channels):.2f} (luma {luma:.2f}), blur explanation weights {weights}{more}"


def describe_failure(path: Path, error: Exception) -> str:
    if isinstance(error, ImageError):
        return str(error)
    message = " ".join(str(error).split()) or type(error).__name__
    return str(ImageError(path, f"super-resolution failed ({type(error).__name__}: {message})"))
