"""Super-resolving image files and folders: what the command line does, as functions.

Every output is written atomically (temporary name in the same folder, then rename), so a
killed run leaves only complete files; an existing output is kept unless `overwrite`, so
a rerun of a folder resumes where it stopped. A folder run keeps going past bad files and
reports them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np
import PIL.Image

from issr_jax.batch import chunks as dataset

from issr_jax.batch import canvases as tiling
from issr_jax.io import (
    DEFAULT_MAX_PIXELS,
    Image,
    ImageError,
    OutputExistsError,
    list_images,
    read_image,
    remove_stale_temporaries,
    save_npy,
    write_image,
)
from issr_jax.pipeline import MIN_SIDE, SuperResolution
from issr_jax.presets import Preset, get_preset
from issr_jax.resize import imresize

__all__ = ["MIN_SIDE", "PNG_COMPRESS_LEVEL", "FileOutcome", "FolderSummary", "super_resolve_file", "super_resolve_folder"]

PNG_COMPRESS_LEVEL = 1  # zlib level of written PNGs: ~5x faster to encode than 6, files ~8% larger
WRITES_IN_FLIGHT = 4  # outputs held while being encoded and written (bounds memory)

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


def _read(input_path: Path, *, scale: int, max_pixels: int) -> Image:
    """Reads an input and refuses one too small (or too large, before decoding)."""
    source = read_image(input_path, max_pixels=max(1, max_pixels // (scale * scale)))
    h, w, _ = source.pixels.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(input_path, f"image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    return source


def _write(
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
        raise ImageError(source.path, f"super-resolution produced values that cannot be written ({error}); please report this input") from error
    if save_kernels:
        stem = output_path.with_suffix("")
        save_npy(Path(f"{stem}_kernel.npy"), np.asarray(result.kernel), overwrite=overwrite)
        save_npy(Path(f"{stem}_drk.npy"), np.asarray(result.drk), overwrite=overwrite)


def _describe_failure(path: Path, error: Exception) -> str:
    if isinstance(error, ImageError):
        return str(error)
    message = " ".join(str(error).split()) or type(error).__name__
    return str(ImageError(path, f"super-resolution failed ({type(error).__name__}: {message})"))


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
    mesh=None,
) -> FileOutcome:
    """Reads one image file, super-resolves it and writes the result atomically.

    The output keeps the input's sample type (uint8/uint16) and channel layout (gray,
    RGB, and alpha: a constant alpha is restored as it was; a varying alpha is upscaled
    with bicubic and clipped). With `save_kernels`, `NAME_kernel.npy` (the kernel the
    inverse was fitted to) and `NAME_drk.npy` (the restoration kernel) are written next
    to the output. The image goes through the same batched code as a folder run
    (`dataset.super_resolve_chunk`), so both give the same pixels; outputs above
    `tiling.TILE_THRESHOLD_PIXELS` are restored in tiles.

    Raises:
      ImageError: unreadable input, an input too small or too large, an output that
        exists (without `overwrite`) or cannot be written.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise ImageError(output_path, "output is the input file; the input is never modified")
    if output_path.exists() and not overwrite:
        raise OutputExistsError(output_path)
    stages = {}
    start = time.perf_counter()
    source = _read(input_path, scale=scale, max_pixels=max_pixels)
    stages["read"] = time.perf_counter() - start
    results = []
    dataset.super_resolve_chunk(
        [source.pixels],
        scale=scale,
        key=key,
        preset=preset,
        method=method,
        kernel=kernel,
        mesh=mesh,
        on_result=results.append,
        timings=stages,
    )
    (item,) = results
    if item.error is not None:
        raise ImageError(input_path, str(item.error)) from item.error
    t = time.perf_counter()
    _write(source, item.result, output_path, scale=scale, save_kernels=save_kernels, overwrite=overwrite)
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
    chunk_size: int = dataset.CHUNK_SIZE,
    failures_name: str = "failures.txt",
    mesh=None,
) -> FolderSummary:
    """Super-resolves every image directly in a folder into another folder.

    Outputs have the input's file name. Existing outputs are skipped (so a rerun resumes)
    unless `overwrite`. A file that fails is reported and the run goes on; the failures
    are also written to `output_folder/failures.txt` (removed when a run has none).

    The images go through `dataset.super_resolve_chunk` `chunk_size` at a time: kernels
    estimated and inverses designed in batched calls, restores bucketed by shape and
    split over all local devices; files are decoded and encoded in threads, beside the
    computation. Each image's pixels are those of `super_resolve_file` on it.

    Args:
      input_folder, output_folder: folders (the output one is created).
      files: optional subset of the folder's images to process (e.g. this host's share,
        `dataset.shard_files`).
      on_outcome: called after each file with `(index, total, outcome)` (progress), in
        the order of the files.
      chunk_size: images per batched chunk (bounds memory; also bounded by pixels).
      failures_name: file name of the failures list (one per process in a multi-host run).
      mesh: devices to split batches over (`tiling.batch_mesh`; default all local ones).
      Other arguments: as in `super_resolve_file`; every image uses the same `key`, so an
      image's result does not depend on the other files in the folder.

    Returns:
      `FolderSummary`. An outcome's `stages` holds its own read and write seconds and
      its share of its chunk's estimate, invert and restore seconds.
    """
    preset = get_preset(preset)
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    images, ignored = list_images(input_folder)
    if files is not None:
        images = list(files)
    if input_folder.resolve() == output_folder.resolve():
        raise ImageError(output_folder, "output folder is the input folder; the inputs are never modified")
    try:
        output_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(output_folder, f"cannot create the output folder ({error.strerror})") from error
    if not os.access(output_folder, os.W_OK):
        raise ImageError(output_folder, "output folder is not writable")
    if failures_name == "failures.txt":  # one process owns the folder (not a multi-host run)
        remove_stale_temporaries(output_folder)  # left by a killed run: only complete files stay
    start = time.perf_counter()
    mesh = mesh or tiling.batch_mesh()
    total = len(images)
    outcomes: list[FileOutcome | None] = [None] * total
    targets = [output_folder / path.name for path in images]
    todo = []
    for index, target in enumerate(targets):
        if target.exists() and not overwrite:
            outcomes[index] = FileOutcome(images[index], target, "skipped", "output exists")
        else:
            todo.append(index)
    emitted = 0

    def emit_ready() -> None:  # progress in file order, as far as finished
        nonlocal emitted
        while emitted < total and outcomes[emitted] is not None:
            outcome = outcomes[emitted]
            if outcome.status == "done":  # its chunk's stage shares are final now
                outcome.seconds = sum(outcome.stages.values())
            if on_outcome is not None:
                on_outcome(emitted, total, outcomes[emitted])
            emitted += 1

    def read_one(index: int) -> tuple[Image | None, FileOutcome | None, float]:
        t = time.perf_counter()
        try:
            source = _read(images[index], scale=scale, max_pixels=max_pixels)
            return source, None, time.perf_counter() - t
        except ImageError as error:
            return None, FileOutcome(images[index], targets[index], "failed", str(error)), 0.0

    workers = max(2, os.cpu_count() or 2)
    in_flight = threading.Semaphore(WRITES_IN_FLIGHT)
    parts = dataset.chunks([_header_pixels(images[i]) for i in todo], chunk_size=chunk_size)
    with concurrent.futures.ThreadPoolExecutor(workers) as readers, concurrent.futures.ThreadPoolExecutor(workers) as writers:
        submit = lambda part: [readers.submit(read_one, todo[j]) for j in part]
        upcoming = submit(parts[0]) if parts else []
        for number, part in enumerate(parts):
            reads, upcoming = upcoming, (submit(parts[number + 1]) if number + 1 < len(parts) else [])
            chunk = [todo[j] for j in part]
            sources, read_seconds = [], []
            for index, future in zip(chunk, reads):
                source, failure, seconds = future.result()
                sources.append(source)
                read_seconds.append(seconds)
                if failure is not None:
                    outcomes[index] = failure
            _run_chunk(
                chunk, sources, read_seconds, targets, outcomes, writers, in_flight,
                scale=scale, key=key, preset=preset, method=method, kernel=kernel,
                save_kernels=save_kernels, overwrite=overwrite, mesh=mesh,
            )
            emit_ready()
        writers.shutdown(wait=True)
    emit_ready()
    failures_file = output_folder / failures_name
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        failures_file.write_text("".join(f"{o.problem}\n" for o in failed))
    else:
        failures_file.unlink(missing_ok=True)
    return FolderSummary(outcomes, ignored, time.perf_counter() - start)


