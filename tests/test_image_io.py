"""Tests for issr_jax.io: round trips, odd layouts, damaged files, atomic writes.

All images are generated in `tmp_path`; one optional test reads a DIV2KRK LR image from
the shared datasets folder and skips when it is absent.
"""

import inspect
import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import PIL.features
import PIL.Image
import PIL.ImageFile
import PIL.ImageOps
import pytest

import issr_jax.io as image_io
from issr_jax.io import IMAGE_EXTENSIONS, Image, ImageError, OutputExistsError, list_images, read_image, write_image

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

LAYOUTS = ["gray", "gray_alpha", "rgb", "rgba_constant", "rgba_varying"]


# ---------------------------------------------------------------------------- helpers


def _random_samples(rng, shape, dtype):
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=np.int64).astype(dtype)


def _layout(layout, dtype, *, height=9, width=13, seed=0):
    """(colour samples [H, W, C], alpha samples [H, W] or None, constant alpha int or None)."""
    rng = np.random.default_rng(seed)
    channels = 1 if layout.startswith("gray") else 3
    colour = _random_samples(rng, (height, width, channels), dtype)
    top = np.iinfo(dtype).max
    if layout == "gray_alpha" or layout == "rgba_varying":
        return colour, _random_samples(rng, (height, width), dtype), None
    if layout == "rgba_constant":
        return colour, None, top
    return colour, None, None


def _to_float(samples):
    return samples.astype(np.float32) / np.float32(np.iinfo(samples.dtype).max)


def _samples_of(values, dtype):
    """Float in [0, 1] back to integer samples (exact for values read from a file)."""
    return np.round(np.asarray(values, np.float64) * np.iinfo(dtype).max).astype(dtype)


def _png_chunk(kind, body):
    checksum = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def _paeth(left, up, up_left):
    estimate = left + up - up_left
    distances = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
    return (left, up, up_left)[distances.index(min(distances))]


def _png_bytes_all_filters(samples):
    """A PNG (any depth and layout) whose rows use filter types 0-4 in turn.

    Independent of the module's writer, pure Python, so only for tiny images.
    """
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    depth = 8 * samples.dtype.itemsize
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bpp = channels * samples.dtype.itemsize
    rows = [list(samples[y].astype(samples.dtype.newbyteorder(">")).tobytes()) for y in range(height)]
    out = bytearray()
    previous = [0] * len(rows[0])
    for y, row in enumerate(rows):
        kind = y % 5
        out.append(kind)
        for x, value in enumerate(row):
            left = row[x - bpp] if x >= bpp else 0
            up = previous[x]
            up_left = previous[x - bpp] if x >= bpp else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
            out.append((value - predictor) % 256)
        previous = row
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(out)))
        + _png_chunk(b"IEND", b"")
    )


def _exif(orientation):
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    return exif


def _pillow_bytes(samples, format_, **options):
    buffer = io.BytesIO()
    PIL.Image.fromarray(samples).save(buffer, format=format_, **options)
    return buffer.getvalue()


def _small_png(seed=0):
    rng = np.random.default_rng(seed)
    return _pillow_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "PNG")


def _small_jpeg(seed=0):
    rng = np.random.default_rng(seed)
    return _pillow_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "JPEG")


def _with_ihdr_size(png, width, height):
    """The PNG with its IHDR claiming another size (CRC fixed), pixel data unchanged."""
    ihdr = bytearray(png[12:29])  # type + 13 bytes of header
    ihdr[4:12] = struct.pack(">II", width, height)
    checksum = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return png[:12] + bytes(ihdr) + checksum + png[33:]


def _assert_valid(image, path):
    assert isinstance(image, Image)
    assert image.path == Path(path)
    assert image.pixels.dtype == np.float32 and image.pixels.ndim == 3
    assert image.pixels.shape[2] in (1, 3)
    assert np.all((image.pixels >= 0) & (image.pixels <= 1))
    assert image.dtype in (np.uint8, np.uint16)
    assert image.alpha is None or image.constant_alpha is None
    if image.alpha is not None:
        assert image.alpha.shape == image.pixels.shape[:2] and image.alpha.dtype == np.float32
        assert np.all((image.alpha >= 0) & (image.alpha <= 1))
    if image.constant_alpha is not None:
        assert 0.0 <= image.constant_alpha <= 1.0


