"""Reading and writing image files safely: uint8/uint16, gray/RGB, with or without alpha.

This is the only module (with `metrics.py`) where integer pixel values exist. Everything
it hands to the library is `[H, W, C] float32 in [0, 1]`, `C` in {1, 3}, RGB order; the
alpha channel, when the file has one, travels beside the pixels so that `write_image`
can put it back.

Decisions, each one deliberate:

- Decoding goes through `imageio.v3` with its Pillow plugin; Pillow itself (a dependency
  of imageio) is used directly only to read the header before decoding, and for the
  16-bit colour PNGs that Pillow's normal decoder would cut to 8 bits (see below).
- The file is read into memory once, then its header is checked (size, sample type,
  frame count) before any pixel data is decoded, so a decompression bomb costs nothing.
- Truncated files are errors, never a silently gray image: reading refuses to run when
  `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` has been switched on by other code.
- EXIF orientation (JPEG, PNG eXIf, TIFF) is applied, so `pixels` is upright as a viewer
  shows it; `write_image` writes no EXIF, so the written file is upright too.
- Palette images become RGB, or RGBA when the palette has transparency. Bilevel images
  become 8-bit gray. CMYK and YCbCr files become RGB. Colour-key transparency (a `tRNS`
  colour in a gray or RGB PNG), colour profiles (ICC, gAMA) and other metadata are
  ignored: pixels are returned as stored.
- 16-bit PNGs stay 16-bit in every layout (gray, gray+alpha, RGB, RGBA); 16-bit TIFFs
  only when gray, since Pillow cannot decode 16-bit colour TIFFs without losing the low
  byte. 32-bit integer and floating-point samples are refused.
- Animated or multi-page files are refused rather than silently reduced to one frame.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import secrets
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import PIL.Image
import PIL.ImageFile
from PIL import features as _pil_features

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Image",
    "ImageError",
    "list_images",
    "read_image",
    "write_image",
]

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image (width x height) `read_image` decodes unless told otherwise."""

_JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
_TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
_WEBP_EXTENSIONS = frozenset({".webp"}) if _pil_features.check("webp") else frozenset()

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".bmp"} | _JPEG_EXTENSIONS | _TIFF_EXTENSIONS | _WEBP_EXTENSIONS
)
"""Lowercase suffixes (with the dot) that `list_images` treats as images and
`write_image` can write. `.webp` is present only when Pillow was built with WebP."""

_SUPPORTED_DTYPES = (np.uint8, np.uint16)

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

# 16-bit PNG layouts that Pillow decodes to 8 bits; read here with both bytes kept.
_PNG16_COLOUR_RAWMODES = frozenset({"RGB;16B", "RGBA;16B", "LA;16B"})

_EXIF_ORIENTATION_TAG = 0x0112


class ImageError(Exception):
    """A file that cannot be read or written as an image.

    `str(error)` is one line, `"{path}: {problem}"`, where the problem says what to do
    about it when there is something to do.

    Attributes:
      path: the file (or folder) concerned, as a `Path`.
      problem: what is wrong, one line.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


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
    """

    pixels: np.ndarray
    dtype: type
    alpha: np.ndarray | None
    constant_alpha: float | None
    path: Path

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
    try:
        with warnings.catch_warnings():
            # The size is checked against max_pixels below; Pillow's warning adds nothing.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            samples, orientation = _decode(path, data, max_pixels=max_pixels)
    except ImageError:
        raise
    except PIL.Image.DecompressionBombError as error:
        raise ImageError(path, f"image is too large for Pillow to decode safely ({error})") from error
    except PIL.UnidentifiedImageError as error:
        raise ImageError(
            path, "not an image Pillow can read (unknown format or corrupt header)"
        ) from error
    except MemoryError as error:
        raise ImageError(
            path, "ran out of memory while decoding; free memory or lower max_pixels"
        ) from error
    except Exception as error:  # noqa: BLE001 - any decoder failure means a bad file.
        raise ImageError(
            path, f"cannot decode the image data ({_describe(error)}); the file is damaged or truncated"
        ) from error
    samples = _apply_exif_orientation(samples, orientation)
    return _to_image(path, samples)


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
        raise ImageError(path, f"cannot read the file ({_describe(error)})") from error
    if not data:
        raise ImageError(path, "file is empty (0 bytes); it was probably not written completely")
    return data


