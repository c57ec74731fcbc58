"""Shared test helpers: where the benchmark data lives, and skipping when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# What the command line does (see cli._make_cpu_results_reproducible): single-threaded
# XLA:CPU kernels, whose results are bit-reproducible. Set before JAX starts its backend.
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()

# The project sits next to `shared/` (benchmark data, goldens); CI has it, a fresh clone
# elsewhere may not, and then the tests that need it skip with this reason.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATASETS = SHARED / "datasets"


@pytest.fixture
def datasets() -> Path:
    if not (DATASETS / "DIV2KRK").is_dir():
        pytest.skip(f"benchmark data not found at {DATASETS} (the repo's sibling shared/datasets)")
    return DATASETS
