"""Live painting: each finished stroke (debounced) starts a short image-to-image run, cancelling any
run still going; its result shows beside the canvas and never a stale one."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPointF, Qt

from studio.engine.request import Mode
from studio.ui.tools import ToolName
from tests.ui.conftest import drag

TIMEOUT_MS = 30_000


def stroke(window, y: int) -> None:
    window.tool_settings.tool = ToolName.BRUSH.value
    window.tool_settings.brush_size = 6
    drag(window.canvas, [window.canvas.to_widget(QPointF(4, y)), window.canvas.to_widget(QPointF(60, y))])


def test_quick_strokes_start_one_short_run_whose_result_shows_beside_the_canvas(window, qtbot, fake_engine):
    window.parameters.steps, window.parameters.live_steps = 20, 3
    window.parameters.strength = 0.6
    window.parameters.live_painting = True
    assert window.info_tabs.currentWidget() is window.result_panel
    for y in (10, 20, 30):
        stroke(window, y)
    painted = window.document.flattened_rgb()
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        pass
    assert len(fake_engine.requests) == 1  # the debounce folded three strokes into one run
    request = finished.args[0].request
    assert request.mode is Mode.IMAGE_TO_IMAGE and request.steps == 3 and request.strength == 0.6
    assert np.array_equal(request.init_image, painted)
    assert window.document.last_result is not None
    assert np.array_equal(window.document.flattened_rgb(), painted)  # the sketch is not replaced
    assert window.document.undo_stack.count() == 3


def test_a_stroke_during_a_live_run_cancels_it_and_its_result_never_shows(window, qtbot, fake_engine):
    window.parameters.live_steps = 4
    window.parameters.live_painting = True
    fake_engine.step_gate = threading.Event()  # hold the first run at its first step
    results = []
    window.service.finished.connect(results.append)
    stroke(window, 10)
    with qtbot.waitSignal(window.service.run_started, timeout=TIMEOUT_MS):
        pass
    stroke(window, 40)  # the canvas changed: the running picture is stale
    final_canvas = window.document.flattened_rgb()
    fake_engine.step_gate.set()
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not window.service.busy)
    assert len(fake_engine.requests) == 2 and len(results) == 1
    assert np.array_equal(results[0].request.init_image, final_canvas)


def test_escape_cancels_a_live_run_and_leaves_no_result(window, qtbot, fake_engine):
    window.parameters.live_steps = 50
    window.parameters.live_painting = True
    stroke(window, 10)
    painted = window.document.flattened_rgb()
    with qtbot.waitSignal(window.service.step, timeout=TIMEOUT_MS):
        pass
    with qtbot.waitSignal(window.service.cancelled, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.service.busy)
    assert window.document.last_result is None
    assert window.canvas.preview is None
    assert np.array_equal(window.document.flattened_rgb(), painted)
    assert window.document.undo_stack.count() == 1


def test_live_painting_off_starts_nothing(window, qtbot, fake_engine):
    window.parameters.live_painting = False
    stroke(window, 10)
    assert not window.generation.live_timer.isActive()
    assert not window.service.busy and fake_engine.requests == []


def test_applying_a_live_result_keeps_it_and_starts_no_run_of_its_own(window, qtbot, fake_engine):
    window.parameters.live_painting = True
    stroke(window, 10)
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not window.service.busy, timeout=TIMEOUT_MS)  # job_done follows finished
    window.result_panel.apply_button.click()  # the result lands on the canvas: not a sketch edit
    stack = window.document.undo_stack
    assert stack.command(stack.index() - 1).from_a_run
    assert not window.generation.live_timer.isActive() and not window.service.busy  # no run is coming
    assert len(fake_engine.requests) == 1
    qtbot.waitUntil(lambda: window.gallery.model.total == 1, timeout=TIMEOUT_MS)  # kept in the gallery
