"""Super-resolving image files and folders: what the command line does, as functions.

Every output is written atomically (temporary name in the same folder, then rename), so a
killed run leaves only complete files; an existing output is kept unless `overwrite`, so
a rerun of a folder resumes where it stopped. A folder run keeps going past bad files and
reports them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import enum
import functools
import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np
import PIL.Image
from issr_jax.batch import chunks
from issr_jax.batch.mesh import batch_mesh
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

__all__ = [
    "FAILURES_NAME",
    "MIN_SIDE",
    "PNG_COMPRESS_LEVEL",
    "FileOutcome",
    "FolderSummary",
    "Status",
    "super_resolve_file",
    "super_resolve_folder",
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
    (`chunks.super_resolve_chunk`), so both give the same pixels; outputs above
    `batch.tiles.TILE_THRESHOLD_PIXELS` are restored in tiles.

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
    chunks.super_resolve_chunk(
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
    return FileOutcome(input_path, output_path, Status.DONE, seconds=time.perf_counter() - start, stages=stages)


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
    chunk_size: int = chunks.CHUNK_SIZE,
    failures_name: str = FAILURES_NAME,
    remove_temporaries: bool = True,
    mesh=None,
) -> FolderSummary:
    """Super-resolves every image directly in a folder into another folder.

    Outputs have the input's file name. Existing outputs are skipped (so a rerun resumes)
    unless `overwrite`. A file that fails is reported and the run goes on; the failures
    are also written to `output_folder/failures_name` (removed when a run has none).

    The images go through `chunks.super_resolve_chunk` `chunk_size` at a time: kernels
    estimated and inverses designed in batched calls, restores bucketed by shape and
    split over all local devices; files are decoded and encoded in threads, beside the
    computation. Each image's pixels are those of `super_resolve_file` on it.

    Args:
      input_folder, output_folder: folders (the output one is created).
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
    """
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    images, ignored = list_images(input_folder)
    if files is not None:
        images = list(files)
    _prepare_output_folder(input_folder, output_folder, remove_temporaries=remove_temporaries)
    start = time.perf_counter()
    run = _FolderRun(images, [output_folder / path.name for path in images], overwrite=overwrite, on_outcome=on_outcome)
    compute = dict(scale=scale, key=key, preset=get_preset(preset), method=method, kernel=kernel, mesh=mesh or batch_mesh())
    run.run(chunk_size=chunk_size, max_pixels=max_pixels, save_kernels=save_kernels, compute=compute)
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


def _header_pixels(path: Path) -> int:
    """Width x height from the file's header (0 when unreadable: the read reports it)."""
    try:
        with PIL.Image.open(path) as header:
            return header.size[0] * header.size[1]
    except Exception:  # noqa: BLE001
        return 0


class _FolderRun:
    """The state of one folder run: each file's outcome, reported in file order.

    Reads of the next chunk overlap the computation of this one (a thread pool), and
    writes overlap both (another pool, at most `WRITES_IN_FLIGHT` outputs held).
    """

    def __init__(self, images: list[Path], targets: list[Path], *, overwrite: bool, on_outcome):
        self.images, self.targets, self.on_outcome = images, targets, on_outcome
        self.outcomes: list[FileOutcome | None] = [None] * len(images)
        self.todo = []
        for index, target in enumerate(targets):
            if target.exists() and not overwrite:
                self.outcomes[index] = FileOutcome(images[index], target, Status.SKIPPED, "output exists")
            else:
                self.todo.append(index)
        self.overwrite = overwrite
        self.emitted = 0
        self.in_flight = threading.Semaphore(WRITES_IN_FLIGHT)

    def emit_ready(self) -> None:
        """Reports outcomes in file order, as far as they are final."""
        while self.emitted < len(self.outcomes) and self.outcomes[self.emitted] is not None:
            outcome = self.outcomes[self.emitted]
            if outcome.status is Status.DONE:  # its chunk's stage shares are final now
                outcome.seconds = sum(outcome.stages.values())
            if self.on_outcome is not None:
                self.on_outcome(self.emitted, len(self.outcomes), outcome)
            self.emitted += 1

    def read(self, index: int, *, scale: int, max_pixels: int) -> tuple[Image | None, float]:
        """The decoded input (None, with the outcome set, when it cannot be used) and seconds."""
        t = time.perf_counter()
        try:
            source = _read(self.images[index], scale=scale, max_pixels=max_pixels)
            return source, time.perf_counter() - t
        except ImageError as error:
            self.fail(index, self.images[index], str(error))
            return None, 0.0

    def fail(self, index: int, path: Path, problem: str) -> None:
        self.outcomes[index] = FileOutcome(path, self.targets[index], Status.FAILED, problem)

    def run(self, *, chunk_size: int, max_pixels: int, save_kernels: bool, compute: dict) -> None:
        workers = max(2, os.cpu_count() or 2)
        parts = chunks.chunks([_header_pixels(self.images[i]) for i in self.todo], chunk_size=chunk_size)
        read = functools.partial(self.read, scale=compute["scale"], max_pixels=max_pixels)
        with concurrent.futures.ThreadPoolExecutor(workers) as readers, concurrent.futures.ThreadPoolExecutor(workers) as writers:
            submit = lambda part: [readers.submit(read, self.todo[j]) for j in part]
            upcoming = submit(parts[0]) if parts else []
            for number, part in enumerate(parts):
                reads, upcoming = upcoming, (submit(parts[number + 1]) if number + 1 < len(parts) else [])
                sources, read_seconds = zip(*(future.result() for future in reads))
                chunk = _Chunk(self, [self.todo[j] for j in part], list(sources), list(read_seconds), writers)
                chunk.run(save_kernels=save_kernels, compute=compute)
                self.emit_ready()
            writers.shutdown(wait=True)
        self.emit_ready()


