"""XLA's compiled programs kept on disk, so that a second run skips most compiles."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "enable_compilation_cache"]

CACHE_ENV = "ISSR_JAX_CACHE_DIR"  # where compiled programs are kept between runs; empty: no cache


def enable_compilation_cache() -> None:
    """Keeps XLA's compiled programs on disk (seconds per image shape saved on a rerun).

    The folder is `$ISSR_JAX_CACHE_DIR`, by default `$XDG_CACHE_HOME/issr_jax/xla` (or
    `~/.cache/issr_jax/xla`); set the variable empty to switch the cache off.
    """
    import jax

    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "issr_jax" / "xla"
    folder = os.environ.get(CACHE_ENV, str(default))
    if not folder:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    # Every program: the LMMSE design compiles in well under a second and would
    # otherwise be compiled again on every run; a BSD100 run keeps five small files.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.01)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
