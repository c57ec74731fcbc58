"""The batched dataset path: same results as one image at a time, bounded compiles,
folder behaviour (resume, failures, progress), and the multi-host file split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from issr_jax.app import runner
from issr_jax.app.demo import degrade, demo_image
from issr_jax.batch import canvases, chunks, mesh
from issr_jax.io import read_image, write_image
from issr_jax.pipeline import super_resolve

KEY = jax.random.key(0)


def _images(shapes, seed=0):
    """Natural-looking LR images (the demo scene, cropped and degraded) of given shapes."""
    scene = degrade(demo_image(size=256), scale=2)  # [128, 128, 3]
    rng = np.random.default_rng(seed)
    out = []
    for h, w, c in shapes:
        tiled = np.tile(scene, (-(-h // 128), -(-w // 128), 1))[:h, :w]
        image = np.clip(tiled + 0.02 * rng.standard_normal(tiled.shape), 0, 1).astype(np.float32)
        out.append(image if c == 3 else image.mean(-1, keepdims=True))
    return out


class CompileCounter:
    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


COMPILES = CompileCounter()


def test_dataset_matches_one_image_at_a_time():
    images = _images([(56, 40, 3), (33, 47, 1)])
    results = chunks.super_resolve_dataset(images, scale=2, key=KEY)
    for image, result in zip(images, results):
        single = super_resolve(jnp.asarray(image), scale=2, key=KEY)
        assert result.image.shape == single.image.shape
        # The spectral fit is float32 and ill-conditioned: the last-bit differences of a
        # padded spectrum move the kernel by ~1e-5 and the image by ~1e-4 at most.
        np.testing.assert_allclose(result.kernel, np.asarray(single.kernel), atol=2e-4)
        np.testing.assert_allclose(result.image, np.asarray(single.image), atol=2e-3)
        assert np.mean(np.abs(result.image - np.asarray(single.image))) < 1e-4


def test_result_does_not_depend_on_the_other_images():
    images = _images([(40, 56, 3), (48, 60, 3), (44, 52, 3), (60, 41, 3), (35, 50, 3)], seed=1)
    together = chunks.super_resolve_dataset(images, scale=2, key=KEY, chunk_size=4)
    alone = chunks.super_resolve_dataset(images[3:4], scale=2, key=KEY)
    np.testing.assert_array_equal(together[3].image, alone[0].image)
    np.testing.assert_array_equal(together[3].drk, alone[0].drk)


def test_mixed_sizes_compile_a_bounded_number_of_times():
    # Warm up one bucket, then a new folder of *different* sizes in the same buckets
    # must not compile anything (the per-shape pipeline would compile every stage).
    chunks.super_resolve_dataset(_images([(42, 58, 3)]), scale=2, key=KEY)
    before = COMPILES.count
    shapes = [(42, 57, 3), (43, 59, 3), (42, 59, 3), (43, 57, 3), (43, 58, 3)]
    # The default preset denoises the LR on its canvas, which widens the canvas margin.
    buckets = {canvases.canvas_shape(h, w, scale=2, drk_size=21, denoise=True) for h, w, _ in shapes}
    assert buckets == {(64, 80, False)}
    results = chunks.super_resolve_dataset(_images(shapes, seed=2), scale=2, key=KEY)
    assert [r.image.shape[:2] for r in results] == [(2 * h, 2 * w) for h, w, _ in shapes]
    assert COMPILES.count - before == 0


def test_shard_files_partitions_the_list_in_order():
    names = [f"im_{i}.png" for i in range(11)]
    shares = [mesh.shard_files(names, i, 3) for i in range(3)]
    assert sorted(sum(shares, [])) == sorted(names)
    assert shares[1] == ["im_1.png", "im_4.png", "im_7.png", "im_10.png"]
    assert mesh.shard_files(names, 0, 1) == names
    with pytest.raises(ValueError):
        mesh.shard_files(names, 3, 3)


def test_chunks_bound_count_and_pixels():
    parts = chunks.chunks([10, 10, 50, 10, 100, 1], chunk_size=3, chunk_pixels=60)
    assert [list(p) for p in parts] == [[0, 1], [2, 3], [4], [5]]
    parts = chunks.chunks([1] * 40, chunk_size=16, first_size=4)  # a short first chunk
    assert [len(p) for p in parts] == [4, 16, 16, 4]


@pytest.fixture(scope="module")
def lr_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lr")
    for i, image in enumerate(_images([(40, 56, 3), (56, 40, 3), (36, 36, 1), (48, 64, 3)], seed=3)):
        write_image(folder / f"im_{i}.png", image)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def test_folder_run_equals_file_runs_resumes_and_reports(lr_folder, tmp_path):
    out = tmp_path / "sr"
    seen = []
    summary = runner.super_resolve_folder(
        lr_folder, out, scale=2, key=KEY, chunk_size=2, on_outcome=lambda i, n, o: seen.append((i, n, o.status))
    )
    assert [i for i, _, _ in seen] == list(range(5)) and all(n == 5 for _, n, _ in seen)
    assert summary.count(runner.Status.DONE) == 4 and summary.count(runner.Status.FAILED) == 1
    assert "broken.png" in (out / "failures.txt").read_text()
    for i in range(4):  # the folder's pixels are those of a single-file run
        single = tmp_path / f"single_{i}.png"
        runner.super_resolve_file(lr_folder / f"im_{i}.png", single, scale=2, key=KEY)
        np.testing.assert_array_equal(read_image(out / f"im_{i}.png").pixels, read_image(single).pixels)
    (out / "im_2.png").unlink()
    again = runner.super_resolve_folder(lr_folder, out, scale=2, key=KEY)
    assert again.count(runner.Status.SKIPPED) == 3 and again.count(runner.Status.DONE) == 1


def test_per_image_kernels_must_match_the_images():
    images = _images([(40, 40, 3), (40, 48, 3)])
    with pytest.raises(ValueError, match="one \\[k, k\\] per image"):
        chunks.super_resolve_dataset(images, scale=2, key=KEY, kernel=np.ones((3, 5, 5)))
    with pytest.raises(ValueError, match="same shape"):
        chunks.super_resolve_dataset(images, scale=2, key=KEY, kernel=[np.ones((5, 5)), np.ones((3, 3))])
