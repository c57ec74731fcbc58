"""Reading image files safely: uint8/uint16, gray/RGB, with or without alpha.

This package (with `issr_jax.metrics`) is the only place where integer pixel values exist. Everything
it hands to the library is `[H, W, C] float32 in [0, 1]`, `C` in {1, 3}, RGB order; the
alpha channel, when the file has one, travels beside the pixels so that `write_image`
can put it back.

Decisions, each one deliberate:

- Decoding goes through `imageio.v3` with its Pillow plugin; Pillow itself (a dependency
  of imageio) is used directly only to read the header before decoding, and for the
  16-bit colour PNGs that Pillow's normal decoder would cut to 8 bits (see below).
  HEIC needs the optional pillow-heif plugin, AVIF a Pillow built with it (`io.heif`).
- The file is read into memory once, then its header is checked (size, sample type,
  frame count) before any pixel data is decoded, so a decompression bomb costs nothing.
- Truncated files are errors, never a silently gray image: reading refuses to run when
  `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` has been switched on by other code.
- EXIF orientation (JPEG, PNG eXIf, TIFF, WebP) is applied, so `pixels` is upright as a
  viewer shows it; `write_image` writes EXIF with orientation 1, so the written file is
  upright too.
- The ICC profile, the PNG colour chunks and the EXIF are returned in `metadata` for
  `write_image` to carry over (`issr_jax.io.metadata`); pixels are never converted
  between colour spaces: they are returned as stored.
- Palette images become RGB, or RGBA when the palette has transparency. Bilevel images
  become 8-bit gray. CMYK and YCbCr files become RGB. Colour-key transparency (a `tRNS`
  colour in a gray or RGB PNG) is ignored.
- 16-bit PNGs stay 16-bit in every layout (gray, gray+alpha, RGB, RGBA); 16-bit TIFFs
  only when gray, since Pillow cannot decode 16-bit colour TIFFs without losing the low
  byte. 32-bit integer and floating-point samples are refused.
- Animated or multi-page files are refused rather than silently reduced to one frame.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import PIL.Image
import PIL.ImageFile

from issr_jax.io.errors import ImageError, describe_error
from issr_jax.io.formats import SAMPLE_TYPES
from issr_jax.io.heif import prepare_plugin
from issr_jax.io.metadata import Metadata, read_metadata
from issr_jax.io.png16 import PNG16_COLOUR_RAWMODES, decode_png16_colour

__all__ = ["DEFAULT_MAX_PIXELS", "Image", "read_image"]

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image (width x height) `read_image` decodes unless told otherwise."""