class _Chunk:
    """One chunk of a folder run: batched compute, writes handed to the writer pool as each
    image is restored; a failing batch is retried image by image, so a bad file fails alone."""

    def __init__(self, run: _FolderRun, indices: list[int], sources: list, read_seconds: list[float], writers):
        self.run_, self.indices, self.sources, self.read_seconds, self.writers = run, indices, sources, read_seconds, writers
        self.delivered: set[int] = set()
        self.all_stages: list[dict] = []
        self.timings: dict = {}

    def write(self, position: int, result: SuperResolution, stages: dict, *, scale: int, save_kernels: bool) -> None:
        run, index, source = self.run_, self.indices[position], self.sources[position]
        try:
            t = time.perf_counter()
            _write(source, result, run.targets[index], scale=scale, save_kernels=save_kernels, overwrite=run.overwrite)
            stages["write"] = time.perf_counter() - t
            run.outcomes[index] = FileOutcome(source.path, run.targets[index], Status.DONE, stages=stages)
        except ImageError as error:
            run.fail(index, source.path, str(error))
        finally:
            run.in_flight.release()

    def on_result(self, item: chunks.ChunkResult, *, scale: int, save_kernels: bool) -> None:
        source = self.sources[item.index]
        if item.error is not None:
            self.run_.fail(self.indices[item.index], source.path, _describe_failure(source.path, item.error))
            return
        self.delivered.add(item.index)
        self.run_.in_flight.acquire()  # at most WRITES_IN_FLIGHT outputs wait to be written
        stages = {"read": self.read_seconds[item.index]}
        self.all_stages.append(stages)
        self.writers.submit(self.write, item.index, item.result, stages, scale=scale, save_kernels=save_kernels)

    def run(self, *, save_kernels: bool, compute: dict) -> None:
        on_result = functools.partial(self.on_result, scale=compute["scale"], save_kernels=save_kernels)
        pixels = [s.pixels if s is not None else None for s in self.sources]
        try:
            chunks.super_resolve_chunk(pixels, on_result=on_result, timings=self.timings, **compute)
        except Exception:  # noqa: BLE001 - isolate the file that broke the batch
            self._retry_one_by_one(on_result, compute)
        count = sum(s is not None for s in self.sources)
        for stages in self.all_stages:  # each file's share of the chunk's batched stages
            stages.update({name: seconds / max(count, 1) for name, seconds in self.timings.items()})

    def _retry_one_by_one(self, on_result, compute: dict) -> None:
        for position, source in enumerate(self.sources):
            index = self.indices[position]
            if source is None or position in self.delivered or self.run_.outcomes[index] is not None:
                continue
            single = [None] * len(self.sources)
            single[position] = source.pixels
            try:
                chunks.super_resolve_chunk(single, on_result=on_result, timings=self.timings, **compute)
            except Exception as error:  # noqa: BLE001
                self.run_.fail(index, source.path, _describe_failure(source.path, error))
