"""Folders: the images directly in one, and the temporaries killed writers left there."""

from __future__ import annotations

import os
import re
from pathlib import Path

from issr_jax.io.errors import ImageError, describe_error
from issr_jax.io.formats import IMAGE_EXTENSIONS
from issr_jax.io.heif import INPUT_ONLY_EXTENSIONS

__all__ = ["list_images", "remove_stale_temporaries"]

_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+(\.[^.]*)?$")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Deletes temporaries left in `folder` by writers that were killed (SIGKILL, power
    loss) before they could clean up: files named as `temporary_path` names them whose
    process no longer runs on this machine. Returns what was removed.

    Temporaries of live processes are kept, so two runs can share an output folder; do
    not call it on a folder that processes on other hosts write into.
    """
    removed = []
    for entry in Path(folder).iterdir():
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file():
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # the writer is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, owned by someone else
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def list_images(folder: str | os.PathLike[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files directly in `folder`, and what was skipped and why.

    Images are the regular files (or links to them) whose lowercase suffix is in
    `IMAGE_EXTENSIONS` or `INPUT_ONLY_EXTENSIONS` (HEIC, AVIF: listed even when their
    plugin is missing, so that reading them says what to install); hidden entries (name
    starting with '.'), sub-folders, other extensions and broken links are skipped.
    Sub-folders are not searched.

    Args:
        folder: the folder to list.

    Returns:
        `(images, skipped)`: `images` sorted by name; `skipped` a name-sorted list of
        `(path, reason)` with a short reason such as `"hidden"` or `"folder"`.

    Raises:
        ImageError: the folder does not exist, is not a folder, or cannot be listed.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ImageError(folder, "folder does not exist; check the path")
    if not folder.is_dir():
        raise ImageError(folder, "is not a folder")
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    except OSError as error:
        raise ImageError(folder, f"cannot list the folder ({describe_error(error)})") from error
    images: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for entry in entries:
        if entry.name.startswith("."):
            skipped.append((entry, "hidden"))
        elif entry.is_dir():
            skipped.append((entry, "folder"))
        elif not entry.is_file():
            skipped.append((entry, "broken link or not a regular file"))
        elif entry.suffix.lower() not in IMAGE_EXTENSIONS | INPUT_ONLY_EXTENSIONS:
            skipped.append((entry, f"not an image extension ({entry.suffix or 'none'})"))
        else:
            images.append(entry)
    return images, skipped
