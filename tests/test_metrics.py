"""Tests for issr_jax.metrics: PSNR, SSIM and NIQE.

Two kinds of tests:
- self-contained ones (float64 NumPy references on random images, conventions, errors);
- every row of ../shared/goldens/metrics_goldens.json (BasicSR's values), recomputed
  from the images on disk. Set5 rows score the stored SR PNGs, which are BasicSR's exact
  SR images. Set14 and DIV2KRK rows rebuild the SR images with our imresize, following
  the goldens README's pipeline; our float32 imresize sums in a different order than
  BasicSR's torch code, so a few uint8 pixels per million round the other way (README
  caveat 5). The stated tolerances (PSNR 1e-3 dB, SSIM 1e-4, NIQE 1e-2) hold for every
  row even so; the largest gaps seen are ~3e-5 dB, ~1e-6 and ~5e-3 (NIQE on ppt3 x4).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.io
import scipy.ndimage

from issr_jax import metrics
from issr_jax.metrics import fidelity, niqe, psnr, psnr_batch, ssim, ssim_batch
from issr_jax.resize import imresize

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDENS = SHARED / "goldens"
DATASETS = SHARED / "datasets"
NIQE_MODEL = SHARED / "niqe" / "modelparameters.mat"

TOLERANCE = {"psnr": 1e-3, "ssim": 1e-4, "niqe": 1e-2}


# ---------------------------------------------------------------------------
# float64 references, written from the definitions (BasicSR's NumPy functions)
# ---------------------------------------------------------------------------

Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def _reference_planes(image, crop_border, y_channel):
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if crop_border:
        image = image[crop_border:-crop_border, crop_border:-crop_border]
    if image.shape[-1] == 3 and y_channel:
        return (image @ Y_WEIGHTS + 16.0)[..., None]
    return image * 255.0


def reference_psnr(image, reference, crop_border=0, y_channel=True):
    a = _reference_planes(image, crop_border, y_channel)
    b = _reference_planes(reference, crop_border, y_channel)
    mse = np.mean((a - b) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255.0**2 / mse)


def reference_ssim(image, reference, crop_border=0, y_channel=True):
    a = _reference_planes(image, crop_border, y_channel)
    b = _reference_planes(reference, crop_border, y_channel)
    taps = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(taps, taps) / taps.sum() ** 2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(x):  # 'valid' part of a same-size correlation
        return scipy.ndimage.correlate(x, window, mode="reflect")[5:-5, 5:-5]

    scores = []
    for x, y in zip(np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0)):
        mu_x, mu_y = filt(x), filt(y)
        var_x = filt(x * x) - mu_x**2
        var_y = filt(y * y) - mu_y**2
        cov = filt(x * y) - mu_x * mu_y
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        scores.append(ssim_map.mean())
    return float(np.mean(scores))


def _noisy_pair(seed, shape):
    rng = np.random.default_rng(seed)
    reference = rng.random(shape, dtype=np.float32)
    # Smooth it so SSIM is not trivially ~0, then add noise.
    reference = scipy.ndimage.uniform_filter(reference, size=(5, 5) + (1,) * (len(shape) - 2))
    image = np.clip(reference + rng.normal(0, 0.05, shape), 0, 1).astype(np.float32)
    return image, reference


# ---------------------------------------------------------------------------
# PSNR / SSIM without shared data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, crop_border, y_channel",
    [
        ((37, 45, 3), 0, True),
        ((64, 50, 3), 4, True),
        ((64, 50, 3), 3, False),
        ((40, 33), 2, True),
        ((30, 41, 1), 0, False),
    ],
)
def test_psnr_ssim_match_float64_reference(shape, crop_border, y_channel):
    image, reference = _noisy_pair(len(shape) * 100 + crop_border, shape)
    got_psnr = float(psnr(image, reference, crop_border=crop_border, y_channel=y_channel))
    got_ssim = float(ssim(image, reference, crop_border=crop_border, y_channel=y_channel))
    assert got_psnr == pytest.approx(reference_psnr(image, reference, crop_border, y_channel), abs=1e-4)
    assert got_ssim == pytest.approx(reference_ssim(image, reference, crop_border, y_channel), abs=1e-5)


def test_psnr_known_value_and_identity():
    a = np.full((16, 16, 3), 0.5, np.float32)
    b = np.full((16, 16, 3), 0.6, np.float32)
    assert float(psnr(a, b, y_channel=False)) == pytest.approx(20.0, abs=1e-4)
    assert float(psnr(a, a)) == np.inf
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)


def test_grey_conventions():
    image, reference = _noisy_pair(7, (40, 44))
    # [H, W] and [H, W, 1] are the same; y_channel changes nothing for grey.
    values = {
        float(f(i, r, crop_border=2, y_channel=y))
        for f in (psnr,)
        for i, r in ((image, reference), (image[..., None], reference[..., None]))
        for y in (True, False)
    }
    assert max(values) - min(values) < 1e-5
    # Three equal channels are RGB: Y = 16 + 219/255 grey, so PSNR-Y is 20 log10(255/219) higher.
    rgb_i, rgb_r = np.repeat(image[..., None], 3, -1), np.repeat(reference[..., None], 3, -1)
    gap = float(psnr(rgb_i, rgb_r, y_channel=True)) - float(psnr(image, reference))
    assert gap == pytest.approx(20 * math.log10(255 / 219), abs=1e-4)
    assert float(psnr(rgb_i, rgb_r, y_channel=False)) == pytest.approx(float(psnr(image, reference)), abs=1e-4)


def test_jit_and_batch():
    image, reference = _noisy_pair(8, (3, 30, 28, 3))
    for metric, batch in ((psnr, psnr_batch), (ssim, ssim_batch)):
        jitted = jax.jit(metric, static_argnames=("crop_border", "y_channel"))
        loop = [float(metric(i, r, crop_border=2)) for i, r in zip(image, reference)]
        np.testing.assert_allclose(
            [float(jitted(i, r, crop_border=2)) for i, r in zip(image, reference)], loop, atol=1e-6
        )
        np.testing.assert_allclose(np.asarray(batch(image, reference, crop_border=2)), loop, atol=1e-6)


def test_one_compile_per_size_bucket():
    cache_size = getattr(fidelity._ssim_padded, "_cache_size", None)
    if cache_size is None:
        pytest.skip("this jax version has no jit _cache_size()")
    before = cache_size()
    for shape, crop_border in (((100, 90, 3), 0), ((120, 128, 3), 4), ((65, 127, 3), 2)):
        image, reference = _noisy_pair(9, shape)
        ssim(image, reference, crop_border=crop_border)
    assert cache_size() - before <= 1  # all three sizes pad to 128x128


def test_psnr_ssim_invalid_inputs():
    a = np.zeros((20, 20, 3), np.float32)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:10])
    with pytest.raises(ValueError, match="crop_border"):
        ssim(a, a, crop_border=5)  # leaves 10x10 < 11x11
    with pytest.raises(TypeError, match="255"):
        psnr(a.astype(np.uint8), a.astype(np.uint8))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        psnr(np.zeros((4, 4, 2), np.float32), np.zeros((4, 4, 2), np.float32))


# ---------------------------------------------------------------------------
# NIQE without shared data: model loading and the clear errors
# ---------------------------------------------------------------------------


@pytest.fixture
def synthetic_model(tmp_path):
    rng = np.random.default_rng(10)
    factor = rng.normal(size=(36, 36))
    path = tmp_path / "model.npz"
    np.savez(path, mu_prisparam=rng.normal(size=(1, 36)), cov_prisparam=factor @ factor.T / 36)
    return path


def _textured(shape, seed=11):
    rng = np.random.default_rng(seed)
    return scipy.ndimage.gaussian_filter(rng.random(shape), 1.0).astype(np.float32)


def test_niqe_needs_a_model(monkeypatch):
    monkeypatch.delenv(metrics.NIQE_MODEL_ENV, raising=False)
    with pytest.raises(ValueError, match="model_path.*ISSR_JAX_NIQE_MODEL.*modelparameters.mat"):
        niqe(_textured((96, 192)))


def test_niqe_model_from_argument_or_environment(monkeypatch, synthetic_model):
    image = _textured((192, 192, 3))
    direct = niqe(image, model_path=synthetic_model)
    monkeypatch.setenv(metrics.NIQE_MODEL_ENV, str(synthetic_model))
    assert niqe(image) == direct
    assert np.isfinite(direct) and direct > 0


def test_niqe_bad_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        niqe(_textured((96, 192)), model_path=tmp_path / "missing.mat")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, something=np.zeros(3))
    with pytest.raises(ValueError, match="mu_prisparam"):
        niqe(_textured((96, 192)), model_path=wrong)


@pytest.mark.parametrize("shape, crop_border", [((96, 96), 0), ((95, 400), 0), ((195, 104), 4)])
def test_niqe_rejects_images_under_two_blocks(synthetic_model, shape, crop_border):
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(_textured(shape), crop_border=crop_border, model_path=synthetic_model)


def test_niqe_smallest_valid_image_and_grey_forms(synthetic_model):
    image = _textured((96, 192))
    score = niqe(image, model_path=synthetic_model)
    assert np.isfinite(score)
    assert niqe(image[..., None], model_path=synthetic_model) == score


def test_niqe_flat_image_is_an_error(synthetic_model):
    with pytest.raises(ValueError, match="finite features"):
        niqe(np.full((192, 192, 3), 0.5, np.float32), model_path=synthetic_model)


# ---------------------------------------------------------------------------
# The BasicSR goldens
# ---------------------------------------------------------------------------


def _load_golden_rows():
    path = GOLDENS / "metrics_goldens.json"
    if not path.is_file():
        return {}, []
    data = json.loads(path.read_text())
    return data["meta"], data["rows"]


GOLDEN_META, GOLDEN_ROWS = _load_golden_rows()


def _row_id(row):
    scale = f"x{row['scale']}" if row["scale"] else "hr"
    channel = {True: "-y", False: "-rgb", None: ""}[row["test_y_channel"]]
    return f"{row['dataset']}-{row['image']}-{row['variant']}-{scale}-{row['metric']}{channel}"


@functools.cache
def _read_png(path: Path, gray2d: bool) -> np.ndarray:
    """uint8 RGB [H, W, 3] (alpha dropped, grey repeated) or, for gray2d, [H, W]."""
    import imageio.v3 as iio

    pixels = np.asarray(iio.imread(path))
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = pixels[..., :3]
    if pixels.ndim == 2 and not gray2d:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    return pixels


def _dataset_image(relative: str, gray2d: bool = False) -> np.ndarray:
    path = DATASETS / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in {DATASETS} (the stored split lacks it)")
    expected = GOLDEN_META.get("inputs_sha256", {}).get(relative)
    if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        pytest.skip(f"{relative} differs from the file the goldens were computed from")
    return _read_png(path, gray2d)


def _to_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / np.float32(255)


def _to_uint8(image) -> np.ndarray:
    """BasicSR's tensor2img: clip to [0, 1], * 255, round half to even, in float32."""
    return (np.clip(np.asarray(image), 0, 1) * np.float32(255)).round().astype(np.uint8)