def _decode(path: Path, data: bytes, *, max_pixels: int) -> tuple[np.ndarray, int]:
    """Checks the header, then decodes. Returns (samples, EXIF orientation).

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
                f"has {frames} frames (animated or multi-page); save the frame you want as a "
                "single image",
            )
        rawmodes = {_tile_rawmode(tile) for tile in header.tile}
        orientation = _exif_orientation(header, data)
        if header.format == "PNG" and rawmodes & _PNG16_COLOUR_RAWMODES:
            (rawmode,) = rawmodes
            samples = _decode_png16_colour(data, rawmode)
            _check_decoded(path, samples, height, width)
            return samples, orientation
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
    return samples, orientation


def _exif_orientation(header: PIL.Image.Image, data: bytes) -> int:
    """The EXIF orientation (1-8; 1 is upright) without decoding the pixels.

    Pillow's PNG `getexif` decodes the whole image when the eXIf chunk is not before
    the pixel data, so it is only asked when the file has an eXIf chunk at all.
    """
    if header.format == "PNG" and "exif" not in header.info and b"eXIf" not in data:
        return 1
    orientation = header.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    return orientation if isinstance(orientation, int) else 1


def _tile_rawmode(tile: Sequence) -> str:
    """The raw mode string of a Pillow tile descriptor (its args are a str or a tuple)."""
    args = tile[3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _decode_png16_colour(data: bytes, rawmode: str) -> np.ndarray:
    """Decodes a 16-bit RGB, RGBA or gray+alpha PNG without losing the low byte.

    Pillow stores these as 8-bit images. Its PNG decoder is reused with other unpackers
    so that both bytes of every sample survive: RGB(A) is decoded twice, once keeping
    the high bytes (`;16B`) and once the low bytes (`;16L` picks the second byte of
    each pair, which in big-endian PNG data is the low one); gray+alpha has 4 bytes per
    pixel, exactly like 8-bit RGBA, so it is decoded once as RGBA bytes.

    Returns:
      `[H, W, 2 | 3 | 4] uint16`.
    """

    def decode_as(unpacker: str) -> np.ndarray:
        with PIL.Image.open(io.BytesIO(data)) as image:
            image.tile = [(tile[0], tile[1], tile[2], unpacker) for tile in image.tile]
            image.load()
            return np.asarray(image).astype(np.uint16)

    if rawmode == "LA;16B":
        gray_high, gray_low, alpha_high, alpha_low = np.moveaxis(decode_as("RGBA"), -1, 0)
        return np.stack([(gray_high << 8) | gray_low, (alpha_high << 8) | alpha_low], axis=-1)
    layout = rawmode.split(";")[0]  # "RGB" or "RGBA"
    return (decode_as(f"{layout};16B") << 8) | decode_as(f"{layout};16L")


def _check_decoded(path: Path, samples: np.ndarray, height: int, width: int) -> None:
    """Guards against a decoder returning something other than the header promised."""
    if samples.dtype not in _SUPPORTED_DTYPES:
        raise ImageError(
            path, f"decoded to {samples.dtype} samples; only 8- and 16-bit integer images are supported"
        )
    if samples.shape[:2] != (height, width) or samples.ndim not in (2, 3) or (
        samples.ndim == 3 and samples.shape[2] not in (2, 3, 4)
    ):
        raise ImageError(
            path, f"decoded to an unexpected shape {samples.shape} for a {width}x{height} image"
        )


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


def _to_image(path: Path, samples: np.ndarray) -> Image:
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
    return Image(pixels=pixels, dtype=dtype, alpha=alpha, constant_alpha=constant_alpha, path=path)


def _describe(error: BaseException) -> str:
    """`ErrorType: message` on one line, for the end of an ImageError problem."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


