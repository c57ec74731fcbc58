"""Real inputs (noise, JPEG, software downscaling): the noise estimate, the denoiser, the
blind estimate and the `default` preset through every path, on images the tests make."""

import io
import subprocess
import sys

import jax
import numpy as np
import PIL.Image
import pytest

import issr_jax
from issr_jax.batch import chunks
from issr_jax.degradation import as_degradation, estimate_degradation
from issr_jax.io import read_image
from issr_jax.metrics import psnr
from issr_jax.noise.estimate import estimate_luma_noise, luma_noise_gain
from issr_jax.noise.jpeg import jpeg_noise
from issr_jax.presets import get_preset
from issr_jax.restoration.denoise import denoise_dct, denoise_image
from issr_jax.restoration.lmmse import lmmse_restoration_kernel


def natural_image(size: int, *, seed: int = 0) -> np.ndarray:
    """`[size, size, 3]` in [0, 1]: a random field with a natural power-law spectrum (slope
    3.6, tapered towards Nyquist as a camera's optics do), correlated colours, a step edge,
    rendered at twice the size and shrunk with antialiasing."""
    rng = np.random.default_rng(seed)
    big = 2 * size
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(big), np.fft.fftfreq(big), indexing="ij"))
    amplitude = np.maximum(freq, 1.0 / big) ** -1.8 * np.exp(-((freq / 0.6) ** 2))
    planes = []
    for _ in range(2):
        plane = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((big, big)))))
        planes.append(plane / (4 * plane.std()))
    image = 0.5 + np.stack([planes[0], 0.8 * planes[0] + 0.3 * planes[1], 0.6 * planes[0] - 0.3 * planes[1]], -1)
    image[big // 3 : big // 2, big // 4 :] += 0.15
    return np.clip(np.asarray(issr_jax.imresize(image.astype(np.float32), scale=0.5)), 0.02, 0.98)


def add_noise(image: np.ndarray, sigma: float, *, seed: int = 1) -> np.ndarray:
    noisy = image * 255 + np.random.default_rng(seed).normal(0, sigma, image.shape)
    return (np.clip(np.round(noisy), 0, 255) / 255).astype(np.float32)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_estimate_within_15_percent(sigma):
    image = add_noise(natural_image(160), sigma)
    estimate = float(estimate_luma_noise(image)) / luma_noise_gain(3)
    assert abs(estimate - sigma) <= 0.15 * sigma, estimate


def test_clean_image_reads_near_its_quantisation_level():
    image = add_noise(natural_image(160), 0.0)
    assert float(estimate_luma_noise(image)) / luma_noise_gain(3) < 1.0


def test_denoiser_removes_noise_and_leaves_a_clean_plane():
    clean = natural_image(96)[..., 0] * 255
    noisy = add_noise(natural_image(96), 10.0)[..., 0] * 255
    denoised = np.asarray(denoise_dct(noisy, 10.0))
    assert np.sqrt(np.mean((denoised - clean) ** 2)) < 0.6 * np.sqrt(np.mean((noisy - clean) ** 2))
    np.testing.assert_allclose(np.asarray(denoise_dct(clean, 0.0)), clean, atol=1e-3)
    rgb = natural_image(64)
    np.testing.assert_allclose(np.asarray(denoise_image(rgb, 0.0)), rgb, atol=1e-5)


def test_mixture_design_of_one_kernel_is_the_single_design():
    kernel = np.asarray(issr_jax.gaussian_kernel(size=21, sigma_x=2.0, sigma_y=1.2, theta=0.4))
    single = lmmse_restoration_kernel(kernel, scale=2)
    mixed = lmmse_restoration_kernel(kernel[None], scale=2, weights=np.ones(1))
    np.testing.assert_allclose(np.asarray(mixed), np.asarray(single), atol=1e-6)


def test_known_kernel_keeps_the_kernel_and_fits_the_prior():
    lr = add_noise(natural_image(64), 3.0)
    kernel = np.asarray(issr_jax.gaussian_kernel(size=21, sigma_x=1.5, sigma_y=1.5, theta=0.0))
    degradation = estimate_degradation(lr, scale=2, key=jax.random.key(0), preset=get_preset("default"), kernel=kernel)
    assert degradation.kernels.shape == (1, 21, 21) and float(degradation.weights[0]) == 1.0
    np.testing.assert_allclose(degradation.kernels[0], kernel / kernel.sum(), atol=1e-7)
    assert 1.0 < float(degradation.slopes[0]) <= 4.5 and float(degradation.amplitudes[0]) > 0
    assert abs(float(degradation.noise) / luma_noise_gain(3) - 3.0) < 0.75  # a small image: 25%


def test_batched_single_and_tiled_agree_with_denoising():
    # 53 x 71 is off the bucket ladder: the canvas pads, and the denoiser must not see it.
    lr = add_noise(natural_image(80)[:53, :71], 5.0)
    key = jax.random.key(0)
    single = issr_jax.super_resolve(lr, scale=2, key=key)
    assert float(single.degradation.noise) > 1.0
    for threshold in (chunks.tiles.TILE_THRESHOLD_PIXELS, 40 * 40):
        out = []
        images = [lr, lr.transpose(1, 0, 2)]
        chunks.super_resolve_chunk(images, scale=2, key=key, on_result=out.append, tile_threshold=threshold)
        np.testing.assert_allclose(out[0].result.image, np.asarray(single.image), atol=1e-5)
        transposed = issr_jax.super_resolve(lr.transpose(1, 0, 2), scale=2, key=key)
        np.testing.assert_allclose(out[1].result.image, np.asarray(transposed.image), atol=1e-5)


def test_same_key_same_result():
    lr = add_noise(natural_image(64), 4.0)
    a = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(3))
    b = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(a.image), np.asarray(b.image))


