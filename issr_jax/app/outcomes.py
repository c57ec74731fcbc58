"""One file in, one result out: the outcome statuses, and the read and write of a file."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

import numpy as np

from issr_jax.io import Image, ImageError, read_image, save_npy, write_image
from issr_jax.pipeline import MIN_SIDE, SuperResolution
from issr_jax.resize import imresize

__all__ = [
    "FAILURES_NAME",
    "PNG_COMPRESS_LEVEL",
    "FileOutcome",
    "FolderSummary",
    "Status",
    "describe_failure",
    "read_input",
    "write_result",
]

PNG_COMPRESS_LEVEL = 1  # zlib level of written PNGs: ~5x faster to encode than 6, files ~8% larger
WRITES_IN_FLIGHT = 4  # outputs held while being encoded and written (bounds memory)
FAILURES_NAME = "failures.txt"  # the failures list of a folder run, in the output folder


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


@dataclasses.dataclass
class FolderSummary:
    """Counts and outcomes of a folder run."""

    outcomes: list[FileOutcome]
    ignored: list[tuple[Path, str]]  # entries of the folder that are not images
    seconds: float

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)


def read_input(input_path: Path, *, scale: int, max_pixels: int) -> Image:
    """Reads an input and refuses one too small (or too large, before decoding)."""
    source = read_image(input_path, max_pixels=max(1, max_pixels // (scale * scale)))
    h, w, _ = source.pixels.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(input_path, f"image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    return source


def write_result(
    source: Image,
    result: SuperResolution,
    output_path: Path,
    *,
    scale: int,
    save_kernels: bool,
    overwrite: bool,
) -> None:
    """Writes one result (and its alpha, and optionally its kernels), atomically."""
    alpha = None
    if source.alpha is not None:
        alpha = np.clip(np.asarray(imresize(source.alpha, scale=scale)), 0.0, 1.0)
    try:
        write_image(
            output_path,
            np.asarray(result.image),
            dtype=source.dtype,
            alpha=alpha,
            constant_alpha=source.constant_alpha,
            overwrite=overwrite,
            compress_level=PNG_COMPRESS_LEVEL,
        )
    except ValueError as error:  # the writer refuses NaN/Inf; the pipeline clips, so this is a bug guard
        raise ImageError(
            source.path, f"super-resolution produced values that cannot be written ({error}); please report this input"
        ) from error
    if save_kernels:
        stem = output_path.with_suffix("")
        save_npy(Path(f"{stem}_kernel.npy"), np.asarray(result.kernel), overwrite=overwrite)
        save_npy(Path(f"{stem}_drk.npy"), np.asarray(result.drk), overwrite=overwrite)


def describe_failure(path: Path, error: Exception) -> str:
    if isinstance(error, ImageError):
        return str(error)
    message = " ".join(str(error).split()) or type(error).__name__
    return str(ImageError(path, f"super-resolution failed ({type(error).__name__}: {message})"))
