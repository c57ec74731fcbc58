"""Colour profiles and metadata from input to output (issr_jax.io.metadata), per format.

Each file holds a real ICC profile (made by `PIL.ImageCms`) and EXIF with an orientation,
camera tags, an Exif sub-IFD (date, pixel dimensions), a GPS sub-IFD and a thumbnail IFD;
what comes out is compared byte for byte where the format stores bytes, tag by tag where
it stores tags.
"""

import io
import struct
import zlib

import numpy as np
import PIL.Image
import PIL.ImageCms
import PIL.PngImagePlugin
import pytest

from issr_jax.io import read_image, write_image
from issr_jax.io.metadata import Metadata, exif_for_output, profile_fits

PROFILE = PIL.ImageCms.ImageCmsProfile(PIL.ImageCms.createProfile("sRGB")).tobytes()
LAB_PROFILE = PIL.ImageCms.ImageCmsProfile(PIL.ImageCms.createProfile("LAB")).tobytes()
ORIENTATION, MAKE, MODEL = 0x0112, 0x010F, 0x0110
EXIF_IFD, GPS_IFD, IFD1 = 0x8769, 0x8825, -1
DATE_ORIGINAL, PIXEL_X, PIXEL_Y = 0x9003, 0xA002, 0xA003
GPS_LATITUDE_REF = 0x0001
# Chunk bodies of a PNG that says "sRGB, perceptual; gamma 1/2.2; BT.709 primaries".
PNG_COLOUR = (
    (b"sRGB", b"\x00"),
    (b"gAMA", struct.pack(">I", 45455)),
    (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
)
FORMATS = [".png", ".jpg", ".webp", ".tif"]


def _exif_bytes(*, orientation, width, height):
    """EXIF as a camera writes it: IFD0, Exif and GPS sub-IFDs, and an IFD1 (thumbnail) that
    Pillow cannot write, appended here by hand."""
    exif = PIL.Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "Camera maker"
    exif[MODEL] = "Model 1"
    exif.get_ifd(EXIF_IFD).update({DATE_ORIGINAL: "2024:05:06 07:08:09", PIXEL_X: width, PIXEL_Y: height})
    exif.get_ifd(GPS_IFD).update({GPS_LATITUDE_REF: "N"})
    data = bytearray(exif.tobytes())
    tiff = 6  # offsets count from the TIFF header, after "Exif\0\0"
    (first_ifd,) = struct.unpack(">I", data[tiff + 4 : tiff + 8])
    (count,) = struct.unpack(">H", data[tiff + first_ifd : tiff + first_ifd + 2])
    next_pointer = tiff + first_ifd + 2 + 12 * count
    ifd1 = len(data) - tiff
    data[next_pointer : next_pointer + 4] = struct.pack(">I", ifd1)
    # IFD1: one entry, JPEGInterchangeFormatLength (LONG) = 0; no next IFD.
    data += struct.pack(">H", 1) + struct.pack(">HHII", 0x0202, 4, 1, 0) + struct.pack(">I", 0)
    return bytes(data)


def _source(tmp_path, extension, *, orientation=6, mode="RGB"):
    """A file with a profile and EXIF: 12 rows x 20 columns as stored, so 20 x 12 upright
    after orientation 6 (rotate 90 degrees)."""
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "L": 1}[mode]
    samples = rng.integers(0, 256, (12, 20, channels), dtype=np.uint8).squeeze()
    path = tmp_path / f"source{extension}"
    options = {"icc_profile": PROFILE, "exif": _exif_bytes(orientation=orientation, width=20, height=12)}
    if extension == ".webp":
        options["lossless"] = True
    PIL.Image.fromarray(samples, mode).save(path, **options)
    return path