def _files_in(folder):
    return sorted(entry.name for entry in Path(folder).iterdir())


def _assert_one_line_error(error, path):
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{Path(path)}: ")
    assert error.value.path == Path(path)
    assert error.value.problem


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_png_round_trip_is_bit_exact(tmp_path, layout, dtype):
    colour, alpha, constant = _layout(layout, dtype)
    top = np.iinfo(dtype).max
    path = tmp_path / "out.png"
    write_image(
        path,
        _to_float(colour),
        dtype=dtype,
        alpha=None if alpha is None else _to_float(alpha),
        constant_alpha=None if constant is None else constant / top,
    )
    image = read_image(path)
    _assert_valid(image, path)
    assert image.dtype == dtype
    assert image.pixels.shape == colour.shape
    np.testing.assert_array_equal(_samples_of(image.pixels, dtype), colour)
    if alpha is None:
        assert image.alpha is None
    else:
        np.testing.assert_array_equal(_samples_of(image.alpha, dtype), alpha)
    assert image.constant_alpha == (None if constant is None else 1.0)

    # What is read can be written back unchanged.
    again = tmp_path / "again.png"
    write_image(again, image.pixels, dtype=image.dtype, alpha=image.alpha, constant_alpha=image.constant_alpha)
    reread = read_image(again)
    np.testing.assert_array_equal(reread.pixels, image.pixels)
    assert reread.constant_alpha == image.constant_alpha


@pytest.mark.parametrize("layout", LAYOUTS)
def test_written_png_decodes_identically_in_pillow(tmp_path, layout):
    colour, alpha, constant = _layout(layout, np.uint8)
    path = tmp_path / "out.png"
    write_image(
        path,
        _to_float(colour),
        alpha=None if alpha is None else _to_float(alpha),
        constant_alpha=None if constant is None else 1.0,
    )
    decoded = np.asarray(PIL.Image.open(path))
    expected = colour
    if alpha is not None or constant is not None:
        plane = alpha if alpha is not None else np.full(colour.shape[:2], 255, np.uint8)
        expected = np.concatenate([colour, plane[:, :, None]], axis=-1)
    np.testing.assert_array_equal(decoded.reshape(expected.shape), expected)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_reads_pngs_with_every_filter_type(tmp_path, layout, dtype):
    colour, alpha, constant = _layout(layout, dtype, height=10, width=6, seed=3)
    planes = [colour]
    if alpha is not None:
        planes.append(alpha[:, :, None])
    elif constant is not None:
        planes.append(np.full(colour.shape[:2] + (1,), constant, dtype))
    samples = np.concatenate(planes, axis=-1)
    path = tmp_path / "filters.png"
    path.write_bytes(_png_bytes_all_filters(samples))
    image = read_image(path)
    assert image.dtype == dtype
    np.testing.assert_array_equal(_samples_of(image.pixels, dtype), colour)
    if alpha is not None:
        np.testing.assert_array_equal(_samples_of(image.alpha, dtype), alpha)


def test_sixteen_bit_png_keeps_low_byte(tmp_path):
    samples = np.array([[[0x0102, 0xFF00, 0x00FF], [0xFFFF, 0x0001, 0x8000]]], np.uint16)
    path = tmp_path / "low.png"
    path.write_bytes(_png_bytes_all_filters(samples))
    image = read_image(path)
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint16), samples)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("extension", [".tif", ".tiff"])
def test_tiff_round_trip_8_bit(tmp_path, layout, extension):
    colour, alpha, constant = _layout(layout, np.uint8)
    path = tmp_path / f"out{extension}"
    write_image(
        path,
        _to_float(colour),
        alpha=None if alpha is None else _to_float(alpha),
        constant_alpha=None if constant is None else 1.0,
    )
    image = read_image(path)
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), colour)
    if alpha is not None:
        np.testing.assert_array_equal(_samples_of(image.alpha, np.uint8), alpha)
    assert image.constant_alpha == (None if constant is None else 1.0)


def test_tiff_round_trip_16_bit_gray(tmp_path):
    colour, _, _ = _layout("gray", np.uint16)
    path = tmp_path / "out.tif"
    write_image(path, _to_float(colour), dtype=np.uint16)
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint16), colour)