def _header_pixels(path: Path) -> int:
    """Width x height from the file's header (0 when unreadable: the read reports it)."""
    try:
        with PIL.Image.open(path) as header:
            return header.size[0] * header.size[1]
    except Exception:  # noqa: BLE001
        return 0


def _run_chunk(chunk, sources, read_seconds, targets, outcomes, writers, in_flight, *, scale, key, preset, method, kernel, save_kernels, overwrite, mesh):
    """One chunk of a folder run: batched compute, writes handed to `writers` as each
    image is restored; a failing batch is retried image by image, so a bad file fails alone."""
    timings: dict = {}
    count = sum(s is not None for s in sources)
    delivered, all_stages = set(), []

    def write(position: int, result: SuperResolution, stages: dict) -> None:
        index = chunk[position]
        try:
            t = time.perf_counter()
            _write(sources[position], result, targets[index], scale=scale, save_kernels=save_kernels, overwrite=overwrite)
            stages["write"] = time.perf_counter() - t
            outcomes[index] = FileOutcome(sources[position].path, targets[index], "done", stages=stages)
        except ImageError as error:
            outcomes[index] = FileOutcome(sources[position].path, targets[index], "failed", str(error))
        finally:
            in_flight.release()

    def on_result(item: dataset.ChunkResult) -> None:
        index = chunk[item.index]
        if item.error is not None:
            outcomes[index] = FileOutcome(sources[item.index].path, targets[index], "failed", _describe_failure(sources[item.index].path, item.error))
            return
        delivered.add(item.index)
        in_flight.acquire()  # at most WRITES_IN_FLIGHT outputs wait to be written
        stages = {"read": read_seconds[item.index]}
        all_stages.append(stages)
        writers.submit(write, item.index, item.result, stages)

    common = dict(scale=scale, key=key, preset=preset, method=method, kernel=kernel, mesh=mesh)
    try:
        dataset.super_resolve_chunk([s.pixels if s is not None else None for s in sources], on_result=on_result, timings=timings, **common)
    except Exception:  # noqa: BLE001 - isolate the file that broke the batch
        for position, source in enumerate(sources):
            index = chunk[position]
            if source is None or position in delivered or outcomes[index] is not None:
                continue
            single = [None] * len(sources)
            single[position] = source.pixels
            try:
                dataset.super_resolve_chunk(single, on_result=on_result, timings=timings, **common)
            except Exception as error:  # noqa: BLE001
                outcomes[index] = FileOutcome(source.path, targets[index], "failed", _describe_failure(source.path, error))
    for stages in all_stages:  # each file's share of the chunk's batched stages
        stages.update({name: seconds / max(count, 1) for name, seconds in timings.items()})
