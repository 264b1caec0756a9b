"""Pictures read into the app: from a file (open, drop, the gallery) or from the clipboard (paste).

One reader for every way in, so a picture behaves the same whichever way it comes: photos come
upright (their EXIF orientation is applied), an animation gives its first frame, transparency stays
(the canvas shows it over white, as a painting layer does), and Qt's 256 MB allocation limit refuses
decompression bombs before any pixel is decoded. Each function gives (the picture, "") or (None,
what is wrong, in words for the person).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMessageLogContext,
    QMimeData,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QImage, QImageReader

# What other programs put on the clipboard for a copied picture, as encoded files, best first.
_ENCODED_PICTURE_TYPES = ("image/png", "image/webp", "image/jpeg", "image/bmp", "image/gif", "image/tiff")


def read_picture(path: Path) -> tuple[QImage | None, str]:
    image, problem = _read(QImageReader(str(path)))
    if image is None and not path.exists():
        return None, "the file is not there"
    return image, problem


def read_picture_data(data: QByteArray) -> tuple[QImage | None, str]:
    """An encoded picture held in memory (a PNG or JPEG on the clipboard)."""
    buffer = QBuffer()
    buffer.setData(data)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return _read(QImageReader(buffer))


def picture_from_clipboard(mime: QMimeData) -> tuple[QImage | None, str, str]:
    """(the picture or None, what is wrong, what it is): a copied picture file (named), a copied
    picture as encoded bytes (read like a file, limits included), or a picture already decoded."""
    files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    if files:
        path = Path(files[0])
        return *read_picture(path), path.name
    for mime_type in _ENCODED_PICTURE_TYPES:
        if mime.hasFormat(mime_type):
            return *read_picture_data(mime.data(mime_type)), "the copied picture"
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return image, "", "the copied picture"
    held = "text" if mime.hasText() else "no picture"
    return None, f"the clipboard holds {held}: copy a picture or a picture file first", "the clipboard"


def _read(reader: QImageReader) -> tuple[QImage | None, str]:
    reader.setAutoTransform(True)
    size = reader.size()  # from the header, before any pixel is decoded
    with _truncation_heard() as truncated:
        image = reader.read()
    if truncated:
        return None, "damaged: the file ends before the picture does (it was cut off while copying?)"
    if not image.isNull():
        return image, ""
    if size.isValid() and size.width() * size.height() * 4 > QImageReader.allocationLimit() * 1024 * 1024:
        return None, (f"at {size.width()}x{size.height()} it is too large to paint on "
                      f"(over {QImageReader.allocationLimit()} MB); scale it down first")
    return None, f"not a picture this app can read ({reader.errorString()})"


@contextmanager
def _truncation_heard() -> Iterator[list[str]]:
    """Qt's JPEG reader gives a cut-off file's top part, grey below, and says so only in a log
    message; listening for that message during the read is the one way to refuse it. Only
    "premature end" counts: other "Corrupt JPEG data" warnings come with photos that decode whole."""
    heard: list[str] = []

    def listen(_kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        if (context.category or "").startswith("qt.gui.imageio") and "premature end" in message:
            heard.append(message)

    previous = qInstallMessageHandler(listen)
    try:
        yield heard
    finally:
        qInstallMessageHandler(previous)
