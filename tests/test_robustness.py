"""Bad input and awkward files through the command line: each gets a one-line error that
names the file, no output is left behind, and a folder run processes the rest."""

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image as PILImage
from test_cli import run_cli

from issr_jax.app.demo import degrade, demo_image
from issr_jax.batch import canvases
from issr_jax.io import read_image, write_image


def _png_bytes(array, **save):
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, "PNG", **save)
    return buf.getvalue()


@pytest.fixture(scope="module")
def scene():
    return (np.clip(degrade(demo_image(size=96), scale=2), 0, 1) * 255).round().astype(np.uint8)  # 48x48 RGB


def test_bad_files_in_a_folder(scene, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = _png_bytes(scene)
    jpeg = io.BytesIO()
    PILImage.fromarray(scene).save(jpeg, "JPEG")
    cases = {
        "empty.png": (b"", "empty"),
        "truncated.png": (good[: len(good) // 2], "truncated"),
        "truncated.jpg": (jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "truncated"),
        "text.png": (b"this is not an image", "not an image"),
        "random.tif": (os.urandom(500), "not an image"),
        "one_pixel.png": (_png_bytes(scene[:1, :1]), "at least"),
        "three_by_five.png": (_png_bytes(scene[:5, :3]), "at least"),
    }
    for name, (data, _) in cases.items():
        (folder / name).write_bytes(data)
    (folder / "good.png").write_bytes(good)
    out = tmp_path / "out"
    result = run_cli(f"--input={folder}", f"--output={out}")
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["failures.txt", "good.png"]  # nothing partial
    failures = (out / "failures.txt").read_text().splitlines()
    assert len(failures) == len(cases)
    for name, (_, phrase) in cases.items():
        line = next(entry for entry in failures if entry.startswith(str(folder / name) + ":"))
        assert phrase in line, line
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_single_bad_file_one_line_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    out = tmp_path / "out.png"
    result = run_cli(f"--input={bad}", f"--output={out}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0]
    assert not out.exists()


def test_pixel_limit_is_refused_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(_png_bytes(np.zeros((4000, 4000), np.uint8)))  # compresses to a few KB
    start = time.perf_counter()
    result = run_cli(f"--input={big}", f"--output={tmp_path / 'x.png'}", "--max_pixels=1000000")
    assert result.returncode == 1 and "big.png" in result.stderr and "pixels" in result.stderr
    assert time.perf_counter() - start < 60


def test_alpha_gray_palette_and_exif(scene, tmp_path):
    """Layouts: gray+alpha and RGBA with a varying alpha keep their alpha (upscaled with
    bicubic); a palette image comes back as RGB; an EXIF-rotated JPEG is read upright."""
    folder = tmp_path / "in"
    folder.mkdir()
    ramp = np.linspace(0, 255, scene.shape[1]).astype(np.uint8)[None, :].repeat(scene.shape[0], 0)
    PILImage.fromarray(np.dstack([scene, ramp])).save(folder / "rgba.png")
    PILImage.fromarray(np.dstack([scene[..., 0], ramp]), "LA").save(folder / "gray_alpha.png")
    PILImage.fromarray(scene).convert("P", palette=PILImage.Palette.ADAPTIVE).save(folder / "palette.png")
    tall = scene[:, :40]  # 48 rows x 40 columns; EXIF orientation 6 = rotate 90 degrees to view
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray(np.rot90(tall, 1)).save(folder / "rotated.jpg", exif=exif.tobytes())
    out = tmp_path / "out"
    result = run_cli(f"--input={folder}", f"--output={out}")
    assert result.returncode == 0, result.stderr
    rgba = read_image(out / "rgba.png")
    assert rgba.pixels.shape == (96, 96, 3) and rgba.alpha is not None
    assert rgba.alpha[:, 0].mean() < 0.1 < 0.9 < rgba.alpha[:, -1].mean()  # the ramp survives
    gray = read_image(out / "gray_alpha.png")
    assert gray.pixels.shape == (96, 96, 1) and gray.alpha is not None
    assert read_image(out / "palette.png").pixels.shape == (96, 96, 3)
    assert read_image(out / "rotated.jpg").pixels.shape == (96, 80, 3)  # upright: rows x columns


def test_unwritable_output_folder(scene, tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(_png_bytes(scene))
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    result = run_cli(f"--input={source}", f"--output={blocker / 'sr.png'}")
    assert result.returncode == 1 and "folder" in result.stderr


def test_interrupted_folder_run_leaves_only_complete_files_and_resumes(scene, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        (folder / f"img{i:02d}.png").write_bytes(_png_bytes(np.roll(scene, i, axis=1)))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "issr_jax", f"--input={folder}", f"--output={out}", "--batch_size=1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    finished = lambda: (
        [p for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith(".")] if out.is_dir() else []
    )
    while time.time() < deadline and not finished():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith(".")}
    assert 1 <= len(written) < 12
    for name in written:
        read_image(out / name)  # every visible output is a complete image
    result = run_cli(f"--input={folder}", f"--output={out}")
    assert result.returncode == 0, result.stderr
    assert f"skipped {len(written)}" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"img{i:02d}.png" for i in range(12)]  # no stale temporaries
    for name, data in written.items():
        assert (out / name).read_bytes() == data  # finished files were not redone


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    from issr_jax.io import remove_stale_temporaries, temporary_path

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".a.png.tmp-{dead.stdout.strip()}-0abc.png"
    stale.write_bytes(b"half an image")
    live = temporary_path(tmp_path / "b.png")  # this process's own: kept
    live.write_bytes(b"being written")
    keep = tmp_path / "c.png"
    keep.write_bytes(b"finished")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "c.png"])


def test_a_non_finite_result_is_reported_and_not_written(scene, tmp_path, monkeypatch):
    """The writer refuses NaN (the pipeline clips, so only a bug could make one)."""
    import jax

    from issr_jax.app import runner
    from issr_jax.io import ImageError

    write_image(tmp_path / "in.png", scene)
    real = canvases.restore_canvases
    monkeypatch.setattr(canvases, "restore_canvases", lambda *a, **k: [np.full_like(x, np.nan) for x in real(*a, **k)])
    with pytest.raises(ImageError, match="in.png: super-resolution produced values that cannot be written.*NaN"):
        runner.super_resolve_file(tmp_path / "in.png", tmp_path / "out.png", scale=2, key=jax.random.key(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
