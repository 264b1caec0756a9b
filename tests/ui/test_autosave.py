"""Nothing is lost to a crash: the document file, the autosave after each change, the restore."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QMessageBox

from studio.ui.autosave import AUTOSAVE_NAME
from studio.ui.document_file import DocumentFileError, DocumentSnapshot, read_document, write_document
from studio.ui.image_convert import alpha_from_qimage, rgb_from_qimage
from studio.ui.settings import open_settings
from studio.ui.tools import ToolName
from tests.ui.conftest import drag


def _layers(width: int = 40, height: int = 30) -> DocumentSnapshot:
    paint = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    paint.fill(QColor(0, 0, 0, 0))
    for x in range(0, width, 3):
        paint.setPixelColor(x, x % height, QColor(200, 40 + x, 90))
    mask = QImage(width, height, QImage.Format.Format_Alpha8)
    mask.fill(0)
    for y in range(5, 15):
        mask.setPixelColor(7, y, QColor(0, 0, 0, 255))
    return DocumentSnapshot(paint, mask, {"prompt": "a lake at night", "negative_prompt": "clouds"})


def _pixels(snapshot: DocumentSnapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    paint = snapshot.paint.convertToFormat(QImage.Format.Format_ARGB32)
    return rgb_from_qimage(paint), alpha_from_qimage(paint), alpha_from_qimage(snapshot.mask)


def test_a_document_file_reads_back_identical(tmp_path):
    written = _layers()
    write_document(tmp_path / "painting.lsdoc", written)
    read = read_document(tmp_path / "painting.lsdoc")
    for before, after in zip(_pixels(written), _pixels(read), strict=True):
        assert np.array_equal(before, after)
    assert read.text == {"prompt": "a lake at night", "negative_prompt": "clouds"}
    assert [path.name for path in tmp_path.iterdir()] == ["painting.lsdoc"]  # no temporary left


def test_a_failed_write_leaves_the_last_good_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "painting.lsdoc"
    write_document(path, _layers())
    good = path.read_bytes()

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(DocumentFileError, match="No space left on device"):
        write_document(path, _layers(50, 50))
    assert path.read_bytes() == good
    assert [item.name for item in tmp_path.iterdir()] == ["painting.lsdoc"]


@pytest.mark.parametrize("damage", ["not a zip", "wrong format", "giant", "layer missing", "bad png"])
def test_a_damaged_document_file_gets_a_message(tmp_path, damage):
    path = tmp_path / "painting.lsdoc"
    if damage == "not a zip":
        path.write_bytes(b"\x89PNG not really")
    else:
        page = {"format": "latent-studio-document", "version": 1, "width": 40, "height": 30}
        if damage == "wrong format":
            page["format"] = "something else"
        if damage == "giant":
            page["width"] = 10**9
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("document.json", json.dumps(page))
            if damage != "layer missing":
                archive.writestr("paint.png", b"junk" if damage == "bad png" else b"")
                archive.writestr("mask.png", b"junk")
    with pytest.raises(DocumentFileError):
        read_document(path)


def _paint_stroke(window) -> None:
    window.tool_settings.tool = ToolName.BRUSH.value
    window.tool_settings.colour = QColor("#d83a2a")
    window.tool_settings.brush_size = 6
    drag(window.canvas, [window.canvas.to_widget(QPointF(4, 10)), window.canvas.to_widget(QPointF(50, 40))])


def test_unsaved_work_survives_a_close_that_asks_nobody_and_is_restored(make_window, settings, qtbot):
    window = make_window()
    window.document.reset(64, 64)
    window.parameters.prompt = "a red line over the sea"
    with qtbot.waitSignal(window.autosaver.saved, timeout=10_000):
        _paint_stroke(window)
    window.document.add_mask_rect(QRect(30, 30, 10, 10))
    painted, mask = window.document.flattened_rgb(), window.document.mask_array()
    autosave = Path(settings.fileName()).parent / AUTOSAVE_NAME
    window.ask_before_discarding = False  # as Ctrl+C and SIGTERM close it
    window.close()
    assert autosave.exists()

    again = make_window(settings=open_settings(settings.fileName()))
    assert np.array_equal(again.document.flattened_rgb(), painted)
    assert np.array_equal(again.document.mask_array(), mask)  # the mask stroke came after the save
    assert again.parameters.prompt == "a red line over the sea"
    assert "Restored the unsaved painting" in again.statusBar().currentMessage()
    assert again.windowTitle().endswith("*")  # still unsaved: closing asks
    again.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    again.close()
    assert not autosave.exists()  # the person chose Discard
    fresh = make_window(settings=open_settings(settings.fileName()))
    assert fresh.document.paint_is_blank()


def test_saving_or_a_new_document_removes_the_autosave(make_window, settings, qtbot, tmp_path):
    window = make_window()
    window.document.reset(64, 64)
    autosave = Path(settings.fileName()).parent / AUTOSAVE_NAME
    with qtbot.waitSignal(window.autosaver.saved, timeout=10_000):
        _paint_stroke(window)
    assert window.save_image(tmp_path / "kept.png")
    window.autosaver.flush()
    assert not autosave.exists()  # the work is in the saved file now
    with qtbot.waitSignal(window.autosaver.saved, timeout=10_000):
        _paint_stroke(window)
    assert window.new_document()  # the fixture answers Discard
    window.autosaver.flush()
    assert window.document.paint_is_blank() and not autosave.exists()


def test_a_failing_autosave_is_reported_once(make_window, qtbot, tmp_path):
    window = make_window()
    window.document.reset(64, 64)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window.autosaver.path = blocker / AUTOSAVE_NAME  # its folder cannot be made
    messages = []
    window.autosaver.failed.connect(messages.append)
    for _ in range(3):
        _paint_stroke(window)
        window.autosaver.save_now()
        window.autosaver.flush()
    qtbot.waitUntil(lambda: len(messages) >= 1)
    qtbot.wait(50)
    assert len(messages) == 1 and "Autosave failed" in messages[0]
    assert "Autosave failed" in window.message_bar.message
    assert not window.document.paint_is_blank()  # the strokes are all still there
