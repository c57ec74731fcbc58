"""PNG chunks: building one, reading the colour chunks of a file, adding chunks to a file.

Written here rather than left to Pillow because Pillow neither writes `sRGB`, `gAMA` and
`cHRM` nor any chunk of a 16-bit colour PNG (`png16` encodes those itself); one way of
adding chunks serves every PNG this package writes.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["COLOUR_CHUNKS", "PNG_SIGNATURE", "colour_chunks", "insert_chunks", "png_chunk"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_CHUNKS = (b"sRGB", b"gAMA", b"cHRM")
"""The PNG colour chunks besides `iCCP` that are carried from input to output, byte for byte."""


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One chunk: length, type, body, CRC-32 of type and body."""
    checksum = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def colour_chunks(data: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """`(type, body)` of the `COLOUR_CHUNKS` of a PNG file, in file order.

    Only chunks before the first `IDAT` count (the PNG specification puts them there);
    anything that is not a well-formed PNG gives `()`.
    """
    if not data.startswith(PNG_SIGNATURE):
        return ()
    found = []
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT" or position + 12 + length > len(data):
            break
        if kind in COLOUR_CHUNKS:
            found.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return tuple(found)


def insert_chunks(png: bytes, chunks: list[bytes]) -> bytes:
    """`png` with complete `chunks` (from `png_chunk`) placed right after `IHDR`.

    That place is before `PLTE` and `IDAT`, where colour chunks and `eXIf` belong.
    """
    if not chunks:
        return png
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG that starts with its IHDR chunk")
    (length,) = struct.unpack(">I", png[8:12])
    end_of_header = 8 + 12 + length
    return png[:end_of_header] + b"".join(chunks) + png[end_of_header:]
