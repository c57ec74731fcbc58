"""`--kernel` files: what is accepted, and a clear error for everything else."""

import numpy as np
import pytest
import scipy.io

from issr_jax.io.kernel_files import KernelError, read_kernel


def _write(tmp_path, name, array, key="Kernel"):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, array)
    else:
        scipy.io.savemat(path, {key: array})
    return path


@pytest.mark.parametrize("suffix", [".npy", ".mat"])
def test_valid_kernel_is_normalised(tmp_path, suffix):
    kernel = np.ones((5, 5)) * 2.0
    got = read_kernel(_write(tmp_path, f"k{suffix}", kernel))
    assert got.dtype == np.float32 and got.shape == (5, 5)
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-6)


def test_mat_with_other_variable_name(tmp_path):
    got = read_kernel(_write(tmp_path, "k.mat", np.eye(3), key="blur"))
    assert got.shape == (3, 3)


@pytest.mark.parametrize("suffix", [".npy", ".mat"])
@pytest.mark.parametrize(
    "array,match",
    [
        (np.ones((3, 5)), "square"),
        (np.ones((4, 4)), "odd"),
        (np.full((3, 3), np.nan), "NaN or Inf"),
        (np.array([[0, 0, 0], [0, np.inf, 0], [0, 0, 0]]), "NaN or Inf"),
        (np.zeros((3, 3)), "all zeros"),
        (-np.ones((3, 3)), "sums to"),
    ],
)
def test_bad_kernels(tmp_path, suffix, array, match):
    path = _write(tmp_path, f"k{suffix}", array)
    with pytest.raises(KernelError, match=match) as info:
        read_kernel(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_not_2d(tmp_path):
    with pytest.raises(KernelError, match="2-D"):
        read_kernel(_write(tmp_path, "k.npy", np.ones((3, 3, 3))))
    with pytest.raises(KernelError, match="2-D"):
        read_kernel(_write(tmp_path, "k1.npy", np.ones(9)))


def test_unreadable_and_missing(tmp_path):
    bad = tmp_path / "k.npy"
    bad.write_bytes(b"not a numpy file")
    with pytest.raises(KernelError, match="cannot read"):
        read_kernel(bad)
    with pytest.raises(KernelError, match="does not exist"):
        read_kernel(tmp_path / "missing.mat")
    with pytest.raises(KernelError, match="unsupported"):
        read_kernel(tmp_path / "k.txt")