# ---------------------------------------------------------------------------- writing


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    dtype: type | np.dtype = np.uint8,
    alpha: np.ndarray | None = None,
    constant_alpha: float | None = None,
    overwrite: bool = False,
    compress_level: int | None = None,
) -> None:
    """Writes `[H, W, C]` pixels in `[0, 1]` to an image file, atomically.

    The values are clipped to `[0, 1]`, scaled to the dtype's maximum, rounded half to
    even (`np.round`) and cast. The format comes from the extension: PNG (8/16-bit, any
    layout), TIFF (8-bit any layout, 16-bit gray only), JPEG (8-bit gray or RGB, quality
    95 without chroma subsampling), BMP (8-bit gray or RGB), WebP (8-bit RGB(A), lossless;
    gray is stored as RGB and an alpha of 1 everywhere is dropped by the format).

    The file is encoded in memory, written to a hidden temporary file in the same
    folder, flushed to disk and then renamed into place, so `path` never holds a
    partial image; the temporary file is removed on any failure.

    Args:
      path: the file to write; its extension picks the format.
      pixels: `[H, W, C]` real numbers in `[0, 1]`, `C` 1 (gray) or 3 (RGB). Values
        outside `[0, 1]` are clipped; NaN or infinity is refused.
      dtype: `np.uint8` or `np.uint16`, the sample type of the file.
      alpha: optional `[H, W]` (or `[H, W, 1]`) alpha plane in `[0, 1]`.
      constant_alpha: optional alpha value in `[0, 1]` written as a full plane (restores
        the constant alpha `read_image` dropped). At most one of `alpha` and
        `constant_alpha`.
      overwrite: replace an existing file; without it an existing file is an error.
      compress_level: PNG only: zlib level 0-9 (None: 6). Level 1 encodes a photo about
        5x faster than 6 for files about 8% larger; the pixels are the same.

    Raises:
      ValueError: bad arguments: shapes, dtype, NaN or infinity in `pixels` or `alpha`.
      ImageError: the file exists (and not `overwrite`), the folder is missing or not
        writable, the extension is not a supported format or cannot hold this image
        (16 bits, alpha), or encoding or writing failed.
    """
    path = Path(path)
    dtype = _check_dtype(dtype)
    samples = _to_samples(pixels, dtype, name="pixels")
    if samples.ndim != 3 or samples.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be [H, W, C] with C 1 or 3, got shape {np.shape(pixels)}")
    height, width, channels = samples.shape
    if height == 0 or width == 0:
        raise ValueError(f"pixels must not be empty, got shape {samples.shape}")
    alpha_plane = _alpha_plane(alpha, constant_alpha, dtype, height, width)
    if alpha_plane is not None:
        samples = np.concatenate([samples, alpha_plane[:, :, None]], axis=-1)
    if samples.shape[2] == 1:
        samples = samples[:, :, 0]

    extension = path.suffix.lower()
    _check_format(path, extension, dtype=dtype, channels=channels, has_alpha=alpha_plane is not None)
    try:
        encoded = _encode(samples, extension, compress_level=compress_level)
    except Exception as error:  # noqa: BLE001 - any encoder failure is reported with the path.
        raise ImageError(path, f"cannot encode the image as {extension} ({_describe(error)})") from error
    _write_atomically(path, encoded, overwrite=overwrite)


def _check_dtype(dtype: type | np.dtype) -> type:
    try:
        scalar_type = np.dtype(dtype).type
    except TypeError as error:
        raise ValueError(f"dtype must be np.uint8 or np.uint16, got {dtype!r}") from error
    if scalar_type not in _SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be np.uint8 or np.uint16, got {dtype!r}")
    return scalar_type


CONVERT_BLOCK_VALUES = 1 << 22  # values converted at a time (16 MB of float32 temporaries)


def _to_samples(values: np.ndarray, dtype: type, *, name: str) -> np.ndarray:
    """`[0, 1]` reals -> integer samples: refuse non-finite, clip, scale, round half to even.

    Converted in blocks of rows, so the temporaries stay small whatever the image size
    (whole-image temporaries were about 3x a float32 8K output: 2.4 GB at 8192 x 8192 RGB).
    """
    values = np.asarray(values)
    if values.dtype.kind not in "fiub":  # float, signed, unsigned, bool
        raise ValueError(f"{name} must be real numbers in [0, 1], got dtype {values.dtype}")
    scale = np.float32(np.iinfo(dtype).max)
    if values.ndim == 0:
        return _to_samples(values[None], dtype, name=name)[0]
    samples = np.empty(values.shape, dtype)
    rows = max(1, CONVERT_BLOCK_VALUES // max(1, values[:1].size))
    for start in range(0, len(values), rows):
        block = values[start : start + rows].astype(np.float32)  # a copy: the caller's array is left alone
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} contain NaN or infinity; refusing to write them")
        np.clip(block, 0.0, 1.0, out=block)
        block *= scale
        samples[start : start + rows] = np.round(block, out=block)
    return samples


def _alpha_plane(
    alpha: np.ndarray | None, constant_alpha: float | None, dtype: type, height: int, width: int
) -> np.ndarray | None:
    """The `[H, W]` integer alpha plane to attach, or None."""
    if alpha is not None and constant_alpha is not None:
        raise ValueError("pass at most one of alpha and constant_alpha")
    if constant_alpha is not None:
        value = float(constant_alpha)
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"constant_alpha must be in [0, 1], got {constant_alpha!r}")
        return np.full((height, width), _to_samples(np.float32(value), dtype, name="constant_alpha"), dtype)
    if alpha is None:
        return None
    plane = _to_samples(alpha, dtype, name="alpha")
    if plane.ndim == 3 and plane.shape[2] == 1:
        plane = plane[:, :, 0]
    if plane.shape != (height, width):
        raise ValueError(f"alpha must be [H, W] = {(height, width)}, got shape {np.shape(alpha)}")
    return plane