# Pillow modes and what the reader turns them into before converting to float.
_NATIVE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N"})
_CONVERTED_MODES = {
    "1": "L",
    "La": "LA",
    "PA": "RGBA",
    "RGBX": "RGB",
    "RGBa": "RGBA",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


@dataclasses.dataclass(frozen=True, eq=False)
class Image:
    """A decoded image file.

    Attributes:
        pixels: `[H, W, C] float32 in [0, 1]`, `C` 1 (gray) or 3 (RGB), upright (EXIF
            orientation applied). The integer samples divided by the dtype's maximum.
        dtype: the file's sample type, `np.uint8` or `np.uint16`; pass it to `write_image`
            to write with the same depth.
        alpha: `None`, or `[H, W] float32 in [0, 1]` when the file has an alpha channel
            that is not the same everywhere.
        constant_alpha: the alpha value as a float in `[0, 1]` when the file has an alpha
            channel that is the same everywhere (DIV2KRK LR images: 1.0), else `None`.
        path: the file read.
        metadata: its ICC profile, PNG colour chunks and EXIF; pass it to `write_image`
            to carry them into the output.
        jpeg_luma_table: for a JPEG, its `[8, 8]` luma quantisation table (natural
            order, as stored; the pixels may have been turned upright since), else None.
    """

    pixels: np.ndarray
    dtype: type
    alpha: np.ndarray | None
    constant_alpha: float | None
    path: Path
    metadata: Metadata = Metadata()
    jpeg_luma_table: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """`(H, W, C)` of `pixels`."""
        return self.pixels.shape


# ---------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Reads an image file into `[H, W, C] float32 in [0, 1]`.

    Reads PNG, JPEG, BMP, TIFF, WebP and the other formats Pillow knows, 8 or 16 bits
    per sample. The EXIF orientation is applied (the result is upright as a viewer
    shows it). A constant alpha channel is dropped and remembered in `constant_alpha`;
    a varying one is returned in `alpha`. Palette images become RGB (RGBA with
    transparency). The size is checked against `max_pixels` from the header, before
    any pixel data is decoded.

    Args:
        path: the image file.
        max_pixels: refuse images with more than this many pixels (width x height).
            Pillow's own decompression-bomb limit (about 179 megapixels by default) also
            applies.

    Returns:
        An `Image`: `pixels` `[H, W, C] float32 in [0, 1]` with `C` in {1, 3}, the file's
        sample `dtype` (`np.uint8` or `np.uint16`), `alpha`, `constant_alpha` and `path`.

    Raises:
        ImageError: the file is missing, empty, truncated, not an image, too large,
            animated, or stores samples other than 8- or 16-bit integers.
        RuntimeError: `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` was set to True elsewhere.
    """
    path = Path(path)
    if PIL.ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True (set by other code); truncated "
            "files would then decode silently as partly gray images. Set it back to False."
        )
    data = _read_bytes(path)
    prepare_plugin(path, data)
    try:
        with warnings.catch_warnings():
            # The size is checked against max_pixels below; Pillow's warning adds nothing.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            samples, orientation, metadata, table = _decode(path, data, max_pixels=max_pixels)
    except ImageError:
        raise
    except PIL.Image.DecompressionBombError as error:
        raise ImageError(path, f"image is too large for Pillow to decode safely ({error})") from error
    except PIL.UnidentifiedImageError as error:
        raise ImageError(path, "not an image Pillow can read (unknown format or corrupt header)") from error
    except MemoryError as error:
        raise ImageError(path, "ran out of memory while decoding; free memory or lower max_pixels") from error
    except Exception as error:  # noqa: BLE001 - any decoder failure means a bad file.
        raise ImageError(
            path, f"cannot decode the image data ({describe_error(error)}); the file is damaged or truncated"
        ) from error
    samples = _apply_exif_orientation(samples, orientation)
    return dataclasses.replace(_to_image(path, samples, metadata), jpeg_luma_table=table)


def _read_bytes(path: Path) -> bytes:
    """The whole file, with missing, unreadable and empty files reported as ImageError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ImageError(path, "file does not exist; check the path") from error
    except IsADirectoryError as error:
        raise ImageError(path, "is a folder, not an image file") from error
    except PermissionError as error:
        raise ImageError(path, "permission denied; make the file readable") from error
    except OSError as error:
        raise ImageError(path, f"cannot read the file ({describe_error(error)})") from error
    if not data:
        raise ImageError(path, "file is empty (0 bytes); it was probably not written completely")
    return data


def _decode(path: Path, data: bytes, *, max_pixels: int) -> tuple[np.ndarray, int, Metadata, np.ndarray | None]:
    """Checks the header, then decodes. Returns (samples, EXIF orientation, metadata, the
    JPEG luma quantisation table or None).

    `samples` is uint8 or uint16, `[H, W]` (gray) or `[H, W, 2 | 3 | 4]` (gray+alpha,
    RGB, RGBA), in the stored (not yet EXIF-oriented) layout.
    """
    with PIL.Image.open(io.BytesIO(data)) as header:  # lazy: reads the header only
        width, height = header.size
        mode = header.mode
        if width <= 0 or height <= 0:
            raise ImageError(path, f"image has zero size ({width}x{height})")
        if width * height > max_pixels:
            raise ImageError(
                path,
                f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels, more "
                f"than the limit of {max_pixels / 1e6:g} megapixels; raise max_pixels if "
                "you trust this file",
            )
        frames = getattr(header, "n_frames", 1)
        if frames > 1:
            raise ImageError(
                path,
                f"has {frames} frames (animated or multi-page); save the frame you want as a single image",
            )
        rawmodes = {_tile_rawmode(tile) for tile in header.tile}
        metadata, orientation = read_metadata(header, data)
        table = _jpeg_luma_table(header)
        if header.format == "TIFF" and _pillow_orients_tiffs():
            orientation = 1  # already upright: `header.size` and the decoded samples alike
        if header.format == "PNG" and rawmodes & PNG16_COLOUR_RAWMODES:
            (rawmode,) = rawmodes
            samples = decode_png16_colour(data, rawmode)
            _check_decoded(path, samples, height, width)
            return samples, orientation, metadata, table
        if any(";16" in rawmode for rawmode in rawmodes) and not mode.startswith("I;16"):
            raise ImageError(
                path,
                f"16-bit {mode} {header.format} files are not supported (Pillow keeps only "
                "8 bits of them); convert it to a 16-bit PNG",
            )
        if mode == "P":
            target = "RGBA" if "transparency" in header.info or header.palette.mode == "RGBA" else "RGB"
        elif mode in _NATIVE_MODES:
            target = None
        elif mode in _CONVERTED_MODES:
            target = _CONVERTED_MODES[mode]
        elif mode in ("I", "F") or mode.startswith(("I;", "F;")):
            raise ImageError(
                path,
                f"stores {'floating-point' if mode.startswith('F') else '32-bit integer'} samples "
                f"(Pillow mode {mode}); only 8- and 16-bit integer images are supported, save it "
                "as an 8- or 16-bit PNG",
            )
        else:
            raise ImageError(path, f"unsupported pixel layout (Pillow mode {mode}); save it as a PNG")

    samples = iio.imread(data, plugin="pillow", index=0, mode=target)
    if samples.dtype.kind == "u" and not samples.dtype.isnative:  # big-endian 16-bit TIFF
        samples = samples.astype(samples.dtype.newbyteorder("="))
    _check_decoded(path, samples, height, width)
    return samples, orientation, metadata, table


def _jpeg_luma_table(header) -> np.ndarray | None:
    """A JPEG's first (luma) quantisation table as `[8, 8] float32`, None otherwise (or
    for a table that is not 64 positive steps)."""
    tables = getattr(header, "quantization", None) if header.format == "JPEG" else None
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    table = np.asarray(tables[0], np.float32).reshape(8, 8)
    return table if np.all(table > 0) else None


@functools.cache
def _pillow_orients_tiffs() -> bool:
    """Whether this Pillow turns TIFFs upright itself while opening them (newer releases
    do), so that applying the EXIF orientation again would turn them twice. Asked once, of
    a 2x1 TIFF with orientation 6 made in memory."""
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    PIL.Image.new("L", (2, 1)).save(buffer, "TIFF", exif=exif.tobytes())
    with PIL.Image.open(buffer) as probe:
        return probe.size == (1, 2)


def _tile_rawmode(tile: Sequence) -> str:
    """The raw mode string of a Pillow tile descriptor (its args are a str or a tuple)."""
    args = tile[3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _check_decoded(path: Path, samples: np.ndarray, height: int, width: int) -> None:
    """Guards against a decoder returning something other than the header promised."""
    if samples.dtype not in SAMPLE_TYPES:
        raise ImageError(path, f"decoded to {samples.dtype} samples; only 8- and 16-bit integer images are supported")
    if (
        samples.shape[:2] != (height, width)
        or samples.ndim not in (2, 3)
        or (samples.ndim == 3 and samples.shape[2] not in (2, 3, 4))
    ):
        raise ImageError(path, f"decoded to an unexpected shape {samples.shape} for a {width}x{height} image")


def _apply_exif_orientation(samples: np.ndarray, orientation: int) -> np.ndarray:
    """Applies EXIF orientation 1-8 to `[H, W, ...]` samples, as `PIL.ImageOps.exif_transpose`.

    Unknown orientation values are ignored, as Pillow does.
    """
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),
    }
    if orientation not in transforms:
        return samples
    return np.ascontiguousarray(transforms[orientation](samples))


def _to_image(path: Path, samples: np.ndarray, metadata: Metadata) -> Image:
    """Splits integer samples into float pixels and alpha."""
    dtype = samples.dtype.type
    scale = np.float32(np.iinfo(dtype).max)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    channels = samples.shape[2]
    colour = samples[:, :, : 1 if channels <= 2 else 3]
    alpha_samples = samples[:, :, -1] if channels in (2, 4) else None
    pixels = colour.astype(np.float32) / scale
    alpha = None
    constant_alpha = None
    if alpha_samples is not None:
        first = alpha_samples.flat[0]
        if np.all(alpha_samples == first):
            constant_alpha = float(np.float32(first) / scale)
        else:
            alpha = alpha_samples.astype(np.float32) / scale
    return Image(pixels=pixels, dtype=dtype, alpha=alpha, constant_alpha=constant_alpha, path=path, metadata=metadata)
