"""numpy <-> QImage conversions. These copy: a QImage must never outlive the buffer it points at.

The one exception is alpha_view, a read-only look at an image's alpha bytes for a test or a single
read that is copied anyway (a frozen request), made without copying the canvas first.
"""

from __future__ import annotations

import sys

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


# Where the alpha byte of a 32-bit ARGB pixel sits in memory: Qt stores the pixel as one native-endian word.
_ALPHA_BYTE = 3 if sys.byteorder == "little" else 0
_ARGB_FORMATS = (QImage.Format.Format_ARGB32, QImage.Format.Format_ARGB32_Premultiplied)


def alpha_view(image: QImage) -> np.ndarray:
    """The alpha channel of an Alpha8 or ARGB32 image as a read-only H x W view of its own bytes: no copy.

    Valid only while `image` lives and is not changed; copy it to keep it. Other formats are converted
    (and so copied), as alpha_from_qimage does.
    """
    if image.format() != QImage.Format.Format_Alpha8 and image.format() not in _ARGB_FORMATS:
        return alpha_from_qimage(image)
    width, height = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())
    if image.format() == QImage.Format.Format_Alpha8:
        return rows[:, :width]
    return rows[:, : 4 * width].reshape(height, width, 4)[..., _ALPHA_BYTE]