@pytest.mark.parametrize("layout", ["gray", "rgb"])
def test_bmp_round_trip(tmp_path, layout):
    colour, _, _ = _layout(layout, np.uint8)
    write_image(tmp_path / "out.bmp", _to_float(colour))
    np.testing.assert_array_equal(_samples_of(read_image(tmp_path / "out.bmp").pixels, np.uint8), colour)


@pytest.mark.skipif(".webp" not in IMAGE_EXTENSIONS, reason="Pillow built without WebP")
@pytest.mark.parametrize("layout", ["rgb", "rgba_varying"])
def test_webp_round_trip_is_lossless(tmp_path, layout):
    colour, alpha, _ = _layout(layout, np.uint8)
    write_image(tmp_path / "out.webp", _to_float(colour), alpha=None if alpha is None else _to_float(alpha))
    image = read_image(tmp_path / "out.webp")
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), colour)
    if alpha is not None:
        np.testing.assert_array_equal(_samples_of(image.alpha, np.uint8), alpha)


@pytest.mark.parametrize("extension", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_round_trip_is_close(tmp_path, extension):
    y, x = np.mgrid[0:32, 0:48]
    pixels = np.stack([x / 47, y / 31, (x + y) / 78], axis=-1).astype(np.float32)
    path = tmp_path / f"out{extension}"
    write_image(path, pixels)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.pixels.shape == pixels.shape
    assert np.abs(image.pixels - pixels).mean() < 2 / 255


@pytest.mark.parametrize(
    "extension",
    [".jpg", pytest.param(".webp", marks=pytest.mark.skipif(".webp" not in IMAGE_EXTENSIONS, reason="no WebP"))],
)
def test_quality_trades_size_for_fidelity(tmp_path, extension):
    """JPEG and WebP take `quality` (lossy); without it JPEG is quality 95 and WebP lossless."""
    pixels = np.random.default_rng(0).random((48, 64, 3)).astype(np.float32)
    sizes, errors = {}, {}
    for quality in (None, 95, 30):
        path = tmp_path / f"q{quality}{extension}"
        write_image(path, pixels, quality=quality)
        sizes[quality] = path.stat().st_size
        errors[quality] = np.abs(read_image(path).pixels - pixels).mean()
    assert sizes[30] < sizes[95] and errors[30] > errors[95]
    if extension == ".webp":
        assert errors[None] < 1 / 510  # lossless: only the uint8 rounding
    else:
        assert sizes[None] == sizes[95]


def test_lossless_formats_ignore_quality(tmp_path):
    pixels = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    write_image(tmp_path / "a.png", pixels, quality=10)
    write_image(tmp_path / "b.png", pixels)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_write_clips_scales_and_rounds(tmp_path):
    pixels = np.array([[[-0.5], [0.0], [0.4 / 255], [0.6 / 255], [100.6 / 255], [1.0], [7.0]]], np.float32)
    write_image(tmp_path / "clip.png", pixels)
    stored = np.asarray(PIL.Image.open(tmp_path / "clip.png"))
    np.testing.assert_array_equal(stored, [[0, 0, 0, 1, 101, 255, 255]])


def test_write_accepts_float64_and_alpha_with_channel_axis(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.random((4, 5, 3))
    alpha = rng.random((4, 5, 1))
    write_image(tmp_path / "a.png", pixels, alpha=alpha)
    image = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(image.pixels, pixels, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(image.alpha, alpha[:, :, 0], atol=0.5 / 255 + 1e-6)


# ---------------------------------------------------------------------------- odd inputs


def test_palette_png_becomes_rgb(tmp_path):
    palette = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]], np.uint8)
    indices = np.array([[0, 1, 2, 1], [2, 2, 0, 1]], np.uint8)
    picture = PIL.Image.fromarray(indices, mode="P")
    picture.putpalette(palette.ravel().tolist())
    picture.save(tmp_path / "palette.png")
    image = read_image(tmp_path / "palette.png")
    assert image.dtype == np.uint8 and image.alpha is None and image.constant_alpha is None
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), palette[indices])


def test_palette_png_with_transparency_becomes_rgba(tmp_path):
    palette = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]], np.uint8)
    indices = np.array([[0, 1, 2, 1], [2, 2, 0, 1]], np.uint8)
    picture = PIL.Image.fromarray(indices, mode="P")
    picture.putpalette(palette.ravel().tolist())
    picture.save(tmp_path / "palette.png", transparency=bytes([255, 0, 128]))
    image = read_image(tmp_path / "palette.png")
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), palette[indices])
    alpha_of_index = np.array([255, 0, 128], np.uint8)
    np.testing.assert_array_equal(_samples_of(image.alpha, np.uint8), alpha_of_index[indices])


