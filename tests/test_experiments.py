"""The experiment harness end to end on tiny generated data, the figure writer, the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io
import scipy.ndimage

from experiments import harness
from experiments.configs import common
from issr_jax.io import read_image, write_image
from issr_jax.metrics import psnr
from issr_jax.resize import imresize
from issr_jax.restoration import baselines

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NIQE_MODEL = SHARED / "niqe" / "modelparameters.mat"


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    """`[H, W, 3]` float32 in [0, 1]: smoothed noise plus a few edges, image-like."""
    rng = np.random.default_rng(seed)
    noise = scipy.ndimage.gaussian_filter(rng.random((height, width, 3)), sigma=(2.0, 2.0, 0))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    rows = np.arange(height)[:, None, None]
    cols = np.arange(width)[None, :, None]
    edges = 0.3 * ((rows // 16 + cols // 24) % 2)
    return np.clip(0.15 + 0.55 * noise + edges, 0, 1).astype(np.float32)


def _gaussian(size: int, sigma_y: float, sigma_x: float) -> np.ndarray:
    r = np.arange(size) - size // 2
    kernel = np.exp(-(r[:, None] ** 2) / (2 * sigma_y**2) - (r[None, :] ** 2) / (2 * sigma_x**2))
    return kernel / kernel.sum()


def _degrade(hr: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """DIV2KRK's generator: correlate with K (reflect borders), keep every s-th pixel from s/2."""
    blurred = np.stack([scipy.ndimage.correlate(hr[..., c], kernel, mode="reflect") for c in range(3)], -1)
    return blurred[scale // 2 :: scale, scale // 2 :: scale]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A DIV2KRK-like folder (RGBA LR, .mat kernels) and a Set14-like one (NAMEx2, a grey image)."""
    root = tmp_path_factory.mktemp("datasets")
    krk = root / "DIV2KRK"
    for sub in ("HR", "LR_x2", "kernels_x2"):
        (krk / sub).mkdir(parents=True)
    for number in (1, 2):
        hr = _texture(112, 200, seed=number)
        kernel = _gaussian(11, 1.0 + 0.3 * number, 1.6)
        write_image(krk / "HR" / f"im_{number}.png", hr)
        write_image(krk / "LR_x2" / f"im_{number}.png", _degrade(hr, kernel, 2), constant_alpha=1.0)  # RGBA
        scipy.io.savemat(krk / "kernels_x2" / f"kernel_{number}.mat", {"Kernel": kernel})
    sets = root / "Set14"
    for sub in ("HR", "LR_x2"):
        (sets / sub).mkdir(parents=True)
    hr = _texture(113, 201, seed=7)[..., :1]  # grey, odd size: HR must be cropped
    write_image(sets / "HR" / "gray.png", hr)
    write_image(sets / "LR_x2" / "grayx2.png", np.asarray(imresize(hr[:112, :200], scale=0.5)))
    return root


def _tiny_config():
    fast_fit = dict(num_kernels=8, fit=dict(epochs=1, batch_size=8))
    config = common.base_config(
        title="tiny",
        datasets="DIV2KRK,Set14",
        scales="2",
        specs=dict(
            bicubic=common.BICUBIC,
            default_drk=common.DEFAULT_DRK,
            default_true=common.spec("LMMSE on the true K", kernel_source="true"),
            paper_drk=common.spec("paper, 1 epoch", preset="paper", overrides=fast_fit),
            spectral_dil=common.spec(
                "spectral K + DIL", preset="paper", overrides=dict(estimator="spectral", **fast_fit), max_images=1
            ),
            wiener_true=common.spec("Wiener on the true K", kind="wiener", kernel_source="true"),
            pinv_estimated=common.spec("MP-Pinv", kind="pinv", max_images=1),
        ),
    )
    config.figures = 1
    return config


def test_run_end_to_end_and_resume(data_root, tmp_path, capsys):
    workdir = tmp_path / "work"
    niqe_model = str(NIQE_MODEL) if NIQE_MODEL.is_file() else None
    config = _tiny_config()
    new = harness.run(config, workdir, data_root, niqe_model=niqe_model)
    # DIV2KRK: 2 images x 7 methods, less pinv and spectral_dil on the second (max_images=1);
    # Set14: 1 image, less the two true-kernel methods.
    assert new == 2 * 7 - 2 + 5

    assert json.loads((workdir / "config.json").read_text())["config"]["seed"] == 0
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == new
    for record in records:
        assert np.isfinite(record["psnr"]) and 0 < record["ssim"] <= 1
        assert set(record["seconds"]) >= {"restore", "total"}
        if niqe_model and record["method"] in ("bicubic", "default_drk"):  # the 1-epoch fit saturates
            assert record["niqe"] is not None and np.isfinite(record["niqe"])
    by = {(r["dataset"], r["image"], r["method"]): r for r in records}
    assert set(by[("DIV2KRK", "im_1", "default_drk")]["seconds"]) == {"estimate", "invert", "restore", "total"}
    assert "kernel_rel_l2" in by[("DIV2KRK", "im_1", "default_drk")]
    assert "kernel_rel_l2" not in by[("DIV2KRK", "im_1", "default_true")]
    assert ("Set14", "gray", "default_true") not in by
    for image in ("im_1", "im_2"):  # the true kernel beats bicubic on a Gaussian-blurred image
        assert by[("DIV2KRK", image, "default_true")]["psnr"] > by[("DIV2KRK", image, "bicubic")]["psnr"] + 1

    results = (workdir / "results.md").read_text()
    assert "| method | x2 NIQE | x2 SSIM | x2 PSNR | x2 n |" in results
    assert "## DIV2KRK" in results and "## Set14" in results and "Gain over bicubic" in results
    assert "| LMMSE on the true K |" in results
    sr = read_image(workdir / "images" / "DIV2KRK_x2" / "default_drk" / "im_1.png").pixels
    assert sr.shape == (112, 200, 3)
    assert read_image(workdir / "images" / "Set14_x2" / "bicubic" / "gray.png").pixels.shape == (112, 200, 3)
    figure = read_image(workdir / "figures" / "DIV2KRK_x2_im_1.png").pixels
    assert figure.ndim == 3 and figure.shape[0] > 3 * 56
    assert not (workdir / "figures" / "DIV2KRK_x2_im_2.png").exists()  # figures = 1

    capsys.readouterr()
    assert harness.run(config, workdir, data_root, niqe_model=niqe_model) == 0
    assert (workdir / "metrics.jsonl").read_text().splitlines() == lines
    assert "0 with work to do" in capsys.readouterr().err


def test_methods_flag_restricts_and_rejects_unknown(data_root, tmp_path):
    config = _tiny_config()
    config.methods = "bicubic"
    config.datasets = "Set14"
    config.niqe = False
    assert harness.run(config, tmp_path / "w", data_root) == 1
    config.methods = "bicubic,nonesuch"
    with pytest.raises(ValueError, match="nonesuch"):
        harness.run(config, tmp_path / "w", data_root)


def test_build_preset_applies_nested_overrides():
    spec = common.spec(
        "x", preset="paper", overrides=dict(estimator="spectral", fit=dict(learning_rate=0.1, weights=dict(pinv=0.0)))
    )
    preset = harness.build_preset(spec, "x")
    assert (preset.estimator, preset.fit.learning_rate, preset.fit.weights.pinv, preset.fit.weights.unity) == (
        "spectral",
        0.1,
        0.0,
        0.7,
    )
    with pytest.raises(ValueError, match="no field"):
        harness.build_preset(common.spec("x", overrides=dict(fit=dict(learning_rat=1.0))), "x")


def test_compose_figure_writes_a_valid_png(tmp_path):
    kernel = _gaussian(11, 1.0, 2.0)
    drk = np.zeros((21, 21), np.float32)
    drk[10, 10], drk[10, 11] = 2.0, -1.0
    panels = [
        harness.kernel_panel(kernel, 64, signed=False),
        harness.kernel_panel(drk, 64, signed=True),
        _texture(64, 80, 0),
    ]
    figure = harness.compose_figure([panels, panels[:2]], gap=4)
    assert figure.shape == (64 * 2 + 4, 64 + 64 + 80 + 8, 3)
    write_image(tmp_path / "figure.png", figure)
    back = read_image(tmp_path / "figure.png").pixels
    np.testing.assert_allclose(back, np.round(figure * 255) / 255, atol=1e-6)
    # DRK display: 0 -> mid grey, the positive peak -> white, the negative tap -> a quarter grey.
    assert back[0, 64 + 4, 0] == pytest.approx(128 / 255, abs=1 / 255)


def test_labels_are_written_above_panels():
    from issr_jax.app.figures import LABEL_HEIGHT, labelled

    panel = np.full((40, 120, 3), 0.5, np.float32)
    with_text, empty = labelled(panel, "bicubic: 30.74 dB"), labelled(panel, "")
    assert with_text.shape == empty.shape == (LABEL_HEIGHT + 40, 120, 3)
    np.testing.assert_array_equal(with_text[LABEL_HEIGHT:], panel)
    assert np.all(empty[:LABEL_HEIGHT] == 1.0)  # a white band
    assert with_text[:LABEL_HEIGHT].min() < 0.3  # with dark text in it
    assert not np.array_equal(with_text, labelled(panel, "default: 33.82 dB"))  # the text is what is drawn


def test_compose_figure_rows_keep_their_own_height():
    from issr_jax.app.figures import compose_figure

    figure = compose_figure([[np.zeros((30, 10, 3))], [np.zeros((10, 50, 3))]], gap=2)
    assert figure.shape == (30 + 2 + 10, 50, 3)


def test_kernel_error():
    kernel = _gaussian(11, 1.0, 2.0)
    assert harness.kernel_error(kernel, kernel) == 0.0
    assert harness.kernel_error(np.pad(kernel, 5) * 3, kernel) == pytest.approx(0.0, abs=1e-12)
    assert harness.kernel_error(_gaussian(21, 1.5, 2.0), kernel) > 0.05


def test_wiener_with_the_true_kernel_beats_bicubic():
    hr = _texture(128, 160, seed=3)
    kernel = _gaussian(11, 1.6, 1.6)
    lr = jnp.asarray(_degrade(hr, kernel, 2))
    bicubic = np.asarray(baselines.bicubic(lr, scale=2))
    wiener = np.asarray(baselines.wiener_restore(lr, scale=2, kernel=kernel))
    assert wiener.shape == bicubic.shape == hr.shape
    assert 0 <= wiener.min() and wiener.max() <= 1
    assert float(psnr(wiener, hr, crop_border=2)) > float(psnr(bicubic, hr, crop_border=2)) + 0.5


def test_pinv_is_finite_and_clipped():
    lr = jnp.asarray(_texture(32, 40, seed=4))
    kernel = _gaussian(11, 1.2, 2.0)
    out = np.asarray(baselines.pinv_restore(lr, scale=2, kernel=kernel))
    assert out.shape == (64, 80, 3) and np.all(np.isfinite(out))
    assert out.min() >= 0 and out.max() <= 1
    assert abs(float(baselines.pinv_kernel(kernel).sum())) > 10  # nothing like a sum-1 restoration kernel


@pytest.mark.skipif(not (SHARED / "goldens" / "set5_bicubic_sr").is_dir(), reason=f"{SHARED / 'goldens'} is absent")
@pytest.mark.parametrize("name", ["baby", "butterfly", "head"])
def test_bicubic_matches_basicsr_goldens(name):
    """BasicSR's Set5 bicubic SR images (RGB PNGs): +-1 on a tiny fraction of values
    (goldens README, caveat 5: float64 vs float32 rounding)."""
    for scale in (2, 3, 4):
        lr = read_image(SHARED / "goldens" / "set5_bicubic_lr" / f"{name}_x{scale}.png").pixels
        golden = np.round(read_image(SHARED / "goldens" / "set5_bicubic_sr" / f"{name}_x{scale}.png").pixels * 255)
        ours = np.round(np.asarray(baselines.bicubic(lr, scale=scale)) * 255)
        difference = np.abs(ours - golden)
        assert difference.max() <= 1
        assert np.count_nonzero(difference) / difference.size < 1e-3


def test_plot_gains_pairs_each_image_with_bicubic(tmp_path):
    pytest.importorskip("matplotlib")
    from experiments.plot_gains import paired_gains, plot_gains

    records = [
        {"dataset": "Set5", "scale": 2, "image": "bird", "method": "bicubic", "psnr": 30.0},
        {"dataset": "Set5", "scale": 2, "image": "bird", "method": "default_drk", "psnr": 31.5},
        {"dataset": "Set5", "scale": 2, "image": "butterfly", "method": "bicubic", "psnr": 28.0},
        {"dataset": "Set5", "scale": 2, "image": "butterfly", "method": "default_drk", "psnr": 26.0},
        {"dataset": "DIV2KRK", "scale": 4, "image": "im_1", "method": "bicubic", "psnr": 25.0},
        {"dataset": "DIV2KRK", "scale": 4, "image": "im_1", "method": "default_drk", "psnr": 27.5},
        {"dataset": "DIV2KRK", "scale": 4, "image": "im_2", "method": "default_drk", "psnr": 27.0},  # no bicubic
        {"dataset": "Set5", "scale": 2, "image": "bird", "method": "paper_drk", "psnr": 29.0},
    ]
    gains = paired_gains(records, "default_drk")
    assert gains == {("DIV2KRK", 4): [("im_1", 2.5)], ("Set5", 2): [("bird", 1.5), ("butterfly", -2.0)]}
    plot_gains(gains, method="default_drk", output=tmp_path / "gains.png")
    assert read_image(tmp_path / "gains.png").shape == (450, 1000, 3)
