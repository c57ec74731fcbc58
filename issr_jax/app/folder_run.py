"""The machinery of a folder run: outcomes in file order, reads and writes in threads beside
the batched computation, a failing batch retried image by image."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
import time
from pathlib import Path

import PIL.Image

from issr_jax.app import outcomes
from issr_jax.app.outcomes import WRITES_IN_FLIGHT, FileOutcome, OutputOptions, Source, Status, describe_failure
from issr_jax.batch import chunks
from issr_jax.io import ImageError
from issr_jax.pipeline import SuperResolution

__all__ = ["FolderRun"]


def _header_pixels(path: Path) -> int:
    """Width x height from the file's header (0 when unreadable: the read reports it)."""
    try:
        with PIL.Image.open(path) as header:
            return header.size[0] * header.size[1]
    except Exception:  # noqa: BLE001
        return 0


class FolderRun:
    """The state of one folder run: each file's outcome, reported in file order.

    Reads of the next chunk overlap the computation of this one (a thread pool), and
    writes overlap both (another pool, at most `WRITES_IN_FLIGHT` outputs held). Inputs in
    `refused` (index -> problem) fail without being read.
    """

    def __init__(
        self, images: list[Path], targets: list[Path], *, refused: dict[int, str], overwrite: bool, on_outcome
    ):
        self.images, self.targets, self.on_outcome = images, targets, on_outcome
        self.outcomes: list[FileOutcome | None] = [None] * len(images)
        self.todo = []
        for index, target in enumerate(targets):
            if index in refused:
                self.outcomes[index] = FileOutcome(images[index], target, Status.FAILED, refused[index])
            elif target.exists() and not overwrite:
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

    def read(self, index: int, *, options: OutputOptions, max_pixels: int) -> tuple[Source | None, float]:
        """The decoded input and its plan (None, with the outcome set, when it cannot be used) and seconds."""
        t = time.perf_counter()
        try:
            source = outcomes.read_input(self.images[index], size=options.size, max_pixels=max_pixels)
            outcomes.check_output(source, self.targets[index])
            return source, time.perf_counter() - t
        except ImageError as error:
            self.fail(index, self.images[index], str(error))
            return None, 0.0

    def fail(self, index: int, path: Path, problem: str) -> None:
        self.outcomes[index] = FileOutcome(path, self.targets[index], Status.FAILED, problem)

    def run(self, *, chunk_size: int, max_pixels: int, options: OutputOptions, compute: dict) -> None:
        workers = max(2, os.cpu_count() or 2)
        parts = chunks.chunks([_header_pixels(self.images[i]) for i in self.todo], chunk_size=chunk_size)
        read = functools.partial(self.read, options=options, max_pixels=max_pixels)
        with (
            concurrent.futures.ThreadPoolExecutor(workers) as readers,
            concurrent.futures.ThreadPoolExecutor(workers) as writers,
        ):
            submit = lambda part: [readers.submit(read, self.todo[j]) for j in part]
            upcoming = submit(parts[0]) if parts else []
            for number, part in enumerate(parts):
                reads, upcoming = upcoming, (submit(parts[number + 1]) if number + 1 < len(parts) else [])
                sources, read_seconds = zip(*(future.result() for future in reads))
                chunk = _Chunk(self, [self.todo[j] for j in part], list(sources), list(read_seconds), writers)
                chunk.run(options=options, compute=compute)
                self.emit_ready()
            writers.shutdown(wait=True)
        self.emit_ready()


class _Chunk:
    """One chunk of a folder run: batched compute, one call per integer scale among its
    images; writes handed to the writer pool as each image is restored; a failing batch is
    retried image by image, so a bad file fails alone."""

    def __init__(self, run: FolderRun, indices: list[int], sources: list, read_seconds: list[float], writers):
        self.run_, self.indices, self.sources, self.read_seconds, self.writers = (
            run,
            indices,
            sources,
            read_seconds,
            writers,
        )
        self.delivered: set[int] = set()
        self.all_stages: list[dict] = []
        self.timings: dict = {}

    def write(self, position: int, result: SuperResolution, stages: dict, *, options: OutputOptions) -> None:
        run, index, source = self.run_, self.indices[position], self.sources[position]
        try:
            t = time.perf_counter()
            outcomes.write_result(source, result, run.targets[index], options=options, overwrite=run.overwrite)
            stages["write"] = time.perf_counter() - t
            estimate = outcomes.describe_degradation(result.degradation, channels=source.image.pixels.shape[-1])
            run.outcomes[index] = FileOutcome(
                source.image.path, run.targets[index], Status.DONE, stages=stages, estimate=estimate
            )
        except ImageError as error:
            run.fail(index, source.image.path, str(error))
        finally:
            run.in_flight.release()

    def on_result(self, item: chunks.ChunkResult, *, options: OutputOptions) -> None:
        path = self.sources[item.index].image.path
        if item.error is not None:
            self.run_.fail(self.indices[item.index], path, describe_failure(path, item.error))
            return
        self.delivered.add(item.index)
        self.run_.in_flight.acquire()  # at most WRITES_IN_FLIGHT outputs wait to be written
        stages = {"read": self.read_seconds[item.index]}
        self.all_stages.append(stages)
        self.writers.submit(self.write, item.index, item.result, stages, options=options)

    def pixels(self, positions) -> list:
        """The chunk's pixels at `positions`, None elsewhere (the chunk API leaves those out)."""
        return [s.image.pixels if s is not None and p in positions else None for p, s in enumerate(self.sources)]

    def jpeg_tables(self) -> list:
        """Per position, the JPEG luma quantisation table of the file (None for others)."""
        return [None if s is None else s.image.jpeg_luma_table for s in self.sources]

    def run(self, *, options: OutputOptions, compute: dict) -> None:
        on_result = functools.partial(self.on_result, options=options)
        scales = sorted({s.plan.scale for s in self.sources if s is not None})
        for scale in scales:
            positions = {p for p, s in enumerate(self.sources) if s is not None and s.plan.scale == scale}
            try:
                chunks.super_resolve_chunk(
                    self.pixels(positions),
                    scale=scale,
                    jpeg_tables=self.jpeg_tables(),
                    on_result=on_result,
                    timings=self.timings,
                    **compute,
                )
            except Exception:  # noqa: BLE001 - isolate the file that broke the batch
                self._retry_one_by_one(positions, on_result, compute)
        count = sum(s is not None for s in self.sources)
        for stages in self.all_stages:  # each file's share of the chunk's batched stages
            stages.update({name: seconds / max(count, 1) for name, seconds in self.timings.items()})

    def _retry_one_by_one(self, positions, on_result, compute: dict) -> None:
        for position in sorted(positions):
            source, index = self.sources[position], self.indices[position]
            if position in self.delivered or self.run_.outcomes[index] is not None:
                continue
            try:
                chunks.super_resolve_chunk(
                    self.pixels({position}),
                    scale=source.plan.scale,
                    jpeg_tables=self.jpeg_tables(),
                    on_result=on_result,
                    timings=self.timings,
                    **compute,
                )
            except Exception as error:  # noqa: BLE001
                self.run_.fail(index, source.image.path, describe_failure(source.image.path, error))