def test_bilevel_png_becomes_8_bit_gray(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    PIL.Image.fromarray(bits).convert("1").save(tmp_path / "bits.png")
    image = read_image(tmp_path / "bits.png")
    assert image.dtype == np.uint8 and image.pixels.shape == (2, 3, 1)
    np.testing.assert_array_equal(image.pixels[:, :, 0], bits.astype(np.float32))


@pytest.mark.parametrize("extension", [".png", ".jpg", ".tif", ".webp"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation, extension):
    # Newer Pillows turn TIFFs upright while opening them; the result must be upright once.
    samples = np.random.default_rng(orientation).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    path = tmp_path / f"oriented{extension}"
    PIL.Image.fromarray(samples).save(path, exif=_exif(orientation))
    expected = np.asarray(PIL.ImageOps.exif_transpose(PIL.Image.open(path)))
    image = read_image(path)
    assert image.pixels.shape == expected.shape
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), expected)


def test_exif_rotated_jpeg_comes_back_upright(tmp_path):
    # Stored 16 high x 48 wide: left third black, rest white. Orientation 6 means the
    # viewer rotates it 90 degrees clockwise: 48 high x 16 wide, black at the top.
    stored = np.full((16, 48, 3), 255, np.uint8)
    stored[:, :16] = 0
    path = tmp_path / "rotated.jpg"
    PIL.Image.fromarray(stored).save(path, exif=_exif(6), quality=95)
    image = read_image(path)
    assert image.pixels.shape == (48, 16, 3)
    assert image.pixels[:12].mean() < 0.05 and image.pixels[20:].mean() > 0.95
    expected = np.asarray(PIL.ImageOps.exif_transpose(PIL.Image.open(path)))
    np.testing.assert_array_equal(_samples_of(image.pixels, np.uint8), expected)


@pytest.mark.parametrize("layout", ["gray", "rgb", "rgba_constant"])
def test_one_pixel_images_read_fine(tmp_path, layout):
    colour, alpha, constant = _layout(layout, np.uint8, height=1, width=1)
    write_image(tmp_path / "one.png", _to_float(colour), constant_alpha=None if constant is None else 1.0)
    image = read_image(tmp_path / "one.png")
    assert image.pixels.shape == (1, 1, colour.shape[2])


def test_reading_leaves_the_file_unmodified(tmp_path):
    path = tmp_path / "keep.png"
    path.write_bytes(_small_png())
    before = path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode
    read_image(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode) == before
    assert _files_in(tmp_path) == ["keep.png"]


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}")
def test_div2krk_lr_rgba_drops_constant_alpha():
    path = DATASETS / "DIV2KRK" / "LR_x2" / "im_2.png"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    image = read_image(path)
    _assert_valid(image, path)
    assert image.pixels.shape[2] == 3 and image.alpha is None and image.constant_alpha == 1.0
    assert image.dtype == np.uint8


# ---------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty.png", b"", "empty"),
        ("text.png", b"this is not an image, just some text\n" * 5, "not an image"),
        ("noise.tif", np.random.default_rng(5).bytes(4096), "not an image"),
        ("noise.jpg", b"\xff\xd8\xff" + np.random.default_rng(6).bytes(2000), None),
    ],
)
def test_bad_content_raises_image_error(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=words) as error:
        read_image(path)
    _assert_one_line_error(error, path)


