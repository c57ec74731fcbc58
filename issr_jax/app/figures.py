"""Figures a person looks at: labelled panels side by side, rows of them, on a white background."""

from __future__ import annotations

import functools

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

__all__ = ["LABEL_HEIGHT", "compose_figure", "kernel_panel", "labelled"]

LABEL_HEIGHT = 24  # pixels of the white band a label is written in, above its panel


def compose_figure(rows: list[list[np.ndarray]], *, gap: int = 4) -> np.ndarray:
    """Panels `[h, w, C]` in [0, 1] arranged in rows on a white background, `gap` pixels apart.

    Args:
        rows: rows of panels (any sizes; a row of one list is a side-by-side strip).
        gap: white pixels between panels and between rows.

    Returns:
        `[H, W, C]`, each row as high as its tallest panel, the panels top-left aligned.
    """
    lines = []
    for row in rows:
        line = []
        height = max(p.shape[0] for p in row)
        for panel in row:
            panel = np.pad(panel, ((0, height - panel.shape[0]), (0, gap), (0, 0)), constant_values=1.0)
            line.append(panel)
        lines.append(np.concatenate(line, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=1.0) for line in lines]
    return np.concatenate(lines, axis=0)[:-gap, :-gap]


@functools.cache
def _font() -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    """Pillow's own scalable font (no font file to find), or its bitmap one without FreeType."""
    try:
        return PIL.ImageFont.load_default(size=16)
    except (TypeError, ImportError, OSError):
        return PIL.ImageFont.load_default()


def labelled(panel: np.ndarray, text: str) -> np.ndarray:
    """`panel` `[h, w, 3]` in [0, 1] under a white band of `LABEL_HEIGHT` pixels with `text`
    written in black (cut at the panel's width).

    Returns:
        `[LABEL_HEIGHT + h, w, 3] float32`.
    """
    panel = np.asarray(panel, np.float32)
    band = PIL.Image.new("RGB", (panel.shape[1], LABEL_HEIGHT), "white")
    PIL.ImageDraw.Draw(band).text((4, 3), text, fill="black", font=_font())
    return np.concatenate([np.asarray(band, np.float32) / 255.0, panel], axis=0)


def kernel_panel(kernel: np.ndarray | None, size: int, *, signed: bool, extent: int | None = None) -> np.ndarray:
    """A kernel as a `[size, size, 3]` grey panel, enlarged by pixel repetition.

    `extent` (default: the kernel's side) is the side that fills the panel, so kernels of
    different sizes drawn with the same `extent` share one pixel scale.

    Non-negative kernels map 0 -> black, max -> white; signed ones (a DRK) map 0 -> mid
    grey and +-max|value| -> white/black. No kernel: a white panel.
    """
    panel = np.ones((size, size, 3), np.float32)
    if kernel is None:
        return panel
    kernel = np.asarray(kernel, np.float32)
    peak = float(np.max(np.abs(kernel))) or 1.0
    shown = 0.5 + 0.5 * kernel / peak if signed else np.clip(kernel / peak, 0.0, 1.0)
    factor = max(1, size // max(extent or 0, kernel.shape[0]))
    big = np.repeat(np.repeat(shown, factor, axis=0), factor, axis=1)[:size, :size]
    top, left = (size - big.shape[0]) // 2, (size - big.shape[1]) // 2
    panel[top : top + big.shape[0], left : left + big.shape[1]] = big[..., None]
    return panel
