"""Colour profile and metadata carried from an input file to its output; pixels never converted.

What travels, and how each format stores it:

| | PNG | JPEG | WebP | TIFF | BMP |
|---|---|---|---|---|---|
| ICC profile | `iCCP` | APP2 | `ICCP` | tag 34675 | - |
| `sRGB`, `gAMA`, `cHRM` (from a PNG) | as read | - | - | - | - |
| EXIF | `eXIf` | APP1 | `EXIF` | IFD0 tags | - |

Decisions:

- Pixels are written in the colour space they were read in; the profile that describes
  them goes with them. A profile is kept only when its colour space matches what the
  output stores (an RGB profile for RGB samples, a gray one for gray): a CMYK file's
  profile does not describe the RGB the reader made of it, and WebP stores gray as RGB.
- EXIF keeps IFD0 with its Exif and GPS sub-IFDs. The orientation is reset to 1 (the
  reader has already turned the pixels upright), the pixel dimensions (`ImageWidth`,
  `ImageLength`, `PixelXDimension`, `PixelYDimension`, where present) become the
  output's, the thumbnail (IFD1) is dropped (it shows the old pixels), and so are a TIFF
  file's layout tags (strips, tiles, sample format), which describe the old file.
  EXIF that Pillow cannot parse is not carried.
- PNG `sRGB`, `gAMA` and `cHRM` are copied byte for byte into PNG outputs; other formats
  have no place for them.
"""

from __future__ import annotations

import dataclasses
import zlib

import PIL.Image

from issr_jax.io.png_chunks import colour_chunks, png_chunk

__all__ = ["Metadata", "exif_for_output", "pillow_options", "png_metadata_chunks", "profile_fits", "read_metadata"]

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
IMAGE_WIDTH, IMAGE_LENGTH = 0x0100, 0x0101
PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION = 0xA002, 0xA003
# TIFF tags that describe how a file stores its pixels (and the profile, carried on its
# own): meaningless, or wrong, in another file.
LAYOUT_TAGS = frozenset(
    {254, 255, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 317, 320}
    | {322, 323, 324, 325, 338, 339, 340, 341, 347, 512, 513, 514, 530, 532, 34675}
)


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What an image file says about its pixels besides their values.

    Attributes:
        icc_profile: the embedded ICC profile, bytes as stored, or None.
        exif: EXIF as bytes starting with `b"Exif\\0\\0"` (IFD0, Exif and GPS sub-IFDs;
            TIFF layout tags and the thumbnail removed), or None.
        png_colour: `(type, body)` of a PNG's `sRGB`, `gAMA` and `cHRM` chunks, in file order.
    """

    icc_profile: bytes | None = None
    exif: bytes | None = None
    png_colour: tuple[tuple[bytes, bytes], ...] = ()


def read_metadata(header: PIL.Image.Image, data: bytes) -> tuple[Metadata, int]:
    """The metadata of an opened file and its EXIF orientation, without decoding pixels.

    Args:
        header: the file opened by Pillow (lazily; still open, since sub-IFDs are read from it).
        data: the whole file.

    Returns:
        `(metadata, orientation)`, orientation 1-8 (1: upright; 1 when absent).
    """
    exif = _file_exif(header, data)
    orientation = exif.get(ORIENTATION, 1) if exif is not None else 1
    metadata = Metadata(
        icc_profile=header.info.get("icc_profile") or None,
        exif=_portable_exif(exif) if exif is not None else None,
        png_colour=colour_chunks(data) if header.format == "PNG" else (),
    )
    return metadata, orientation if isinstance(orientation, int) else 1


def _file_exif(header: PIL.Image.Image, data: bytes) -> PIL.Image.Exif | None:
    """The file's EXIF, or None when it has none.

    Pillow's PNG `getexif` decodes the whole image when the eXIf chunk is not before the
    pixel data, so it is asked only when the file has an eXIf chunk at all.
    """
    if header.format == "PNG" and "exif" not in header.info and b"eXIf" not in data:
        return None
    exif = header.getexif()
    return exif if len(exif) else None


def _portable_exif(exif: PIL.Image.Exif) -> bytes | None:
    """EXIF bytes another file can hold: sub-IFDs loaded, layout tags and thumbnail left out."""
    try:
        for ifd in (EXIF_IFD, GPS_IFD):
            if ifd in exif:
                exif.get_ifd(ifd)  # read now, while the file is open
        for tag in LAYOUT_TAGS & set(exif):
            del exif[tag]
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 - EXIF Pillow cannot re-encode is not carried (module docstring)
        return None


def exif_for_output(exif: bytes, *, width: int, height: int) -> bytes:
    """`exif` for an upright `width x height` image: orientation 1, pixel dimensions updated.

    Tags that are absent stay absent.
    """
    updated = PIL.Image.Exif()
    updated.load(exif)
    if ORIENTATION in updated:
        updated[ORIENTATION] = 1
    for tag, value in ((IMAGE_WIDTH, width), (IMAGE_LENGTH, height)):
        if tag in updated:
            updated[tag] = value
    if EXIF_IFD in updated:
        sub = updated.get_ifd(EXIF_IFD)
        for tag, value in ((PIXEL_X_DIMENSION, width), (PIXEL_Y_DIMENSION, height)):
            if tag in sub:
                sub[tag] = value
    return updated.tobytes()


def profile_fits(profile: bytes, *, channels: int) -> bool:
    """Whether an ICC profile describes samples of `channels` colour channels (1 or 3):
    its header's colour space (bytes 16-19) is `GRAY` or `RGB `."""
    return profile[16:20] == (b"GRAY" if channels == 1 else b"RGB ")


def pillow_options(metadata: Metadata, *, width: int, height: int, channels: int) -> dict:
    """`icc_profile=` and `exif=` for Pillow's JPEG, WebP and TIFF writers.

    Args:
        metadata: what the input carried.
        width, height: the output's size.
        channels: colour channels the output file stores (1 or 3).
    """
    options = {}
    if metadata.icc_profile is not None and profile_fits(metadata.icc_profile, channels=channels):
        options["icc_profile"] = metadata.icc_profile
    if metadata.exif is not None:
        options["exif"] = exif_for_output(metadata.exif, width=width, height=height)
    return options


def png_metadata_chunks(metadata: Metadata, *, width: int, height: int, channels: int) -> list[bytes]:
    """The chunks that carry `metadata` in a PNG: colour chunks, `iCCP`, `eXIf`.

    Arguments as `pillow_options`.
    """
    chunks = [png_chunk(kind, body) for kind, body in metadata.png_colour]
    options = pillow_options(metadata, width=width, height=height, channels=channels)
    if "icc_profile" in options:  # name, NUL, compression method 0, zlib stream
        chunks.append(png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(options["icc_profile"])))
    if "exif" in options:  # eXIf holds the TIFF structure without the APP1 "Exif\0\0" marker
        chunks.append(png_chunk(b"eXIf", options["exif"].removeprefix(b"Exif\0\0")))
    return chunks
