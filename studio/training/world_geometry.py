"""The Landscapes canvas's geometry: its size, its pixel centres, and ellipses on it (the pixel box
around one, each pixel's distance from its centre, filling one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 128
ROWS = np.arange(SIZE, dtype=np.float32) + 0.5  # pixel centres
COLUMNS = np.arange(SIZE, dtype=np.float32) + 0.5


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float


def pixel_box(cx: float, cy: float, rx: float, ry: float, y_end: int = SIZE) -> tuple[slice, slice] | None:
    """Pixel box around an ellipse, clipped to the image and to rows < y_end."""
    y0, y1 = max(0, int(cy - ry)), min(y_end, int(np.ceil(cy + ry)) + 1)
    x0, x1 = max(0, int(cx - rx)), min(SIZE, int(np.ceil(cx + rx)) + 1)
    return (slice(y0, y1), slice(x0, x1)) if y0 < y1 and x0 < x1 else None


def ellipse_distance(box: tuple[slice, slice], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Normalised distance from the ellipse centre for every pixel of the box (1.0 on the rim)."""
    dy = (ROWS[box[0]] - cy)[:, None] / ry
    dx = (COLUMNS[box[1]] - cx)[None, :] / rx
    return np.sqrt(dy * dy + dx * dx)


def fill_ellipse(image: np.ndarray, ellipse: Ellipse, colour: np.ndarray, y_end: int = SIZE) -> None:
    box = pixel_box(ellipse.cx, ellipse.cy, ellipse.rx, ellipse.ry, y_end)
    if box is not None:
        image[box][ellipse_distance(box, ellipse.cx, ellipse.cy, ellipse.rx, ellipse.ry) <= 1.0] = colour
