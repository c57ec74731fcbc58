"""The command line end to end, in subprocesses, on images the tests generate."""

import hashlib
import io
import subprocess
import sys

import numpy as np
import PIL.Image
import PIL.ImageCms
import pytest

from issr_jax.app.demo import degrade, demo_image
from issr_jax.io import read_image, write_image


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "issr_jax", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


@pytest.fixture(scope="module")
def lr_png(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    lr = degrade(demo_image(size=128), scale=2)
    path = folder / "scene.png"
    write_image(path, lr)
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_single_file_end_to_end(lr_png, tmp_path):
    out = tmp_path / "sr.png"
    before = _digest(lr_png)
    result = run_cli(f"--input={lr_png}", f"--output={out}", "--scale=2", "--save_kernels")
    assert result.returncode == 0, result.stderr
    image = read_image(out)
    assert image.pixels.shape == (128, 128, 3) and image.dtype == np.uint8
    assert np.load(tmp_path / "sr_kernel.npy").shape == (21, 21)
    assert np.load(tmp_path / "sr_drk.npy").shape == (21, 21)
    assert _digest(lr_png) == before  # the input is never modified
    # Same input, flags and seed: the same bits.
    again = tmp_path / "again.png"
    assert run_cli(f"--input={lr_png}", f"--output={again}", "--scale=2").returncode == 0
    np.testing.assert_array_equal(read_image(again).pixels, image.pixels)


def test_sixteen_bit_gray_stays_sixteen_bit(tmp_path):
    source = tmp_path / "gray16.png"
    write_image(source, degrade(demo_image(size=96), scale=2).mean(-1, keepdims=True), dtype=np.uint16)
    out = tmp_path / "gray16_x3.png"
    result = run_cli(f"--input={source}", f"--output={out}", "--scale=3", "--preset=paper", "--method=lcnn")
    assert result.returncode == 0, result.stderr
    image = read_image(out)
    assert image.dtype == np.uint16 and image.pixels.shape == (144, 144, 1)


def test_existing_output_is_kept_unless_overwrite(lr_png, tmp_path):
    out = tmp_path / "sr.png"
    out.write_bytes(b"keep me")
    result = run_cli(f"--input={lr_png}", f"--output={out}")
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert run_cli(f"--input={lr_png}", f"--output={out}", "--overwrite").returncode == 0
    assert read_image(out).pixels.shape == (128, 128, 3)


@pytest.mark.parametrize("scale", ["0", "1", "-2", "2.5", "two"])
def test_bad_scale_is_refused(lr_png, tmp_path, scale):
    result = run_cli(f"--input={lr_png}", f"--output={tmp_path / 'x.png'}", f"--scale={scale}")
    assert result.returncode != 0 and "scale" in result.stderr
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------- files as people have them

PROFILE = PIL.ImageCms.ImageCmsProfile(PIL.ImageCms.createProfile("sRGB")).tobytes()
ORIENTATION, MAKE, EXIF_IFD, PIXEL_X, PIXEL_Y = 0x0112, 0x010F, 0x8769, 0xA002, 0xA003


@pytest.fixture(scope="module")
def camera_jpeg(lr_png):
    """The scene as a camera held sideways writes it: ICC profile, EXIF orientation 6 and
    pixel dimensions; stored 40 wide x 64 high, 64 wide x 40 high upright."""
    exif = PIL.Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "Camera maker"
    exif.get_ifd(EXIF_IFD).update({PIXEL_X: 64, PIXEL_Y: 40})
    path = lr_png.with_name("camera.jpg")
    stored = np.rot90(np.asarray(PIL.Image.open(lr_png))[:40], 1)  # what a camera held sideways writes
    PIL.Image.fromarray(np.ascontiguousarray(stored)).save(path, quality=95, icc_profile=PROFILE, exif=exif.tobytes())
    return path


def test_profile_and_exif_travel_and_any_scale(camera_jpeg, tmp_path):
    out = tmp_path / "sr.jpg"
    result = run_cli(f"--input={camera_jpeg}", f"--output={out}", "--outscale=2.5", "--quality=80")
    assert result.returncode == 0, result.stderr
    with PIL.Image.open(out) as image:
        assert image.size == (160, 100)  # upright, round(2.5 x 64) wide x round(2.5 x 40) high
        assert image.info["icc_profile"] == PROFILE
        exif = image.getexif()
        assert exif[ORIENTATION] == 1 and exif[MAKE] == "Camera maker"
        assert (exif.get_ifd(EXIF_IFD)[PIXEL_X], exif.get_ifd(EXIF_IFD)[PIXEL_Y]) == (160, 100)
        reference = io.BytesIO()
        PIL.Image.new("RGB", (8, 8)).save(reference, "JPEG", quality=80, subsampling=0)
        assert image.quantization == PIL.Image.open(reference).quantization  # --quality=80
    stripped = tmp_path / "stripped.jpg"
    assert run_cli(f"--input={camera_jpeg}", f"--output={stripped}", "--strip_metadata").returncode == 0
    with PIL.Image.open(stripped) as image:
        assert image.size == (128, 80)
        assert "icc_profile" not in image.info and "exif" not in image.info


def test_width_and_height_in_a_folder_of_different_sizes(lr_png, tmp_path):
    """--width keeps each image's aspect ratio; the images need different integer scales
    (x2 and x4 here), which one folder run handles side by side."""
    folder = tmp_path / "in"
    folder.mkdir()
    scene = read_image(lr_png).pixels
    write_image(folder / "wide.png", scene[:48, :64])
    write_image(folder / "narrow.png", scene[:40, :30])
    out = tmp_path / "out"
    result = run_cli(f"--input={folder}", f"--output={out}", "--width=100")
    assert result.returncode == 0, result.stderr
    assert read_image(out / "wide.png").shape == (75, 100, 3)  # x1.5625 by a x2 SR
    assert read_image(out / "narrow.png").shape == (133, 100, 3)  # x3.33 by a x4 SR
    single = tmp_path / "single.png"
    assert run_cli(f"--input={folder / 'narrow.png'}", f"--output={single}", "--width=100").returncode == 0
    np.testing.assert_array_equal(read_image(single).pixels, read_image(out / "narrow.png").pixels)
    # Both sides: exactly that size; a default output name says the size.
    result = run_cli(f"--input={folder / 'wide.png'}", "--width=90", "--height=120")
    assert result.returncode == 0, result.stderr
    assert read_image(folder / "wide_90x120.png").shape == (120, 90, 3)


def test_format_quality_and_suffix_in_a_folder(lr_png, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    scene = read_image(lr_png).pixels
    write_image(folder / "a.png", scene)
    write_image(folder / "b.tif", scene[:, :48])
    ramp = np.linspace(0, 1, 64, dtype=np.float32)[None, :].repeat(64, 0)
    write_image(folder / "c.png", scene, alpha=ramp)  # JPEG cannot hold its alpha
    out = tmp_path / "out"
    result = run_cli(f"--input={folder}", f"--output={out}", "--format=jpg", "--quality=70", "--suffix=_sr")
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["a_sr.jpg", "b_sr.jpg", "failures.txt"]
    (failure,) = (out / "failures.txt").read_text().splitlines()
    assert failure.startswith(str(folder / "c.png")) and "alpha" in failure
    assert "failed 1" in result.stderr
    with PIL.Image.open(out / "b_sr.jpg") as image:
        assert image.format == "JPEG" and image.size == (96, 128)
    # The same folder as WebP: every file written, alpha kept.
    webp = tmp_path / "webp"
    assert run_cli(f"--input={folder}", f"--output={webp}", "--format=webp").returncode == 0
    assert sorted(p.name for p in webp.iterdir()) == ["a.webp", "b.webp", "c.webp"]
    assert read_image(webp / "c.webp").alpha is not None


BAD_FLAGS = [
    (["--outscale=1"], "outscale"),
    (["--outscale=-2"], "outscale"),
    (["--outscale=nan"], "outscale"),
    (["--outscale=two"], "outscale"),
    (["--width=0"], "width"),
    (["--height=-3"], "height"),
    (["--height=1.5"], "height"),
    (["--format=gif"], "format"),
    (["--quality=0"], "quality"),
    (["--quality=101"], "quality"),
    (["--suffix=a/b"], "suffix"),
    (["--strip_metadata=maybe"], "strip_metadata"),
    (["--scale=3", "--outscale=2.5"], "--scale and --outscale"),
    (["--outscale=2.5", "--width=100"], "--outscale and --width/--height"),
    (["--format=png", "--quality=80"], "--quality"),
    (["--format=jpg", "--output={tmp}/x.png"], "--format=jpg"),
    (["--output={tmp}/x.png", "--quality=80"], "--quality"),
    (["--output={tmp}/x.gif"], ".gif"),
    (["--output={tmp}/x.png", "--suffix=_sr"], "--suffix"),
    (["--width=20"], "not larger"),
    (["--width=20"], "(--width, --height or --outscale)"),
    (["--noise=-1"], "--noise"),
    (["--noise=nan"], "--noise"),
    (["--noise=abc"], "--noise"),
    (["--noise=5", "--preset=fast"], "--noise=5"),
]


@pytest.mark.parametrize("flags, words", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flag_values_are_one_line_errors_with_no_output(lr_png, tmp_path, flags, words):
    work = tmp_path / "work"
    work.mkdir()
    (work / "lr.png").write_bytes(lr_png.read_bytes())
    result = run_cli("--input=lr.png", *(f.format(tmp=tmp_path) for f in flags), cwd=work)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["lr.png"] and sorted(tmp_path.iterdir()) == [work]


def test_new_flags_do_not_apply_to_the_demo(tmp_path):
    result = run_cli("--output=demo", "--outscale=2.5", cwd=tmp_path)
    assert result.returncode == 1 and "--outscale" in result.stderr and not (tmp_path / "demo").exists()


def test_missing_input(tmp_path):
    result = run_cli("--input=does/not/exist.png", "--output=x.png", cwd=tmp_path)
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_output_equal_to_input_is_refused(lr_png):
    result = run_cli(f"--input={lr_png}", f"--output={lr_png}")
    assert result.returncode == 1 and "input" in result.stderr


def test_bad_kernel_file_is_refused(lr_png, tmp_path):
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.ones((4, 4)))
    result = run_cli(f"--input={lr_png}", f"--output={tmp_path / 'x.png'}", f"--kernel={kernel}")
    assert result.returncode == 1 and "odd" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_folder_run_reports_failures_and_goes_on(lr_png, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(lr_png.read_bytes())
    (folder / "b.png").write_bytes(lr_png.read_bytes()[:200])  # truncated
    (folder / "c.png").write_text("not an image")
    write_image(folder / "tiny.png", np.zeros((3, 5, 3)))
    (folder / ".hidden.png").write_bytes(lr_png.read_bytes())
    (folder / "notes.txt").write_text("hello")
    (folder / "sub").mkdir()
    out = tmp_path / "out"
    result = run_cli(f"--input={folder}", f"--output={out}")
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "failures.txt"]
    failures = (out / "failures.txt").read_text().splitlines()
    assert len(failures) == 3 and all(line.startswith(str(folder)) for line in failures)
    assert "done 1" in result.stderr and "failed 3" in result.stderr
    # Bit-identical to a single-file run with the same flags.
    single = tmp_path / "single.png"
    assert run_cli(f"--input={folder / 'a.png'}", f"--output={single}").returncode == 0
    np.testing.assert_array_equal(read_image(single).pixels, read_image(out / "a.png").pixels)
    # A rerun resumes: nothing is redone.
    rerun = run_cli(f"--input={folder}", f"--output={out}")
    assert "done 0, skipped 1" in rerun.stderr


def test_demo_runs_offline(tmp_path):
    result = run_cli("--output=demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("lr", "sr", "bicubic", "hr", "comparison"):
        assert (tmp_path / "demo" / f"{name}.png").is_file()
    assert "PSNR-Y" in result.stdout and "chelsea.webp" in result.stdout  # the photograph, offline
    assert read_image(tmp_path / "demo" / "hr.png").shape == (288, 384, 3)


def test_help_lists_the_flags():
    result = run_cli("--help")
    for flag in (
        "input",
        "output",
        "scale",
        "method",
        "preset",
        "kernel",
        "seed",
        "save_kernels",
        "overwrite",
        "quiet",
        "verbose",
        "outscale",
        "width",
        "height",
        "format",
        "quality",
        "suffix",
        "strip_metadata",
    ):
        assert f"--{flag}" in result.stdout or f"--[no]{flag}" in result.stdout, flag
