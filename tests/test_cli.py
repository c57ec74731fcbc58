"""The command line end to end, in subprocesses, on images the tests generate."""

import hashlib
import subprocess
import sys

import numpy as np
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
    assert "PSNR-Y" in result.stdout


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
    ):
        assert f"--{flag}" in result.stdout or f"--[no]{flag}" in result.stdout, flag
