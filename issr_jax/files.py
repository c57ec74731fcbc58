"""Super-resolving image files and folders: what the command line does, as functions.

Every output is written atomically (temporary name in the same folder, then rename), so a
killed run leaves only complete files; an existing output is kept unless `overwrite`, so
a rerun of a folder resumes where it stopped. A folder run keeps going past bad files and
reports them.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np

from issr_jax.image_io import DEFAULT_MAX_PIXELS, ImageError, list_images, read_image, write_image
from issr_jax.pipeline import MIN_SIDE, super_resolve
from issr_jax.presets import Preset, get_preset
from issr_jax.resize import imresize

__all__ = ["MIN_SIDE", "FileOutcome", "FolderSummary", "super_resolve_file", "super_resolve_folder"]




@dataclasses.dataclass
class FileOutcome:
    """What happened to one input file."""

    input: Path
    output: Path
    status: str  # "done", "skipped" (output exists) or "failed"
    problem: str = ""
    seconds: float = 0.0
    stages: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FolderSummary:
    """Counts and outcomes of a folder run."""

    outcomes: list[FileOutcome]
    ignored: list[tuple[Path, str]]  # entries of the folder that are not images
    seconds: float

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


def _save_npy_atomic(path: Path, array: np.ndarray, *, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ImageError(path, "already exists; pass --overwrite to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.asarray(array))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def super_resolve_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    scale: int,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    save_kernels: bool = False,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FileOutcome:
    """Reads one image file, super-resolves it and writes the result atomically.

    The output keeps the input's sample type (uint8/uint16) and channel layout (gray,
    RGB, and alpha: a constant alpha is restored as it was; a varying alpha is upscaled
    with bicubic and clipped). With `save_kernels`, `NAME_kernel.npy` (the kernel the
    inverse was fitted to) and `NAME_drk.npy` (the restoration kernel) are written next
    to the output.

    Raises:
      ImageError: unreadable input, an input too small or too large, an output that
        exists (without `overwrite`) or cannot be written.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise ImageError(output_path, "output is the input file; choose another --output (the input is never modified)")
    if output_path.exists() and not overwrite:
        raise ImageError(output_path, "already exists; pass --overwrite to replace it")
    stages = {}
    start = time.perf_counter()
    source = read_image(input_path, max_pixels=max(1, max_pixels // (scale * scale)))
    stages["read"] = time.perf_counter() - start
    h, w, _ = source.pixels.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(input_path, f"image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    t = time.perf_counter()
    result = super_resolve(source.pixels, scale=scale, key=key, preset=preset, method=method, kernel=kernel)
    pixels = np.asarray(result.image)
    stages["super_resolve"] = time.perf_counter() - t
    if not np.all(np.isfinite(pixels)):  # never write NaN/Inf; the pipeline clips, so this is a bug guard
        raise ImageError(input_path, "super-resolution produced non-finite values; please report this input")
    alpha = None
    if source.alpha is not None:
        alpha = np.clip(np.asarray(imresize(source.alpha, scale=scale)), 0.0, 1.0)
    t = time.perf_counter()
    write_image(
        output_path,
        pixels,
        dtype=source.dtype,
        alpha=alpha,
        constant_alpha=source.constant_alpha,
        overwrite=overwrite,
    )
    if save_kernels:
        stem = output_path.with_suffix("")
        _save_npy_atomic(Path(f"{stem}_kernel.npy"), np.asarray(result.kernel), overwrite=overwrite)
        _save_npy_atomic(Path(f"{stem}_drk.npy"), np.asarray(result.drk), overwrite=overwrite)
    stages["write"] = time.perf_counter() - t
    return FileOutcome(input_path, output_path, "done", seconds=time.perf_counter() - start, stages=stages)


def super_resolve_folder(
    input_folder: str | Path,
    output_folder: str | Path,
    *,
    scale: int,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    save_kernels: bool = False,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    files: Sequence[Path] | None = None,
    on_outcome: Callable[[int, int, FileOutcome], None] | None = None,
) -> FolderSummary:
    """Super-resolves every image directly in a folder into another folder.

    Outputs have the input's file name. Existing outputs are skipped (so a rerun resumes)
    unless `overwrite`. A file that fails is reported and the run goes on; the failures
    are also written to `output_folder/failures.txt` (removed when a run has none).

    Args:
      input_folder, output_folder: folders (the output one is created).
      files: optional subset of the folder's images to process (e.g. this host's share).
      on_outcome: called after each file with `(index, total, outcome)` (progress).
      Other arguments: as in `super_resolve_file`; every image uses the same `key`, so an
      image's result does not depend on the other files in the folder.

    Returns:
      `FolderSummary`.
    """
    preset = get_preset(preset)
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    images, ignored = list_images(input_folder)
    if files is not None:
        images = list(files)
    if input_folder.resolve() == output_folder.resolve():
        raise ImageError(output_folder, "output folder is the input folder; choose another --output")
    try:
        output_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(output_folder, f"cannot create the output folder ({error.strerror})") from error
    if not os.access(output_folder, os.W_OK):
        raise ImageError(output_folder, "output folder is not writable; choose another --output")
    start = time.perf_counter()
    outcomes = []
    for index, path in enumerate(images):
        target = output_folder / path.name
        if target.exists() and not overwrite:
            outcome = FileOutcome(path, target, "skipped", "output exists")
        else:
            try:
                outcome = super_resolve_file(
                    path,
                    target,
                    scale=scale,
                    key=key,
                    preset=preset,
                    method=method,
                    kernel=kernel,
                    save_kernels=save_kernels,
                    overwrite=overwrite,
                    max_pixels=max_pixels,
                )
            except ImageError as error:
                outcome = FileOutcome(path, target, "failed", str(error))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(index, len(images), outcome)
    failures_file = output_folder / "failures.txt"
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        failures_file.write_text("".join(f"{o.problem}\n" for o in failed))
    else:
        failures_file.unlink(missing_ok=True)
    return FolderSummary(outcomes, ignored, time.perf_counter() - start)