def test_noise_argument_checked():
    lr = natural_image(32)
    for bad in (-1.0, float("nan"), "five"):
        with pytest.raises(ValueError, match="noise must be"):
            issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0), noise=bad)
    with pytest.raises(ValueError, match="assumes a clean image"):
        issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0), preset="fast", noise=5)
    clean = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0), noise=0)
    assert float(clean.degradation.noise) == 0.0


def test_given_noise_is_per_channel():
    lr = add_noise(natural_image(64), 6.0)
    result = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0), noise=6.0)
    assert float(result.degradation.noise) == pytest.approx(6.0 * luma_noise_gain(3), rel=1e-6)


def _psnr_gain(sr, bicubic, hr, scale):
    y = lambda image: psnr(np.asarray(image), hr, crop_border=scale, y_channel=True)
    return float(y(sr) - y(bicubic))


def test_software_downscaled_image_is_not_made_worse():
    # A sharp image shrunk by MATLAB bicubic: restoring it as a Gaussian blur over-sharpens.
    hr = natural_image(192, seed=4)
    lr = np.clip(np.round(np.asarray(issr_jax.imresize(hr, scale=0.5)) * 255) / 255, 0, 1).astype(np.float32)
    sr = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0)).image
    assert _psnr_gain(np.clip(sr, 0, 1), np.clip(issr_jax.imresize(lr, scale=2), 0, 1), hr, 2) > -0.1


def test_noisy_gaussian_blur_is_restored():
    hr = natural_image(192, seed=5)
    kernel = np.asarray(issr_jax.gaussian_kernel(size=21, sigma_x=2.2, sigma_y=1.6, theta=0.5))
    transfer = np.fft.fft2(np.fft.ifftshift(np.pad(kernel, ((86, 85), (86, 85)))))  # centre at 96 -> 0
    blurred = np.stack([np.real(np.fft.ifft2(np.fft.fft2(hr[..., c]) * transfer)) for c in range(3)], -1)
    lr = add_noise(blurred[::2, ::2].astype(np.float32), 3.0)
    sr = issr_jax.super_resolve(lr, scale=2, key=jax.random.key(0)).image
    bicubic = np.clip(issr_jax.imresize(lr, scale=2), 0, 1)
    assert _psnr_gain(sr, bicubic, hr, 2) > 0.1


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_jpeg_table_read_and_measured(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(natural_image(128), 60))
    image = read_image(path)
    with PIL.Image.open(path) as pillow:
        np.testing.assert_array_equal(image.jpeg_luma_table.reshape(-1), np.asarray(pillow.quantization[0]))
    measured = jpeg_noise(image.pixels, image.jpeg_luma_table)
    assert measured.sigma > 1.0 and measured.surviving[0, 0] == 1.0 and measured.surviving[7, 7] < 0.5
    np.testing.assert_array_equal(measured.surviving, measured.surviving.T)
    preset = get_preset("default")
    plain = estimate_degradation(image.pixels, scale=2, key=jax.random.key(0), preset=preset)
    known = estimate_degradation(
        image.pixels, scale=2, key=jax.random.key(0), preset=preset, jpeg_table=image.jpeg_luma_table
    )
    assert float(known.noise) > float(plain.noise)
    assert read_image(tmp_path / "photo.jpg").jpeg_luma_table is not None
    png = tmp_path / "photo.png"
    PIL.Image.fromarray(np.round(image.pixels * 255).astype(np.uint8)).save(png)
    assert read_image(png).jpeg_luma_table is None


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "issr_jax", *args], capture_output=True, text=True, timeout=600)


def test_cli_jpeg_end_to_end_with_noise_values(tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(_jpeg(natural_image(96), 75))
    out = tmp_path / "sr.png"
    result = run_cli(f"--input={source}", f"--output={out}", "--verbose", "--save_kernels")
    assert result.returncode == 0, result.stderr
    assert read_image(out).pixels.shape == (192, 192, 3)
    assert "noise" in result.stderr and "luma" in result.stderr
    assert (tmp_path / "sr_degradation.json").is_file()
    for value in ("0", "3.5"):
        assert run_cli(f"--input={source}", f"--output={tmp_path / value}.png", f"--noise={value}").returncode == 0
    for bad in ("-1", "nan", "abc"):
        result = run_cli(f"--input={source}", f"--output={tmp_path / 'bad.png'}", f"--noise={bad}")
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "noise" in result.stderr
    result = run_cli(f"--input={source}", f"--output={tmp_path / 'bad.png'}", "--noise=5", "--preset=fast")
    assert result.returncode == 1 and "--noise=5" in result.stderr
    assert not (tmp_path / "bad.png").exists()


def test_as_degradation_weights_a_gallery_equally():
    gallery = np.ones((4, 5, 5), np.float32)
    degradation = as_degradation(gallery)
    np.testing.assert_allclose(degradation.weights, 0.25)
    np.testing.assert_allclose(degradation.kernels.sum(axis=(1, 2)), 1.0, rtol=1e-6)


def test_denoising_in_bands_equals_denoising_whole():
    from issr_jax.restoration.denoise import denoise_image_in_bands

    image = add_noise(natural_image(96)[:, :70], 5.0)
    whole = np.asarray(jax.jit(denoise_image)(image, np.float32(2.9)))
    np.testing.assert_allclose(denoise_image_in_bands(image, 2.9, band=40), whole, atol=1e-5)
    odd = image[:95]  # an odd height: the last band still starts on an even row
    expected = np.asarray(jax.jit(denoise_image)(odd, np.float32(2.9)))
    np.testing.assert_allclose(denoise_image_in_bands(odd, 2.9, band=34), expected, atol=1e-5)
