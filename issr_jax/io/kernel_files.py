"""Reading a user-supplied degradation kernel: `.npy` or MATLAB `.mat` (DIV2KRK's `Kernel`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from issr_jax.io.errors import ImageError

__all__ = ["KernelError", "read_kernel"]


class KernelError(ImageError):
    """A kernel file that cannot be used; `str()` is `"{path}: {problem}"`."""


def read_kernel(path: str | Path) -> np.ndarray:
    """Loads and checks a blur kernel.

    `.npy`: the array itself. `.mat`: the variable `Kernel` (DIV2KRK's name), else the only
    2-D numeric variable in the file.

    Returns:
        `[k, k] float32`, odd `k`, non-negative sum, normalised to sum to 1.

    Raises:
        KernelError: unreadable file, not 2-D, not square with an odd side, NaN or Inf,
            all zeros, or a sum that is not positive.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".mat") and not path.is_file():
        raise KernelError(path, "file does not exist; check the path")
    try:
        if suffix == ".npy":
            kernel = np.load(path, allow_pickle=False)
        elif suffix == ".mat":
            import scipy.io  # scipy is a dependency of jax

            variables = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
            if "Kernel" in variables:
                kernel = variables["Kernel"]
            else:
                arrays = [
                    v for v in variables.values() if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind in "fiu"
                ]
                if len(arrays) != 1:
                    raise KernelError(path, f"holds {len(arrays)} 2-D numeric variables; name the kernel 'Kernel'")
                kernel = arrays[0]
        else:
            raise KernelError(path, f"unsupported kernel file type {suffix or '(none)'}; use .npy or .mat")
    except KernelError:
        raise
    except Exception as error:  # corrupt or foreign content
        raise KernelError(path, f"cannot read the kernel ({type(error).__name__}: {error})") from error
    kernel = np.asarray(kernel)
    if kernel.dtype.kind not in "fiu":
        raise KernelError(path, f"kernel must be numeric, got dtype {kernel.dtype}")
    if kernel.ndim != 2:
        raise KernelError(path, f"kernel must be 2-D, got shape {kernel.shape}")
    if kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise KernelError(
            path, f"kernel must be square with an odd side (e.g. 11x11), got {kernel.shape[0]}x{kernel.shape[1]}"
        )
    kernel = kernel.astype(np.float64)
    if not np.all(np.isfinite(kernel)):
        raise KernelError(path, "kernel contains NaN or Inf")
    if not np.any(kernel):
        raise KernelError(path, "kernel is all zeros")
    if kernel.sum() <= 0:
        raise KernelError(
            path, f"kernel sums to {kernel.sum():.4g}; a blur kernel must sum to a positive value (normally 1)"
        )
    return (kernel / kernel.sum()).astype(np.float32)
