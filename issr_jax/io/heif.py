"""HEIC/HEIF and AVIF inputs (phone photos): found by their container's brands, decoded by a
Pillow plugin when one is there, else refused with the plugin's name.

HEIC needs the optional `pillow-heif` (`pip install 'issr-jax[heif]'`), registered on the
first HEIC file; AVIF is read by Pillow itself when it was built with libavif (its recent
wheels are). Neither is written: choose another output format.
"""

from __future__ import annotations

import functools
import os

from PIL import features

from issr_jax.io.errors import ImageError

__all__ = ["INPUT_ONLY_EXTENSIONS", "prepare_plugin"]

INPUT_ONLY_EXTENSIONS = frozenset({".heic", ".heif", ".avif"})
"""Suffixes read (through a plugin) but never written."""

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})


def container_brands(data: bytes) -> frozenset[bytes]:
    """The major and compatible brands of an ISO base media file (`ftyp` box first), else empty."""
    if data[4:8] != b"ftyp":
        return frozenset()
    size = min(int.from_bytes(data[:4], "big"), len(data))
    compatible = [data[offset : offset + 4] for offset in range(16, size - 3, 4)]
    return frozenset([data[8:12], *compatible])


def prepare_plugin(path: str | os.PathLike[str], data: bytes) -> None:
    """Makes Pillow able to open `data` if it is HEIC or AVIF, or says which plugin is missing.

    Raises:
        ImageError: a HEIC file without `pillow-heif` installed, or an AVIF file and a
            Pillow built without AVIF.
    """
    brands = container_brands(data)
    if brands & AVIF_BRANDS:
        if not features.check("avif"):
            raise ImageError(
                path, "is an AVIF image and this Pillow was built without AVIF; upgrade Pillow (its wheels read AVIF)"
            )
    elif brands & HEIF_BRANDS and not _register_heif_opener():
        raise ImageError(
            path,
            "is a HEIC/HEIF image, which needs the optional pillow-heif plugin: pip install 'issr-jax[heif]' "
            "(or pip install pillow-heif)",
        )


@functools.cache
def _register_heif_opener() -> bool:
    """Registers pillow-heif's HEIF opener with Pillow; False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True
