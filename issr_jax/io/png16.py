"""16-bit colour PNGs, which Pillow reads as 8 bits and cannot write: a decoder and an encoder."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import PIL.Image

from issr_jax.io.png_chunks import PNG_SIGNATURE, png_chunk

__all__ = ["PNG16_COLOUR_RAWMODES", "decode_png16_colour", "encode_png16"]

# 16-bit PNG layouts that Pillow decodes to 8 bits; read here with both bytes kept.
PNG16_COLOUR_RAWMODES = frozenset({"RGB;16B", "RGBA;16B", "LA;16B"})


def decode_png16_colour(data: bytes, rawmode: str) -> np.ndarray:
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


def encode_png16(samples: np.ndarray, *, level: int = 6) -> bytes:
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

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    compressed = zlib.compress(scanlines.tobytes(), level)
    idat_size = 1 << 20
    idat = b"".join(
        png_chunk(b"IDAT", compressed[start : start + idat_size]) for start in range(0, len(compressed), idat_size)
    )
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + idat + png_chunk(b"IEND", b"")
