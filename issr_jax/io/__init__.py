"""Files: images read and written safely (uint8/uint16, gray/RGB/alpha), kernel files.

May import NumPy, imageio and Pillow only; the pixels it hands on are `[H, W, C] float32`.
"""

from issr_jax.io.kernel_files import KernelError, read_kernel
from issr_jax.io.read import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Image,
    ImageError,
    list_images,
    read_image,
    remove_stale_temporaries,
    temporary_path,
    write_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Image",
    "ImageError",
    "KernelError",
    "list_images",
    "read_image",
    "read_kernel",
    "remove_stale_temporaries",
    "temporary_path",
    "write_image",
]
