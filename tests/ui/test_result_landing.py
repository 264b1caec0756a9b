"""From Generate to the canvas, each piece of work done once: the mask feathered once per run (by the
engine, which tells the UI), each result made a QImage once and shared, and an inpaint's undo step
only its box."""

from __future__ import annotations

import sys
import threading

import numpy as np
from PySide6.QtCore import QRect

from studio.engine import images
from studio.ui import image_convert

TIMEOUT_MS = 30_000


def _count_result_conversions(monkeypatch) -> list[np.ndarray]:
    """Every qimage_from_rgb call in the UI's modules, by the array it converts."""
    converted: list[np.ndarray] = []
    original = image_convert.qimage_from_rgb

    def spy(rgb):
        converted.append(rgb)
        return original(rgb)

    for name, module in list(sys.modules.items()):
        if name.startswith("studio.ui") and getattr(module, "qimage_from_rgb", None) is original:
            monkeypatch.setattr(module, "qimage_from_rgb", spy)
    return converted


def test_each_result_becomes_a_qimage_once_for_the_canvas_and_the_panel(window, qtbot, monkeypatch) -> None:
    converted = _count_result_conversions(monkeypatch)
    window.parameters.batch_count, window.parameters.steps = 2, 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    result = finished.args[0]
    panel = window.result_panel
    panel.thumbnails.setCurrentRow(1)
    panel.apply_button.click()
    assert np.array_equal(window.document.flattened_rgb(), result.images[1])
    for image in result.images:
        assert sum(array is image for array in converted) == 1
    assert panel.view.image is window.document.last_result  # one picture, shared


def test_an_inpaint_feathers_its_mask_once_for_the_batch_in_the_engine_thread(
    real_window, qtbot, monkeypatch
) -> None:
    window = real_window
    in_gui_thread = []
    original = images.feather_mask

    def spy(mask, feather_px):
        in_gui_thread.append(threading.current_thread() is threading.main_thread())
        return original(mask, feather_px)

    monkeypatch.setattr(images, "feather_mask", spy)
    shown = []
    show_preview = window.canvas.set_preview
    monkeypatch.setattr(window.canvas, "set_preview", lambda *args: (shown.append(args), show_preview(*args)))
    window.parameters.inpaint_only_masked, window.parameters.steps = True, 2
    window.parameters.batch_count = 2
    window.tool_settings.mask_feather = 2
    window.document.add_mask_rect(QRect(20, 20, 16, 16))
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    assert in_gui_thread == [False]
    assert len(finished.args[0].images) == 2
    # The engine's area reached the canvas: every preview is clipped to its crop and its mask.
    previews = [args for args in shown if args[0] is not None]
    assert previews
    for _picture, region, mask in previews:
        assert region.contains(QRect(20, 20, 16, 16)) and mask.size() == window.document.size()


def test_an_inpaint_result_is_undone_from_its_box_alone_pixel_for_pixel(window, qtbot) -> None:
    document = window.document
    window.parameters.inpaint_only_masked, window.parameters.steps = False, 2
    window.tool_settings.mask_feather = 2
    document.add_mask_rect(QRect(20, 24, 12, 8))
    before = document.paint.image.copy()
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    request = finished.args[0].request
    assert request.mode.value == "inpaint"
    feathered = images.feather_mask(request.mask, request.mask_feather_px)
    rows, cols = np.flatnonzero(feathered.any(axis=1)), np.flatnonzero(feathered.any(axis=0))
    box = QRect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    command = document.undo_stack.command(document.undo_stack.index() - 1)
    assert command.text() == "Result" and command.top_left == box.topLeft()
    assert command.before.size() == command.after.size() == box.size()
    assert box.width() * box.height() < document.size().width() * document.size().height() / 4
    after = document.paint.image.copy()
    window.undo_action.trigger()
    assert document.paint.image == before
    window.redo_action.trigger()
    assert document.paint.image == after
