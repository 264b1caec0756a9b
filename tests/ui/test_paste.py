"""Edit > Paste (Ctrl+V): a copied picture or picture file lands on the canvas as one undo step, read
like an opened file; anything else on the clipboard is refused in words and nothing changes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from tests.picture_corpus import REFUSED, write_kind


def _clipboard(mime: QMimeData) -> None:
    QApplication.clipboard().setMimeData(mime)


def _picture(width: int, height: int, colour: str = "#2050d0") -> QImage:
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor(colour))
    return image


def _press_ctrl_v(window, qtbot) -> None:
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)


def test_a_copied_picture_lands_centred_as_one_undo_step(window, qtbot) -> None:
    before, history = window.document.flattened_rgb(), window.document.undo_stack.count()
    mime = QMimeData()
    mime.setImageData(_picture(20, 10))
    _clipboard(mime)
    _press_ctrl_v(window, qtbot)
    picture = window.document.flattened_rgb()
    assert window.document.undo_stack.count() == history + 1
    assert tuple(picture[32, 32]) == (0x20, 0x50, 0xD0) and tuple(picture[0, 0]) == (255, 255, 255)
    assert tuple(picture[27, 22]) == (0x20, 0x50, 0xD0) and tuple(picture[26, 22]) == (255, 255, 255)
    assert "Pasted the copied picture (20x10)" in window.statusBar().currentMessage()
    window.undo_action.trigger()
    assert np.array_equal(window.document.flattened_rgb(), before)


def test_a_larger_picture_is_scaled_to_fit_and_its_transparent_parts_keep_the_painting(window, qtbot) -> None:
    window.document.paste_picture(_picture(64, 64, "#d02020"))  # the painting underneath: red
    picture = _picture(256, 128)  # twice as wide as tall: scaled to 64x32
    for x in range(128, 256):  # the right half transparent
        for y in range(128):
            picture.setPixelColor(x, y, QColor(0, 0, 0, 0))
    png = QByteArray()
    buffer = QBuffer(png)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    picture.save(buffer, "PNG")
    mime = QMimeData()
    mime.setData("image/png", png)  # as a browser or an image editor copies it
    assert window.files.paste(mime)
    canvas = window.document.flattened_rgb()
    assert tuple(canvas[32, 10]) == (0x20, 0x50, 0xD0)  # the opaque left half, scaled
    assert tuple(canvas[32, 54]) == (0xD0, 0x20, 0x20) and tuple(canvas[5, 10]) == (0xD0, 0x20, 0x20)
    assert "scaled to 64x32" in window.statusBar().currentMessage()
    assert (window.document.size().width(), window.document.size().height()) == (64, 64)  # size kept


def test_a_copied_picture_file_is_read_like_an_opened_one(window, tmp_path) -> None:
    path = tmp_path / "copied.png"
    _picture(16, 16, "#10a040").save(str(path))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])  # a file manager's copy
    assert window.files.paste(mime)
    assert tuple(window.document.flattened_rgb()[32, 32]) == (0x10, 0xA0, 0x40)


def _refused_clipboards(tmp_path):
    cases = {"text": lambda: _text_mime("a shopping list"), "empty": QMimeData,
             "garbage as image/png": lambda: _data_mime("image/png", b"\x89PNG\r\n\x1a\n broken")}
    for kind, (name, make, _word) in REFUSED.items():
        cases[f"copied file: {kind}"] = (
            lambda name=name, make=make: _urls_mime(write_kind(tmp_path, name, make))
        )
        cases[f"as image/png: {kind}"] = lambda make=make: _data_mime("image/png", make())
    cases["copied file that is gone"] = lambda: _urls_mime(tmp_path / "gone.png")
    return cases


def _text_mime(text: str) -> QMimeData:
    mime = QMimeData()
    mime.setText(text)
    return mime


def _data_mime(mime_type: str, data: bytes) -> QMimeData:
    mime = QMimeData()
    mime.setData(mime_type, QByteArray(data))
    return mime


def _urls_mime(path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


@pytest.mark.parametrize("kind", list(_refused_clipboards(None)))
def test_anything_but_a_picture_is_refused_in_words_and_nothing_changes(window, tmp_path, kind) -> None:
    mime = _refused_clipboards(tmp_path)[kind]()
    window.parameters.prompt = "kept"
    before, history = window.document.flattened_rgb(), window.document.undo_stack.count()
    assert not window.files.paste(mime)
    message = window.message_bar.message
    assert message.startswith("Could not paste") and "The canvas is as it was" in message, message
    assert any(word in message for word in ("not a picture", "too large", "damaged", "holds text",
                                            "holds no picture", "not there")), message
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert window.document.undo_stack.count() == history and window.parameters.prompt == "kept"


def test_ctrl_v_in_the_prompt_pastes_text_there_not_on_the_canvas(window, qtbot) -> None:
    mime = QMimeData()
    mime.setText("a lighthouse")
    mime.setImageData(_picture(8, 8))
    _clipboard(mime)
    history = window.document.undo_stack.count()
    editor = window.prompt_panel.prompt_edit
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert "a lighthouse" in editor.toPlainText()
    assert window.document.undo_stack.count() == history
