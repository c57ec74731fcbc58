"""Output names (issr_jax.app.naming): formats, suffixes, clashes, default single names."""

from pathlib import Path

import pytest

from issr_jax.app.naming import check_suffix, default_output, format_of, output_paths
from issr_jax.output_size import SizeRequest


def test_formats_and_suffix_name_the_outputs():
    inputs = [Path("in/a.png"), Path("in/b.JPG"), Path("in/c.tiff")]
    same, problems = output_paths(inputs, Path("out"))
    assert [p.name for p in same] == ["a.png", "b.JPG", "c.tiff"] and problems == {}  # as before: the input's name
    webp, problems = output_paths(inputs, Path("out"), output_format="webp", suffix="_sr")
    assert [str(p) for p in webp] == ["out/a_sr.webp", "out/b_sr.webp", "out/c_sr.webp"] and problems == {}
    tiff, _ = output_paths(inputs, Path("out"), output_format="tiff")
    assert [p.name for p in tiff] == ["a.tif", "b.tif", "c.tif"]


def test_two_inputs_with_one_output_name_fail_the_second():
    inputs = [Path("in/a.jpg"), Path("in/a.png"), Path("in/A.webp"), Path("in/b.png")]
    targets, problems = output_paths(inputs, Path("out"), output_format="png")
    assert [p.name for p in targets] == ["a.png", "a.png", "A.png", "b.png"]
    assert sorted(problems) == [1, 2]  # case-insensitive file systems clash too
    assert problems[1].startswith("in/a.png: its output a.png is also that of a.jpg")


def test_formats_read_but_not_written_need_a_format():
    inputs = [Path("in/phone.heic"), Path("in/photo.avif"), Path("in/ok.png")]
    _, problems = output_paths(inputs, Path("out"))
    assert sorted(problems) == [0, 1] and "choose an output format" in problems[0]
    _, problems = output_paths(inputs, Path("out"), output_format="jpg")
    assert problems == {}


@pytest.mark.parametrize(
    "size, output_format, suffix, name",
    [
        (SizeRequest(scale=2), "same", "", "lr_x2.png"),
        (SizeRequest(outscale=2.5), "jpg", "", "lr_x2.5.jpg"),
        (SizeRequest(width=800), "same", "", "lr_w800.png"),
        (SizeRequest(height=600), "webp", "", "lr_h600.webp"),
        (SizeRequest(width=800, height=600), "same", "", "lr_800x600.png"),
        (SizeRequest(scale=4), "tiff", "_big", "lr_big.tif"),
    ],
)
def test_default_single_output(size, output_format, suffix, name):
    assert default_output(Path("d/lr.png"), size=size, output_format=output_format, suffix=suffix) == Path("d") / name


def test_bad_suffixes_and_formats():
    for suffix in ("a/b", "a\\b", "a\0"):
        with pytest.raises(ValueError, match="must not contain"):
            check_suffix(suffix)
    with pytest.raises(ValueError, match="output_format"):
        output_paths([Path("a.png")], Path("out"), output_format="gif")
    assert [format_of(n) for n in ("a.JPEG", "b.tif", "c.bmp", "d")] == ["jpg", "tiff", None, None]
