"""Figures a person looks at: panels side by side, and rows of them, on a white background."""

from __future__ import annotations

import numpy as np

__all__ = ["compose_figure"]


def compose_figure(rows: list[list[np.ndarray]], *, gap: int = 4) -> np.ndarray:
    """Panels `[h, w, C]` in [0, 1] arranged in rows on a white background, `gap` pixels apart.

    Args:
        rows: rows of panels (any sizes; a row of one list is a side-by-side strip).
        gap: white pixels between panels and between rows.

    Returns:
        `[H, W, C]`, each row as high as the tallest panel, the panels top-left aligned.
    """
    height = max(p.shape[0] for row in rows for p in row)
    lines = []
    for row in rows:
        line = []
        for panel in row:
            panel = np.pad(panel, ((0, height - panel.shape[0]), (0, gap), (0, 0)), constant_values=1.0)
            line.append(panel)
        lines.append(np.concatenate(line, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=1.0) for line in lines]
    return np.concatenate(lines, axis=0)[:-gap, :-gap]