@pytest.mark.parametrize("make", [_small_png, _small_jpeg], ids=["png", "jpeg"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_files_raise_image_error(tmp_path, make, keep):
    data = make()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError) as error:
        read_image(path)
    _assert_one_line_error(error, path)


def test_missing_file_and_folder_raise_image_error(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)


def test_float_and_32_bit_tiffs_are_refused(tmp_path):
    PIL.Image.fromarray(np.zeros((3, 4), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ImageError, match="floating-point"):
        read_image(tmp_path / "float.tif")
    PIL.Image.fromarray(np.zeros((3, 4), np.int32)).save(tmp_path / "int.tif")
    with pytest.raises(ImageError, match="32-bit"):
        read_image(tmp_path / "int.tif")


def test_animated_gif_is_refused(tmp_path):
    frames = [PIL.Image.new("RGB", (4, 4), colour) for colour in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="2 frames"):
        read_image(tmp_path / "anim.gif")


def test_load_truncated_images_switch_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "ok.png"
    path.write_bytes(_small_png())
    assert PIL.ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(PIL.ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        read_image(path)


def test_max_pixels_is_checked_before_decoding(tmp_path):
    # 12000 x 12000 = 144 megapixels claimed; the data is for 16 x 16, so decoding would
    # fail differently (and slowly) if it were attempted.
    path = tmp_path / "huge.png"
    path.write_bytes(_with_ihdr_size(_small_png(), 12000, 12000))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="megapixels") as error:
        read_image(path)
    assert time.perf_counter() - start < 1.0
    _assert_one_line_error(error, path)
    assert "max_pixels" in str(error.value)


def test_pillow_bomb_limit_is_an_image_error(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_with_ihdr_size(_small_png(), 50000, 50000))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        read_image(path, max_pixels=10**10)
    assert time.perf_counter() - start < 1.0


def test_max_pixels_on_a_real_image(tmp_path):
    path = tmp_path / "small.png"
    path.write_bytes(_small_png())  # 16 x 16
    assert read_image(path, max_pixels=256).pixels.shape == (16, 16, 3)
    with pytest.raises(ImageError, match="megapixels"):
        read_image(path, max_pixels=255)


def test_zero_size_header_is_refused(tmp_path):
    path = tmp_path / "zero.png"
    path.write_bytes(_with_ihdr_size(_small_png(), 0, 16))
    with pytest.raises(ImageError):
        read_image(path)


# ---------------------------------------------------------------------------- writing safely


def test_existing_output_needs_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="already exists") as error:
        write_image(path, np.zeros((2, 2, 3)))
    assert "--" not in str(error.value)  # the library names no command-line flag
    _assert_one_line_error(error, path)
    assert path.read_bytes() == b"precious"
    assert _files_in(tmp_path) == ["out.png"]
    write_image(path, np.zeros((2, 2, 3)), overwrite=True)
    assert read_image(path).pixels.shape == (2, 2, 3)
    assert _files_in(tmp_path) == ["out.png"]


def test_missing_folder_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        write_image(tmp_path / "nope" / "out.png", np.zeros((2, 2, 1)))
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ImageError, match="not a folder"):
        write_image(tmp_path / "file" / "out.png", np.zeros((2, 2, 1)))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder_is_an_image_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            write_image(folder / "out.png", np.zeros((2, 2, 1)))
    finally:
        folder.chmod(0o700)
    assert _files_in(folder) == []


def test_unwritable_folder_is_an_image_error(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ImageError, match="permission denied") as error:
        write_image(tmp_path / "out.png", np.zeros((2, 2, 1)))
    _assert_one_line_error(error, tmp_path / "out.png")
    assert _files_in(tmp_path) == []


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def disk_full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageError, match="No space left") as error:
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3)))
    _assert_one_line_error(error, tmp_path / "out.png")
    assert _files_in(tmp_path) == []


def test_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken)
    monkeypatch.setattr(os, "link", broken)
    with pytest.raises(ImageError):
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3)), overwrite=True)
    assert _files_in(tmp_path) == []