def _written(tmp_path, extension, source, *, size=(40, 24), **options):
    """`source` read, enlarged by pixel repetition to `size` (rows, columns), written."""
    image = read_image(source)
    rows, cols = size
    pixels = np.repeat(np.repeat(image.pixels, rows // image.shape[0], 0), cols // image.shape[1], 1)
    out = tmp_path / f"out{extension}"
    write_image(out, pixels, metadata=image.metadata, **options)
    return out


def _png_chunks(data):
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunks.append((data[position + 4 : position + 8], data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def test_source_files_hold_what_the_tests_claim(tmp_path):
    with PIL.Image.open(_source(tmp_path, ".jpg")) as image:
        exif = image.getexif()
        assert image.info["icc_profile"] == PROFILE and exif[ORIENTATION] == 6
        assert exif.get_ifd(IFD1) and exif.get_ifd(GPS_IFD) and exif.get_ifd(EXIF_IFD)[PIXEL_X] == 20


@pytest.mark.parametrize("source_extension", FORMATS)
@pytest.mark.parametrize("extension", FORMATS)
def test_profile_and_exif_travel_between_formats(tmp_path, source_extension, extension):
    source = _source(tmp_path, source_extension)
    assert read_image(source).shape == (20, 12, 3)  # upright: 20 rows x 12 columns
    out = _written(tmp_path, extension, source, size=(40, 24))
    with PIL.Image.open(out) as image:
        assert image.size == (24, 40)
        assert image.info["icc_profile"] == PROFILE  # the same bytes
        exif = image.getexif()
        assert exif[ORIENTATION] == 1  # the pixels are upright
        assert (exif[MAKE], exif[MODEL]) == ("Camera maker", "Model 1")
        sub = exif.get_ifd(EXIF_IFD)
        assert sub[DATE_ORIGINAL] == "2024:05:06 07:08:09"
        assert (sub[PIXEL_X], sub[PIXEL_Y]) == (24, 40)  # the output's width and height
        assert exif.get_ifd(GPS_IFD)[GPS_LATITUDE_REF] == "N"
        assert not exif.get_ifd(IFD1)  # the thumbnail showed the old pixels
    assert read_image(out).shape == (40, 24, 3)  # and a reader shows it as written


def test_jpeg_stores_the_profile_in_app2_and_exif_in_app1(tmp_path):
    data = _written(tmp_path, ".jpg", _source(tmp_path, ".png")).read_bytes()
    app2 = data.index(b"\xff\xe2")
    assert data[app2 + 4 : app2 + 18] == b"ICC_PROFILE\0\x01\x01"
    assert data[app2 + 18 : app2 + 18 + len(PROFILE)] == PROFILE
    app1 = data.index(b"\xff\xe1")
    assert data[app1 + 4 : app1 + 10] == b"Exif\0\0"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_carries_colour_chunks_byte_for_byte(tmp_path, dtype):
    info = PIL.PngImagePlugin.PngInfo()
    for kind, body in PNG_COLOUR:
        info.add(kind, body)
    source = tmp_path / "colour.png"
    PIL.Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(source, pnginfo=info)
    image = read_image(source)
    assert image.metadata.png_colour == PNG_COLOUR
    out = tmp_path / "out.png"
    write_image(out, image.pixels, dtype=dtype, metadata=image.metadata)
    chunks = _png_chunks(out.read_bytes())
    kinds = [kind for kind, _ in chunks]
    assert [c for c in chunks if c[0] in (b"sRGB", b"gAMA", b"cHRM")] == list(PNG_COLOUR)
    assert all(kinds.index(kind) < kinds.index(b"IDAT") for kind, _ in PNG_COLOUR)
    with PIL.Image.open(out) as written:
        assert written.info["gamma"] == pytest.approx(0.45455) and written.info["srgb"] == 0


def test_sixteen_bit_png_carries_profile_and_exif(tmp_path):
    source = _source(tmp_path, ".png")
    image = read_image(source)
    out = tmp_path / "out16.png"
    write_image(out, image.pixels, dtype=np.uint16, metadata=image.metadata)
    chunks = dict(_png_chunks(out.read_bytes()))
    name, _, compressed = chunks[b"iCCP"].partition(b"\0")
    assert compressed[0] == 0 and zlib.decompress(compressed[1:]) == PROFILE
    with PIL.Image.open(out) as written:
        assert written.getexif()[ORIENTATION] == 1 and written.getexif()[MAKE] == "Camera maker"
    assert read_image(out).dtype == np.uint16


@pytest.mark.parametrize("extension", [*FORMATS, ".bmp"])
def test_without_metadata_nothing_is_written(tmp_path, extension):
    out = tmp_path / f"plain{extension}"
    write_image(out, read_image(_source(tmp_path, ".png")).pixels)
    with PIL.Image.open(out) as image:
        assert "icc_profile" not in image.info and "exif" not in image.info
        assert not {t for t in image.getexif() if t in (ORIENTATION, MAKE, EXIF_IFD)}
    if extension == ".png":
        assert not {k for k, _ in _png_chunks(out.read_bytes())} & {b"iCCP", b"eXIf", b"sRGB", b"gAMA", b"cHRM"}


def test_profile_of_another_colour_space_is_not_carried(tmp_path):
    """A profile must describe the samples written: Lab for RGB pixels is dropped, and so
    is a gray profile for WebP, which stores gray as RGB."""
    gray_profile = PROFILE[:16] + b"GRAY" + PROFILE[20:]
    assert profile_fits(PROFILE, channels=3) and profile_fits(gray_profile, channels=1)
    assert not profile_fits(LAB_PROFILE, channels=3) and not profile_fits(PROFILE, channels=1)
    pixels = np.full((8, 8, 3), 0.5, np.float32)
    write_image(tmp_path / "lab.png", pixels, metadata=Metadata(icc_profile=LAB_PROFILE))
    write_image(tmp_path / "gray.webp", pixels[..., :1], metadata=Metadata(icc_profile=gray_profile))
    write_image(tmp_path / "gray.png", pixels[..., :1], metadata=Metadata(icc_profile=gray_profile))
    for name, kept in (("lab.png", None), ("gray.webp", None), ("gray.png", gray_profile)):
        with PIL.Image.open(tmp_path / name) as image:
            assert image.info.get("icc_profile") == kept, name


def test_gray_file_keeps_its_gray_profile(tmp_path):
    gray_profile = PROFILE[:16] + b"GRAY" + PROFILE[20:]
    source = tmp_path / "gray.jpg"
    PIL.Image.fromarray(np.full((16, 16), 99, np.uint8)).save(source, icc_profile=gray_profile)
    image = read_image(source)
    assert image.metadata.icc_profile == gray_profile
    write_image(tmp_path / "out.tif", image.pixels, metadata=image.metadata)
    with PIL.Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "L" and written.info["icc_profile"] == gray_profile


def test_exif_without_orientation_or_dimensions_gains_none():
    exif = PIL.Image.Exif()
    exif[MAKE] = "Camera maker"
    updated = PIL.Image.Exif()
    updated.load(exif_for_output(exif.tobytes(), width=10, height=20))
    assert dict(updated) == {MAKE: "Camera maker"}


def test_tiff_layout_tags_stay_with_the_tiff(tmp_path):
    """A TIFF's own layout (strips, bits per sample, ...) is not EXIF for another file."""
    source = _source(tmp_path, ".tif")
    out = _written(tmp_path, ".jpg", source)
    with PIL.Image.open(out) as image:
        tags = set(image.getexif())
    assert tags.isdisjoint({0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117})
    assert {ORIENTATION, MAKE, MODEL, EXIF_IFD} <= tags


def test_metadata_is_read_without_decoding_a_late_exif_png(tmp_path):
    """A PNG without eXIf gives empty EXIF; one with it after IDAT still gives it."""
    plain = tmp_path / "plain.png"
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(plain)
    assert read_image(plain).metadata == Metadata()
    late = io.BytesIO()
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(late, "PNG")
    exif = PIL.Image.Exif()
    exif[MAKE] = "late"
    body = exif.tobytes()[6:]
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    data = late.getvalue()
    iend = data.index(b"IEND") - 4
    (tmp_path / "late.png").write_bytes(data[:iend] + chunk + data[iend:])
    assert read_image(tmp_path / "late.png").metadata.exif is not None
