"""Files: images read and written safely (uint8/uint16, gray/RGB/alpha, colour profile and
metadata carried), atomically; kernel files.

May import NumPy, imageio, Pillow (and its optional pillow-heif plugin) and SciPy only; the
pixels it hands on are `[H, W, C] float32`.
"""

from issr_jax.io.atomic import save_npy, temporary_path, write_atomically
from issr_jax.io.errors import FormatError, ImageError, OutputExistsError
from issr_jax.io.folders import list_images, remove_stale_temporaries
from issr_jax.io.formats import IMAGE_EXTENSIONS
from issr_jax.io.heif import INPUT_ONLY_EXTENSIONS
from issr_jax.io.kernel_files import KernelError, read_kernel
from issr_jax.io.metadata import Metadata
from issr_jax.io.read import DEFAULT_MAX_PIXELS, Image, read_image
from issr_jax.io.write import quantise, write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FormatError",
    "IMAGE_EXTENSIONS",
    "INPUT_ONLY_EXTENSIONS",
    "Image",
    "ImageError",
    "KernelError",
    "Metadata",
    "OutputExistsError",
    "list_images",
    "quantise",
    "read_image",
    "read_kernel",
    "remove_stale_temporaries",
    "save_npy",
    "temporary_path",
    "write_atomically",
    "write_image",
]
