"""numpy <-> QImage conversions. Always copies: a QImage must never outlive the buffer it points at."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """H x W x 3 uint8 RGB -> an owning QImage (RGB888)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def rgb_from_qimage(image: QImage) -> np.ndarray:
    """Any QImage -> H x W x 3 uint8 RGB (alpha dropped; composite first if it matters)."""
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = converted.width(), converted.height()
    rows = np.frombuffer(converted.constBits(), np.uint8).reshape(height, converted.bytesPerLine())
    return rows[:, : 3 * width].reshape(height, width, 3).copy()


def alpha_from_qimage(image: QImage) -> np.ndarray:
    """The alpha channel of any QImage as H x W uint8 (for Alpha8 that is the image itself)."""
    converted = image.convertToFormat(QImage.Format.Format_Alpha8)
    width, height = converted.width(), converted.height()
    rows = np.frombuffer(converted.constBits(), np.uint8).reshape(height, converted.bytesPerLine())
    return rows[:, :width].copy()


def alpha8_from_array(mask: np.ndarray) -> QImage:
    """H x W uint8 -> an owning Alpha8 QImage."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    height, width = mask.shape
    return QImage(mask.data, width, height, width, QImage.Format.Format_Alpha8).copy()
