"""The demo (issr_jax.app.demo): the shipped photograph, its degradation, the labelled figure."""

import jax
import numpy as np
import pytest

from issr_jax.app import demo
from issr_jax.app.figures import LABEL_HEIGHT


@pytest.fixture(scope="module")
def result():
    return demo.demo_result(scale=2, key=jax.random.key(0))


def test_the_photograph_ships_small_and_whole():
    assert demo.DEMO_PHOTO.stat().st_size < 200_000
    assert (demo.DEMO_PHOTO.parent / "README.md").read_text().count("CC0") >= 1
    photo = demo.demo_photo()
    assert photo.shape == (288, 384, 3) and photo.dtype == np.float32


def test_the_demo_super_resolves_the_photograph(result):
    assert result.source.startswith("chelsea.webp")
    assert result.lr.shape == (144, 192, 3) and result.hr.shape == (288, 384, 3)
    # Blind, with noise on the LR. The demo's mild blur (about 1 HR pixel) is also what a
    # bicubic downscale leaves, so the default preset hedges between the two explanations.
    assert result.psnr["sr"] > result.psnr["bicubic"] + 0.5
    assert result.psnr["sr_known_kernel"] > result.psnr["bicubic"] + 1.0
    assert result.kernel.shape == result.true_kernel.shape
    np.testing.assert_allclose(result.true_kernel.sum(), 1.0, rtol=1e-5)


def test_the_figure_has_labelled_panels_of_at_least_256_pixels(result):
    figure = demo.demo_figure(result)
    # Row 1: three whole 288 x 384 images under their labels, 6 pixels apart.
    assert figure.shape[1] == 3 * 384 + 2 * 6
    assert figure.shape[0] >= 3 * LABEL_HEIGHT + 288 + 256 + 192
    first_label = figure[:LABEL_HEIGHT, :384]
    assert first_label.min() < 0.3 and np.median(first_label) == 1.0  # dark text on white
    np.testing.assert_array_equal(figure[LABEL_HEIGHT : LABEL_HEIGHT + 288, :384], result.images["bicubic"])


def test_without_the_photograph_the_synthetic_scene_stands_in(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "DEMO_PHOTO", tmp_path / "absent.webp")
    fallback = demo.demo_result(scale=2, key=jax.random.key(0))
    assert fallback.source.startswith("the synthetic scene") and fallback.hr.shape == (384, 384, 3)