def _check_format(path: Path, extension: str, *, dtype: type, channels: int, has_alpha: bool) -> None:
    """Refuses, with a fix, what the extension's format cannot hold."""
    if extension not in IMAGE_EXTENSIONS:
        raise ImageError(
            path,
            f"unsupported extension {extension or '(none)'!r}; use one of "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}",
        )
    name = extension[1:].upper()
    if dtype == np.uint16:
        if extension in _TIFF_EXTENSIONS and (channels != 1 or has_alpha):
            raise ImageError(
                path, "16-bit TIFF is written only for gray without alpha; use .png for 16-bit colour"
            )
        if extension != ".png" and extension not in _TIFF_EXTENSIONS:
            raise ImageError(
                path, f"{name} cannot store 16-bit samples; use .png (or .tif for gray), or write 8-bit"
            )
    if has_alpha and (extension in _JPEG_EXTENSIONS or extension == ".bmp"):
        raise ImageError(path, f"{name} cannot store an alpha channel; use .png, .tif or .webp")


def _encode(samples: np.ndarray, extension: str, *, compress_level: int | None = None) -> bytes:
    """Encodes `[H, W]` or `[H, W, 2 | 3 | 4]` uint8/uint16 samples into file bytes."""
    level = 6 if compress_level is None else int(compress_level)
    if extension == ".png" and samples.dtype == np.uint16:
        return _encode_png16(samples, level=level)
    options = {}
    if extension == ".png":
        options = {"compress_level": level}
    elif extension in _JPEG_EXTENSIONS:
        options = {"quality": 95, "subsampling": 0}
    elif extension in _WEBP_EXTENSIONS:
        options = {"lossless": True}
    return iio.imwrite("<bytes>", samples, plugin="pillow", extension=extension, **options)


def _encode_png16(samples: np.ndarray, *, level: int = 6) -> bytes:
    """A 16-bit PNG of `[H, W]` or `[H, W, 2 | 3 | 4]` uint16 samples.

    Written here because Pillow cannot write 16-bit gray+alpha, RGB or RGBA. Every row
    uses the PNG "Sub" filter (difference to the pixel on the left), which is exact,
    vectorises, and compresses photographs well.
    """
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bytes_per_pixel = 2 * channels
    rows = samples.astype(">u2").view(np.uint8).reshape(height, width * bytes_per_pixel)
    filtered = rows.copy()
    filtered[:, bytes_per_pixel:] -= rows[:, :-bytes_per_pixel]  # uint8 arithmetic wraps mod 256
    scanlines = np.concatenate([np.ones((height, 1), np.uint8), filtered], axis=1)  # filter type 1

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    compressed = zlib.compress(scanlines.tobytes(), level)
    idat_size = 1 << 20
    idat = b"".join(
        chunk(b"IDAT", compressed[start : start + idat_size])
        for start in range(0, len(compressed), idat_size)
    )
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def _write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Writes `data` to a temporary file next to `path`, fsyncs it, then moves it into place."""
    folder = path.parent
    if not folder.exists():
        raise ImageError(path, f"folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise ImageError(path, f"{folder} is not a folder")
    if path.is_dir():
        raise ImageError(path, "is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ImageError(path, "already exists; pass --overwrite to replace it")

    temporary = temporary_path(path)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError as error:
        raise ImageError(
            path, f"cannot write in folder {folder}: permission denied; choose a writable output folder"
        ) from error
    except OSError as error:
        raise ImageError(path, f"cannot create a file in folder {folder} ({_describe(error)})") from error
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
            path, f"writing failed ({_describe(error)}); check free disk space and permissions"
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
        raise ImageError(path, "already exists; pass --overwrite to replace it") from error
    except OSError:
        # No hard links on this file system: fall back to check-then-rename.
        if path.exists():
            raise ImageError(path, "already exists; pass --overwrite to replace it") from None
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


# ---------------------------------------------------------------------------- folders


def temporary_path(path: Path) -> Path:
    """The hidden name a file is written under before it is renamed into place:
    `.{name}.tmp-{pid}-{random}{suffix}` in the same folder (the suffix keeps the format)."""
    path = Path(path)
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"


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
    `IMAGE_EXTENSIONS`; hidden entries (name starting with '.'), sub-folders, other
    extensions and broken links are skipped. Sub-folders are not searched.

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
        raise ImageError(folder, f"cannot list the folder ({_describe(error)})") from error
    images: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for entry in entries:
        if entry.name.startswith("."):
            skipped.append((entry, "hidden"))
        elif entry.is_dir():
            skipped.append((entry, "folder"))
        elif not entry.is_file():
            skipped.append((entry, "broken link or not a regular file"))
        elif entry.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((entry, f"not an image extension ({entry.suffix or 'none'})"))
        else:
            images.append(entry)
    return images, skipped