@functools.cache
def _golden_images(dataset, image, variant, scale):
    """The (scored image, reference) uint8 pair of a golden row, per the README pipeline."""
    row = next(
        r
        for r in GOLDEN_ROWS
        if (r["dataset"], r["image"], r["variant"], r["scale"]) == (dataset, image, variant, scale)
    )
    hr = _dataset_image(row["hr_file"], gray2d=variant == "gray2d")
    if scale is None:
        return hr, None
    if dataset == "DIV2KRK":
        lr = _dataset_image(row["lr_file"])
        sr = _to_uint8(imresize(_to_float(lr), scale=scale))
        return sr, hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
    hr_mod = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
    if dataset == "Set5":
        sr = _read_png(GOLDENS / row["sr_png"], False)  # BasicSR's own SR image
    else:
        lr = _to_uint8(imresize(_to_float(hr_mod), scale=1 / scale))
        sr = _to_uint8(imresize(_to_float(lr), scale=scale))
    assert sr.shape == hr_mod.shape
    return sr, hr_mod


@pytest.mark.data
@pytest.mark.skipif(not GOLDEN_ROWS, reason=f"goldens not found in {GOLDENS}")
@pytest.mark.parametrize("row", GOLDEN_ROWS or [None], ids=_row_id if GOLDEN_ROWS else None)
def test_basicsr_golden_row(row):
    sr, hr_mod = _golden_images(row["dataset"], row["image"], row["variant"], row["scale"])
    crop_border = row["scale"] or 0
    if row["metric"] == "niqe":
        if not NIQE_MODEL.is_file():
            pytest.skip(f"NIQE model not found: {NIQE_MODEL}")
        value = niqe(_to_float(sr), crop_border=crop_border, model_path=NIQE_MODEL)
    else:
        metric = psnr if row["metric"] == "psnr" else ssim
        value = float(
            metric(_to_float(sr), _to_float(hr_mod), crop_border=crop_border, y_channel=row["test_y_channel"])
        )
    assert value == pytest.approx(row["value"], abs=TOLERANCE[row["metric"]])


