"""Super-resolving image files and folders: what the command line does, as functions.

Every output is written atomically (temporary name in the same folder, then rename), so a
killed run leaves only complete files; an existing output is kept unless `overwrite`, so
a rerun of a folder resumes where it stopped. A folder run keeps going past bad files and
reports them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from issr_jax.app import outcomes
from issr_jax.app.folder_run import FolderRun
from issr_jax.app.naming import output_paths
from issr_jax.app.outcomes import FAILURES_NAME, PNG_COMPRESS_LEVEL, FileOutcome, FolderSummary, OutputOptions, Status
from issr_jax.batch import chunks
from issr_jax.batch.mesh import batch_mesh
from issr_jax.degradation import checked_noise
from issr_jax.io import DEFAULT_MAX_PIXELS, ImageError, OutputExistsError, list_images, remove_stale_temporaries
from issr_jax.output_size import SizeRequest
from issr_jax.presets import Preset, get_preset

__all__ = [
    "FAILURES_NAME",
    "PNG_COMPRESS_LEVEL",
    "FileOutcome",
    "FolderSummary",
    "OutputOptions",
    "Status",
    "super_resolve_file",
    "super_resolve_folder",
]


def _checked_options(size: SizeRequest, *, quality, strip_metadata, save_kernels, noise, preset):
    """A run's `OutputOptions` and its noise, checked before any file is touched."""
    options = OutputOptions(size, quality=quality, strip_metadata=strip_metadata, save_kernels=save_kernels)
    return options, checked_noise(noise, preset=get_preset(preset))


def super_resolve_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    scale: int | None = None,
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    noise: float | None = None,
    save_kernels: bool = False,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int | None = None,
    strip_metadata: bool = False,
    mesh=None,
) -> FileOutcome:
    """Reads one image file, super-resolves it and writes the result atomically.

    The output keeps the input's sample type (uint8/uint16) and channel layout (gray,
    RGB, and alpha: a constant alpha is restored as it was; a varying alpha is resized
    with bicubic and clipped), its ICC profile, PNG colour chunks and EXIF (orientation
    1, the new size; none with `strip_metadata`). Its format is `output_path`'s extension.
    With `save_kernels`, `NAME_kernel.npy` (the kernel the inverse was fitted to) and
    `NAME_drk.npy` (the restoration kernel) are written next to the output. The image goes
    through the same batched code as a folder run (`chunks.super_resolve_chunk`), so both
    give the same pixels; outputs above `batch.tiles.TILE_THRESHOLD_PIXELS` are restored
    in tiles.

    Args:
        input_path, output_path: the files.
        scale, outscale, width, height: the output size, one of them (or width and
            height): an integer `scale`, or any size by `issr_jax.output_size`.
        key, preset, method, kernel, noise: as `issr_jax.super_resolve`.
        save_kernels, overwrite: see above.
        max_pixels: refuse images whose super-resolved size (before any resize) exceeds it.
        quality: JPEG/WebP quality 1-100 (None: JPEG 95, WebP lossless).
        strip_metadata: write no profile or metadata.
        mesh: devices (`batch.mesh.batch_mesh`; default all local ones).

    Raises:
        ValueError: a bad size request or quality.
        ImageError: unreadable input, an input too small or too large, a size that does
            not enlarge it, an output that exists (without `overwrite`) or cannot be written.
    """
    size = SizeRequest(scale=scale, outscale=outscale, width=width, height=height)
    options, noise = _checked_options(
        size, quality=quality, strip_metadata=strip_metadata, save_kernels=save_kernels, noise=noise, preset=preset
    )
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise ImageError(output_path, "output is the input file; the input is never modified")
    if output_path.exists() and not overwrite:
        raise OutputExistsError(output_path)
    stages = {}
    start = time.perf_counter()
    source = outcomes.read_input(input_path, size=options.size, max_pixels=max_pixels)
    outcomes.check_output(source, output_path)
    stages["read"] = time.perf_counter() - start
    results = []
    chunks.super_resolve_chunk(
        [source.image.pixels],
        scale=source.plan.scale,
        key=key,
        preset=preset,
        method=method,
        kernel=kernel,
        noise=noise,
        jpeg_tables=[source.image.jpeg_luma_table],
        mesh=mesh,
        on_result=results.append,
        timings=stages,
    )
    (item,) = results
    if item.error is not None:
        raise ImageError(input_path, str(item.error)) from item.error
    t = time.perf_counter()
    outcomes.write_result(source, item.result, output_path, options=options, overwrite=overwrite)
    stages["write"] = time.perf_counter() - t
    estimate = outcomes.describe_degradation(item.result.degradation, channels=source.image.pixels.shape[-1])
    seconds = time.perf_counter() - start
    return FileOutcome(input_path, output_path, Status.DONE, seconds=seconds, stages=stages, estimate=estimate)


