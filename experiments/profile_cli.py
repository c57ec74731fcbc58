"""A timeline of one command-line run: when each stage of each chunk starts and ends.

    python -m experiments.profile_cli --input=../shared/datasets/BSD100/LR_x4 --output=/tmp/sr --scale=4 --quiet

Takes the command line's own flags and runs it in this process, with the dataset stages
and the file reads and writes wrapped to record wall-clock times (seconds since this
script started, Python start-up excluded). Set `ISSR_JAX_CACHE_DIR` to an empty folder
for a cold compile cache. Prints one line per stage call, then the span of the reads and
writes (which run in threads beside the computation). BENCHMARKS.md's profile comes
from it.
"""

from __future__ import annotations

import functools
import time

START = time.perf_counter()
EVENTS: list[tuple[float, str]] = []


def _record(name: str) -> None:
    EVENTS.append((time.perf_counter() - START, name))


def _timed(module, name: str) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        _record(f"{name} start")
        try:
            return original(*args, **kwargs)
        finally:
            _record(f"{name} end")

    setattr(module, name, wrapper)


def main() -> None:
    from issr_jax.app import cli, outcomes
    from issr_jax.batch import chunks

    _record("imported")
    for name in ("estimate_degradations", "design_chunk", "restore_chunk"):
        _timed(chunks, name)
    for name in ("read_input", "write_result"):
        _timed(outcomes, name)
    try:
        cli.run()
    except SystemExit:
        pass
    _record("exit")
    spans: dict[str, list[float]] = {}
    for seconds, name in EVENTS:
        if name.startswith(("read_input", "write_result")):
            spans.setdefault(name.split()[0], []).append(seconds)
        else:
            print(f"{seconds:7.3f}  {name}")
    for name, times in spans.items():
        print(f"{name}: {len(times) // 2} files, from {min(times):.3f} to {max(times):.3f} s")


if __name__ == "__main__":
    main()