@pytest.mark.data
@pytest.mark.skipif(not (GOLDENS / "set5_bicubic_sr").is_dir(), reason=f"goldens not found in {GOLDENS}")
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_our_pipeline_reproduces_set5_sr_pngs(scale):
    """imresize in BasicSR's uint8 pipeline: at most a few +-1 flips (README caveat 5)."""
    flips = total = 0
    for name in ("baby", "bird", "butterfly", "head", "woman"):
        hr = _dataset_image(f"Set5/HR/{name}.png")
        hr_mod = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
        lr = _to_uint8(imresize(_to_float(hr_mod), scale=1 / scale))
        stored_lr = _read_png(GOLDENS / "set5_bicubic_lr" / f"{name}_x{scale}.png", False)
        sr = _to_uint8(imresize(_to_float(stored_lr), scale=scale))
        stored_sr = _read_png(GOLDENS / "set5_bicubic_sr" / f"{name}_x{scale}.png", False)
        for ours, theirs in ((lr, stored_lr), (sr, stored_sr)):
            difference = np.abs(ours.astype(int) - theirs.astype(int))
            assert difference.max() <= 1
            flips += int(np.count_nonzero(difference))
            total += difference.size
    assert flips / total < 1e-4, f"{flips} of {total} values differ by 1"


@pytest.mark.data
@pytest.mark.skipif(not NIQE_MODEL.is_file(), reason=f"NIQE model not found: {NIQE_MODEL}")
def test_niqe_npz_model_equals_mat(tmp_path):
    mat = scipy.io.loadmat(NIQE_MODEL)
    npz = tmp_path / "model.npz"
    np.savez(npz, mu_prisparam=mat["mu_prisparam"], cov_prisparam=mat["cov_prisparam"])
    image = _textured((192, 288, 3), seed=12)
    assert niqe(image, model_path=npz) == niqe(image, model_path=NIQE_MODEL)