def super_resolve_folder(
    input_folder: str | Path,
    output_folder: str | Path,
    *,
    scale: int | None = None,
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    key: jax.Array,
    preset: str | Preset = "default",
    method: str = "drk",
    kernel: np.ndarray | None = None,
    noise: float | None = None,
    save_kernels: bool = False,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int | None = None,
    strip_metadata: bool = False,
    output_format: str = "same",
    suffix: str = "",
    files: Sequence[Path] | None = None,
    on_outcome: Callable[[int, int, FileOutcome], None] | None = None,
    chunk_size: int = chunks.CHUNK_SIZE,
    failures_name: str = FAILURES_NAME,
    remove_temporaries: bool = True,
    mesh=None,
) -> FolderSummary:
    """Super-resolves every image directly in a folder into another folder.

    Outputs are named `{stem}{suffix}{extension}`, the extension the input's
    (`output_format="same"`) or the format's. Existing outputs are skipped (so a rerun
    resumes) unless `overwrite`. A file that fails is reported and the run goes on; the
    failures are also written to `output_folder/failures_name` (removed when a run has
    none). An input whose output name another input already has, or whose format is read
    but not written (HEIC, AVIF with "same"), fails without being read.

    The images go through `chunks.super_resolve_chunk` `chunk_size` at a time: kernels
    estimated and inverses designed in batched calls (per integer scale, which a width or
    height request can make differ between images), restores bucketed by shape and split
    over all local devices; files are decoded and encoded in threads, beside the
    computation. Each image's pixels are those of `super_resolve_file` on it.

    Args:
        input_folder, output_folder: folders (the output one is created).
        output_format: `"same"`, `"png"`, `"jpg"`, `"webp"` or `"tiff"`.
        suffix: added to each output's stem (no path separators).
        files: optional subset of the folder's images to process (e.g. this host's share,
            `batch.mesh.shard_files`).
        on_outcome: called after each file with `(index, total, outcome)` (progress), in
            the order of the files.
        chunk_size: images per batched chunk (bounds memory; also bounded by pixels).
        failures_name: file name of the failures list (one per process in a multi-host run).
        remove_temporaries: this process alone writes into `output_folder`, so temporaries
            left there by killed writers are deleted first (`io.remove_stale_temporaries`);
            False when processes on other hosts share the folder.
        mesh: devices to split batches over (`batch.mesh.batch_mesh`; default all local ones).
        Other arguments: as in `super_resolve_file`; every image uses the same `key`, so an
        image's result does not depend on the other files in the folder.

    Returns:
        `FolderSummary`. An outcome's `stages` holds its own read and write seconds and
        its share of its chunk's estimate, invert and restore seconds.

    Raises:
        ValueError: a bad size request, quality, format or suffix.
        ImageError: a missing input folder, or an output folder that cannot be made.
    """
    size = SizeRequest(scale=scale, outscale=outscale, width=width, height=height)
    options, noise = _checked_options(
        size, quality=quality, strip_metadata=strip_metadata, save_kernels=save_kernels, noise=noise, preset=preset
    )
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    images, ignored = list_images(input_folder)
    if files is not None:
        images = list(files)
    targets, refused = output_paths(images, output_folder, output_format=output_format, suffix=suffix)
    _prepare_output_folder(input_folder, output_folder, remove_temporaries=remove_temporaries)
    start = time.perf_counter()
    run = FolderRun(images, targets, refused=refused, overwrite=overwrite, on_outcome=on_outcome)
    compute = dict(
        key=key, preset=get_preset(preset), method=method, kernel=kernel, noise=noise, mesh=mesh or batch_mesh()
    )
    run.run(chunk_size=chunk_size, max_pixels=max_pixels, options=options, compute=compute)
    _write_failures(output_folder / failures_name, run.outcomes)
    return FolderSummary(run.outcomes, ignored, time.perf_counter() - start)


def _prepare_output_folder(input_folder: Path, output_folder: Path, *, remove_temporaries: bool) -> None:
    """Creates the output folder, refusing the input folder or one that is not writable."""
    if input_folder.resolve() == output_folder.resolve():
        raise ImageError(output_folder, "output folder is the input folder; the inputs are never modified")
    try:
        output_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(output_folder, f"cannot create the output folder ({error.strerror})") from error
    if not os.access(output_folder, os.W_OK):
        raise ImageError(output_folder, "output folder is not writable")
    if remove_temporaries:  # left by a killed run: only complete files stay
        remove_stale_temporaries(output_folder)


def _write_failures(path: Path, outcomes: list[FileOutcome]) -> None:
    """One line per failed file, or no file at all when none failed."""
    failed = [o for o in outcomes if o.status is Status.FAILED]
    if failed:
        path.write_text("".join(f"{o.problem}\n" for o in failed))
    else:
        path.unlink(missing_ok=True)