def test_successful_write_leaves_only_the_file(tmp_path):
    write_image(tmp_path / "out.png", np.zeros((4, 4, 3)), dtype=np.uint16)
    write_image(tmp_path / "out.jpg", np.zeros((4, 4, 3)))
    assert _files_in(tmp_path) == ["out.jpg", "out.png"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused(tmp_path, bad):
    pixels = np.zeros((3, 3, 3), np.float32)
    pixels[1, 2, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        write_image(tmp_path / "out.png", pixels)
    alpha = np.zeros((3, 3), np.float32)
    alpha[0, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        write_image(tmp_path / "out.png", np.zeros((3, 3, 3)), alpha=alpha)
    assert _files_in(tmp_path) == []


@pytest.mark.parametrize(
    "name, kwargs, words",
    [
        ("out.jpg", {"dtype": np.uint16}, "16-bit"),
        ("out.bmp", {"dtype": np.uint16}, "16-bit"),
        ("out.jpg", {"constant_alpha": 1.0}, "alpha"),
        ("out.bmp", {"constant_alpha": 1.0}, "alpha"),
        ("out.tif", {"dtype": np.uint16}, "16-bit"),
        ("out.xyz", {}, "unsupported extension"),
        ("out", {}, "unsupported extension"),
    ],
)
def test_format_limits_are_image_errors(tmp_path, name, kwargs, words):
    with pytest.raises(ImageError, match=words) as error:
        write_image(tmp_path / name, np.zeros((2, 2, 3)), **kwargs)
    _assert_one_line_error(error, tmp_path / name)
    assert _files_in(tmp_path) == []


@pytest.mark.parametrize(
    "pixels, kwargs",
    [
        (np.zeros((2, 2)), {}),
        (np.zeros((2, 2, 2)), {}),
        (np.zeros((0, 2, 3)), {}),
        (np.zeros((2, 2, 3)), {"dtype": np.float32}),
        (np.zeros((2, 2, 3)), {"alpha": np.zeros((3, 2))}),
        (np.zeros((2, 2, 3)), {"alpha": np.zeros((2, 2)), "constant_alpha": 1.0}),
        (np.zeros((2, 2, 3)), {"constant_alpha": 1.5}),
        (np.array([[["a"]]]), {}),
        (np.zeros((2, 2, 3)), {"quality": 0}),
        (np.zeros((2, 2, 3)), {"quality": 101}),
        (np.zeros((2, 2, 3)), {"quality": 9.5}),
        (np.zeros((2, 2, 3)), {"quality": True}),
    ],
)
def test_bad_arguments_are_value_errors(tmp_path, pixels, kwargs):
    with pytest.raises(ValueError):
        write_image(tmp_path / "out.png", pixels, **kwargs)
    assert _files_in(tmp_path) == []


# ---------------------------------------------------------------------------- HEIC and AVIF


def _heif_like(brand):
    """The start of an ISO base media file with `brand` (enough for the sniffing; no pixels)."""
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\0\0\0\0" + b"mif1" + brand + b"\0" * 64


@pytest.mark.skipif(not PIL.features.check("avif"), reason="Pillow built without AVIF")
def test_avif_is_read(tmp_path):
    y, x = np.mgrid[0:32, 0:48]
    samples = np.stack([x * 5, y * 7, x + y], axis=-1).astype(np.uint8)
    PIL.Image.fromarray(samples).save(tmp_path / "photo.avif", quality=95)
    image = read_image(tmp_path / "photo.avif")
    assert image.dtype == np.uint8 and image.shape == (32, 48, 3)
    assert np.abs(image.pixels - _to_float(samples)).mean() < 4 / 255


def test_heic_is_read_with_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    stored = np.full((16, 40, 3), 255, np.uint8)
    stored[:, :10] = 0  # black on the left; orientation 6 turns it to the top
    PIL.Image.fromarray(stored).save(tmp_path / "phone.heic", quality=95, exif=_exif(6).tobytes())
    image = read_image(tmp_path / "phone.heic")
    assert image.shape == (40, 16, 3)
    assert image.pixels[:6].mean() < 0.1 and image.pixels[14:].mean() > 0.9


def test_heic_without_its_plugin_names_the_plugin(tmp_path, monkeypatch):
    from issr_jax.io import heif

    monkeypatch.setattr(heif, "_register_heif_opener", lambda: False)
    path = tmp_path / "phone.heic"
    path.write_bytes(_heif_like(b"heic"))
    with pytest.raises(ImageError, match="pillow-heif") as error:
        read_image(path)
    _assert_one_line_error(error, path)


def test_avif_without_pillow_support_says_so(tmp_path, monkeypatch):
    from issr_jax.io import heif

    monkeypatch.setattr(heif.features, "check", lambda name: False)
    path = tmp_path / "photo.avif"
    path.write_bytes(_heif_like(b"avif"))
    with pytest.raises(ImageError, match="AVIF") as error:
        read_image(path)
    _assert_one_line_error(error, path)


def test_heic_and_avif_are_listed_but_not_written(tmp_path):
    for name in ("a.heic", "b.HEIF", "c.avif"):
        (tmp_path / name).write_bytes(b"x")
    images, _ = list_images(tmp_path)
    assert [p.name for p in images] == ["a.heic", "b.HEIF", "c.avif"]
    with pytest.raises(ImageError, match="unsupported extension"):
        write_image(tmp_path / "out.heic", np.zeros((2, 2, 3)))


# ---------------------------------------------------------------------------- folders and API


def test_list_images(tmp_path):
    for name in ["b.png", "A.JPG", "c.tif", "d.webp", ".hidden.png", "notes.txt", "README"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.png").write_bytes(b"x")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "missing.png")
    images, skipped = list_images(tmp_path)
    expected = ["A.JPG", "b.png", "c.tif"] + (["d.webp"] if ".webp" in IMAGE_EXTENSIONS else [])
    assert [path.name for path in images] == expected
    reasons = {path.name: reason for path, reason in skipped}
    assert reasons[".hidden.png"] == "hidden"
    assert reasons["sub"] == "folder"
    assert "broken link" in reasons["dangling.png"]
    assert ".txt" in reasons["notes.txt"] and "README" in reasons
    assert [path.name for path, _ in skipped] == sorted(reasons)


def test_list_images_errors(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ImageError, match="not a folder"):
        list_images(tmp_path / "file.png")


def test_image_extensions_are_lowercase_suffixes():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    for extension in IMAGE_EXTENSIONS:
        assert extension == extension.lower() and extension.startswith(".")


def test_image_error_is_one_line():
    error = ImageError("some/file.png", "it is\nbroken;  do   this")
    assert str(error) == "some/file.png: it is broken; do this"
    assert error.path == Path("some/file.png") and error.problem == "it is broken; do this"


@pytest.mark.parametrize("function", [read_image, write_image, list_images])
def test_options_are_keyword_only(function):
    parameters = list(inspect.signature(function).parameters.values())
    positional = {"read_image": 1, "write_image": 2, "list_images": 1}[function.__name__]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters[:positional])
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters[positional:])


def test_module_exports():
    assert set(image_io.__all__) >= {
        "read_image",
        "write_image",
        "ImageError",
        "Image",
        "list_images",
        "IMAGE_EXTENSIONS",
        "DEFAULT_MAX_PIXELS",
    }


# ---------------------------------------------------------------------------- fuzzing


def _mutations(rng, seeds, count):
    """`count` byte strings: pure noise, and valid files with flipped, cut or inserted bytes."""
    for index in range(count):
        if index % 10 == 0:
            yield rng.bytes(int(rng.integers(0, 200)))
            continue
        data = bytearray(seeds[index % len(seeds)])
        for _ in range(int(rng.integers(1, 4))):
            action = rng.integers(0, 4)
            position = int(rng.integers(0, len(data))) if data else 0
            if action == 0 and data:  # flip bits of a few bytes
                for offset in rng.integers(0, len(data), size=int(rng.integers(1, 5))):
                    data[offset] ^= int(rng.integers(1, 256))
            elif action == 1:  # cut
                del data[position:]
            elif action == 2:  # insert
                data[position:position] = rng.bytes(int(rng.integers(1, 16)))
            else:  # overwrite a header byte
                if len(data) > 8:
                    data[int(rng.integers(8, min(len(data), 64)))] = int(rng.integers(0, 256))
        yield bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged metadata
def test_fuzzed_bytes_decode_or_raise_image_error(tmp_path):
    rng = np.random.default_rng(20240601)
    gray16 = rng.integers(0, 65536, (6, 5), dtype=np.int64).astype(np.uint16)
    rgba16 = rng.integers(0, 65536, (5, 6, 4), dtype=np.int64).astype(np.uint16)
    rgb8 = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    seeds = [
        _small_png(1),
        _small_jpeg(2),
        _png_bytes_all_filters(rgba16),
        _png_bytes_all_filters(gray16),
        _pillow_bytes(rgb8, "BMP"),
        _pillow_bytes(rgb8, "TIFF"),
        _pillow_bytes(rgb8[:, :, 0], "JPEG", exif=_exif(6)),
    ]
    outcomes = {"decoded": 0, "refused": 0}
    for index, data in enumerate(_mutations(rng, seeds, 300)):
        path = tmp_path / f"fuzz{index % 7}.img"
        path.write_bytes(data)
        try:
            image = read_image(path, max_pixels=1 << 20)
        except ImageError as error:
            assert "\n" not in str(error) and error.path == path
            outcomes["refused"] += 1
        else:
            _assert_valid(image, path)
            outcomes["decoded"] += 1
    assert outcomes["decoded"] > 10 and outcomes["refused"] > 10, outcomes
