"""Devices and processes: the 1-D device mesh batches are split over, and a process's files."""

from __future__ import annotations

from collections.abc import Sequence

import jax

__all__ = ["AXIS", "batch_mesh", "shard_files"]

AXIS = "batch"


def batch_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh named "batch" over `devices` (default: this process's devices).

    Auto axes: in jax 0.10 `make_mesh` defaults to Explicit axes, under which batched
    convolutions with sharded operands raise a sharding type error.
    """
    devices = list(devices) if devices is not None else jax.local_devices()
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def shard_files(files: Sequence, process_index: int, process_count: int) -> list:
    """This process's share of a file list: `files[process_index::process_count]`.

    Every file goes to exactly one process, so only its owner reads and writes it.
    """
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
    return list(files)[process_index::process_count]
