"""The file formats read and written: extensions and sample types."""

from __future__ import annotations

import numpy as np
from PIL import features as _pil_features

__all__ = ["IMAGE_EXTENSIONS", "JPEG_EXTENSIONS", "SAMPLE_TYPES", "TIFF_EXTENSIONS", "WEBP_EXTENSIONS"]

JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
WEBP_EXTENSIONS = frozenset({".webp"}) if _pil_features.check("webp") else frozenset()

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".bmp"} | JPEG_EXTENSIONS | TIFF_EXTENSIONS | WEBP_EXTENSIONS)
"""Lowercase suffixes (with the dot) that `list_images` treats as images and
`write_image` can write. `.webp` is present only when Pillow was built with WebP."""

SAMPLE_TYPES = (np.uint8, np.uint16)
