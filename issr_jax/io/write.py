"""Writing image files: `[H, W, C]` values in [0, 1] to uint8/uint16 samples, with the input's
colour profile and metadata, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from issr_jax.io.atomic import write_atomically
from issr_jax.io.errors import FormatError, ImageError, describe_error
from issr_jax.io.formats import IMAGE_EXTENSIONS, JPEG_EXTENSIONS, SAMPLE_TYPES, TIFF_EXTENSIONS, WEBP_EXTENSIONS
from issr_jax.io.metadata import Metadata, pillow_options, png_metadata_chunks
from issr_jax.io.png16 import encode_png16
from issr_jax.io.png_chunks import insert_chunks

__all__ = ["check_format", "check_quality", "quantise", "write_image"]


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    dtype: type | np.dtype = np.uint8,
    alpha: np.ndarray | None = None,
    constant_alpha: float | None = None,
    overwrite: bool = False,
    compress_level: int | None = None,
    metadata: Metadata | None = None,
    quality: int | None = None,
) -> None:
    """Writes `[H, W, C]` pixels in `[0, 1]` to an image file, atomically.

    The values are clipped to `[0, 1]`, scaled to the dtype's maximum, rounded half to
    even (`np.round`) and cast. The format comes from the extension: PNG (8/16-bit, any
    layout), TIFF (8-bit any layout, 16-bit gray only), JPEG (8-bit gray or RGB, quality
    95 without chroma subsampling), BMP (8-bit gray or RGB), WebP (8-bit RGB(A), lossless;
    gray is stored as RGB and an alpha of 1 everywhere is dropped by the format).
    `metadata` (an input's ICC profile, PNG colour chunks and EXIF) is written as
    `issr_jax.io.metadata` describes: EXIF with orientation 1 and this image's size.

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
        metadata: what to carry from the input (`Image.metadata`); None writes none.
        quality: JPEG and WebP: 1-100, lossy. None: JPEG at 95, WebP lossless. The
            lossless formats ignore it.

    Raises:
        ValueError: bad arguments: shapes, dtype, quality, NaN or infinity in `pixels` or `alpha`.
        ImageError: the file exists (and not `overwrite`), the folder is missing or not
            writable, the extension is not a supported format or cannot hold this image
            (16 bits, alpha), or encoding or writing failed.
    """
    path = Path(path)
    dtype = _check_dtype(dtype)
    check_quality(quality)
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
    check_format(path, dtype=dtype, channels=channels, has_alpha=alpha_plane is not None)
    stored_channels = 3 if extension in WEBP_EXTENSIONS else channels  # WebP stores gray as RGB
    try:
        encoded = _encode(
            samples,
            extension,
            compress_level=compress_level,
            quality=quality,
            metadata=metadata or Metadata(),
            channels=stored_channels,
        )
    except Exception as error:  # noqa: BLE001 - any encoder failure is reported with the path.
        raise ImageError(path, f"cannot encode the image as {extension} ({describe_error(error)})") from error
    write_atomically(path, encoded, overwrite=overwrite)


def check_quality(quality: int | None) -> None:
    """Raises ValueError unless `quality` is None or an integer from 1 to 100."""
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100):
        raise ValueError(f"quality must be an integer from 1 to 100 (or None), got {quality!r}")


def _check_dtype(dtype: type | np.dtype) -> type:
    try:
        scalar_type = np.dtype(dtype).type
    except TypeError as error:
        raise ValueError(f"dtype must be np.uint8 or np.uint16, got {dtype!r}") from error
    if scalar_type not in SAMPLE_TYPES:
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


def check_format(path: str | os.PathLike[str], *, dtype: type, channels: int, has_alpha: bool) -> None:
    """Refuses, with a fix, what `path`'s extension's format cannot hold.

    Args:
        path: the output file; its extension picks the format.
        dtype: `np.uint8` or `np.uint16` samples.
        channels: colour channels, 1 or 3.
        has_alpha: whether an alpha channel is written too.

    Raises:
        FormatError: an extension that is not written, or a format without room for 16
            bits or alpha (alpha is never dropped silently).
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in IMAGE_EXTENSIONS:
        raise FormatError(
            path,
            f"unsupported extension {extension or '(none)'!r}; use one of {', '.join(sorted(IMAGE_EXTENSIONS))}",
        )
    name = extension[1:].upper()
    if dtype == np.uint16:
        if extension in TIFF_EXTENSIONS and (channels != 1 or has_alpha):
            raise FormatError(path, "16-bit TIFF is written only for gray without alpha; use .png for 16-bit colour")
        if extension != ".png" and extension not in TIFF_EXTENSIONS:
            raise FormatError(path, f"{name} cannot store 16-bit samples; use .png (or .tif for gray), or write 8-bit")
    if has_alpha and (extension in JPEG_EXTENSIONS or extension == ".bmp"):
        raise FormatError(path, f"{name} cannot store an alpha channel; use .png, .tif or .webp")


def _encode(
    samples: np.ndarray,
    extension: str,
    *,
    compress_level: int | None,
    quality: int | None,
    metadata: Metadata,
    channels: int,
) -> bytes:
    """Encodes `[H, W]` or `[H, W, 2 | 3 | 4]` uint8/uint16 samples, and `metadata` for
    an image of `channels` stored colour channels, into file bytes."""
    height, width = samples.shape[:2]
    carried = dict(metadata=metadata, width=width, height=height, channels=channels)
    if extension == ".png":
        level = 6 if compress_level is None else int(compress_level)
        if samples.dtype == np.uint16:
            png = encode_png16(samples, level=level)
        else:
            png = iio.imwrite("<bytes>", samples, plugin="pillow", extension=extension, compress_level=level)
        return insert_chunks(png, png_metadata_chunks(**carried))
    options = {}
    if extension in JPEG_EXTENSIONS:
        options = {"quality": 95 if quality is None else quality, "subsampling": 0}
    elif extension in WEBP_EXTENSIONS:
        options = {"lossless": True} if quality is None else {"quality": quality}
    if extension != ".bmp":  # BMP has no place for a profile or EXIF
        options |= pillow_options(**carried)
    return iio.imwrite("<bytes>", samples, plugin="pillow", extension=extension, **options)


def quantise(image) -> np.ndarray:
    """`[H, W, C] float32`: the values a uint8 file of `image` holds, back in [0, 1]."""
    return (np.round(np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)
