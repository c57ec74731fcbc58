"""Atomic files: written under a temporary name in the same folder, synced, then renamed.

A killed writer leaves only complete files (and a temporary that `folders` can clear); a
file that appeared meanwhile is never replaced unless overwriting was asked for.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

import numpy as np

from issr_jax.io.errors import ImageError, OutputExistsError, describe_error

__all__ = ["save_npy", "temporary_path", "write_atomically"]


def write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Writes `data` to a temporary file next to `path`, fsyncs it, then moves it into place."""
    folder = path.parent
    if not folder.exists():
        raise ImageError(path, f"folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise ImageError(path, f"{folder} is not a folder")
    if path.is_dir():
        raise ImageError(path, "is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(path)

    temporary = temporary_path(path)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError as error:
        raise ImageError(
            path, f"cannot write in folder {folder}: permission denied; choose a writable output folder"
        ) from error
    except OSError as error:
        raise ImageError(path, f"cannot create a file in folder {folder} ({describe_error(error)})") from error
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temporary, path, overwrite=overwrite)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, ImageError) or not isinstance(error, Exception):
            raise
        raise ImageError(
            path, f"writing failed ({describe_error(error)}); check free disk space and permissions"
        ) from error
    _fsync_folder(folder)


def _move_into_place(temporary: Path, path: Path, *, overwrite: bool) -> None:
    """Renames `temporary` to `path`; without `overwrite`, never replaces a file that
    appeared meanwhile (a hard link fails if the target exists)."""
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise OutputExistsError(path) from error
    except OSError:
        # No hard links on this file system: fall back to check-then-rename.
        if path.exists():
            raise OutputExistsError(path) from None
        os.replace(temporary, path)
        return
    temporary.unlink()


def _fsync_folder(folder: Path) -> None:
    """Makes the rename durable; not every platform can open a folder, which is fine."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def temporary_path(path: Path) -> Path:
    """The hidden name a file is written under before it is renamed into place:
    `.{name}.tmp-{pid}-{random}{suffix}` in the same folder (the suffix keeps the format)."""
    path = Path(path)
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"


def save_npy(path: str | os.PathLike[str], array: np.ndarray, *, overwrite: bool) -> None:
    """Writes `array` as a `.npy` file, atomically (as `write_image` writes images)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    write_atomically(Path(path), buffer.getvalue(), overwrite=overwrite)
