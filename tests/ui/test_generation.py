"""Runs through the real worker and the real engine with the tiny random-weight model."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QPointF, QTimer
from PySide6.QtGui import QColor

from studio.engine.request import Mode
from studio.ui.model_status import ModelState
from studio.ui.prompt_panel import CANCEL_TEXT, GENERATE_TEXT
from studio.ui.tools import ToolName
from tests.ui.conftest import RUN_TIMEOUT_MS, drag

pytest.importorskip("studio.engine.engine")

def paint_stroke(window, y: int = 20) -> None:
    window.tool_settings.tool = ToolName.BRUSH.value
    window.tool_settings.colour = QColor("#4f9a3a")
    window.tool_settings.brush_size = 8
    drag(window.canvas, [window.canvas.to_widget(QPointF(5, y)), window.canvas.to_widget(QPointF(58, y))])


def test_model_sets_canvas_size_and_run_lands_one_preview_per_step(real_window, qtbot) -> None:
    window = real_window
    assert (window.document.size().width(), window.document.size().height()) == (64, 64)
    seen: list[tuple[int, bool]] = []
    window.service.step.connect(lambda event: seen.append((event.step, window.canvas.preview is not None)))
    progress_texts: list[str] = []
    window.generation.progress_changed.connect(lambda _fraction, text: progress_texts.append(text))
    with qtbot.waitSignal(window.service.run_started, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    assert window.prompt_panel.action_button.text() == CANCEL_TEXT
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS) as finished:
        pass
    result = finished.args[0]
    assert result.request.mode is Mode.TEXT_TO_IMAGE
    assert seen == [(step, True) for step in range(1, 7)]
    assert progress_texts[0] == "Starting…"  # the model is loaded already: no "Loading model…"
    assert window.generation.preview_count == 6
    assert window.canvas.preview is None
    assert np.array_equal(window.document.flattened_rgb(), result.images[0])
    assert window.seed_panel.result_seeds_label.text() == str(result.seeds[0])
    assert window.progress_bar.value() == 1000
    qtbot.waitUntil(lambda: window.prompt_panel.action_button.text() == GENERATE_TEXT)
    window.undo_action.trigger()  # the result is one undoable step
    assert window.document.paint_is_blank()


def test_cancel_mid_run_leaves_the_canvas_as_it_was(real_window, qtbot) -> None:
    window = real_window
    window.parameters.steps = 40
    paint_stroke(window)
    before = window.document.flattened_rgb()
    history = window.document.undo_stack.count()
    seed = window.seed_state.seed

    def cancel_on_second_step(event) -> None:
        if event.step == 2:
            window.cancel_action.trigger()

    window.service.step.connect(cancel_on_second_step)
    with qtbot.waitSignal(window.service.cancelled, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    qtbot.waitUntil(lambda: not window.service.busy)
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert window.document.undo_stack.count() == history
    assert window.canvas.preview is None
    assert window.seed_state.seed == seed
    assert window.prompt_panel.action_button.text() == GENERATE_TEXT


def test_the_gui_thread_keeps_serving_events_during_a_run(real_window, qtbot) -> None:
    """A heartbeat timer on the GUI thread keeps beating between the run's steps: the run works in
    its own thread and the window stays responsive. How many milliseconds a beat takes is measured
    by benchmarks/gui_responsiveness.py, not asserted here."""
    window = real_window
    window.parameters.steps = 15
    beats = 0
    beats_at_step: list[int] = []

    def beat() -> None:
        nonlocal beats
        beats += 1

    heartbeat = QTimer(interval=2)
    heartbeat.timeout.connect(beat)
    window.service.step.connect(lambda _event: beats_at_step.append(beats))
    with qtbot.waitSignal(window.service.run_started, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    heartbeat.start()
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS):
        pass
    heartbeat.stop()
    assert window.generation.preview_count == 15  # every step's preview was shown
    assert len(beats_at_step) == 15 and beats_at_step[-1] > beats_at_step[0]  # beats came between steps


def test_sketch_run_uses_the_canvas_as_init_image(real_window, qtbot) -> None:
    window = real_window
    window.parameters.use_canvas_as_init = True
    window.parameters.strength = 0.5
    paint_stroke(window)
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    request = finished.args[0].request
    assert request.mode is Mode.IMAGE_TO_IMAGE and request.strength == 0.5
    assert tuple(request.init_image[20, 30]) == (0x4F, 0x9A, 0x3A)
    assert np.array_equal(window.document.flattened_rgb(), finished.args[0].images[0])


def test_inpaint_run_changes_only_the_masked_region(real_window, qtbot) -> None:
    window = real_window
    paint_stroke(window, y=10)
    paint_stroke(window, y=50)
    window.tool_settings.mask_feather = 2
    window.tool_settings.tool = ToolName.MASK_RECTANGLE.value
    drag(window.canvas, [window.canvas.to_widget(QPointF(16, 16)), window.canvas.to_widget(QPointF(48, 40))])
    before = window.document.flattened_rgb()
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    assert finished.args[0].request.mode is Mode.INPAINT
    after = window.document.flattened_rgb()
    outside = np.ones((64, 64), bool)
    band = 3 * 2  # a Gaussian feather reaches about three radii past the mask
    outside[16 - band : 40 + band + 1, 16 - band : 48 + band + 1] = False
    assert np.array_equal(after[outside], before[outside])
    assert not np.array_equal(after[20:36, 20:44], before[20:36, 20:44])
    # The engine gives every pixel outside the feathered mask back exactly, so landing only its box is
    # the whole result, and the undo step holds that box's pixels alone.
    assert np.array_equal(after, finished.args[0].images[0])
    document = window.document
    command = document.undo_stack.command(document.undo_stack.index() - 1)
    box = command.before.size()
    assert command.after.size() == box and box.width() * box.height() < 64 * 64 / 2
    painted = document.paint.image.copy()
    window.undo_action.trigger()
    assert np.array_equal(document.flattened_rgb(), before)
    window.redo_action.trigger()
    assert document.paint.image == painted


def test_bad_model_shows_a_message_keeps_the_painting_and_the_model_before(real_window, qtbot) -> None:
    window = real_window
    paint_stroke(window)
    before = window.document.flattened_rgb()
    tiny = window.parameters.model
    with qtbot.waitSignal(window.service.failed, timeout=RUN_TIMEOUT_MS) as failed:
        window.parameters.model = "/no/such/model-folder"
    assert failed.args[0]
    assert window.message_bar.isVisible() and window.message_bar.message.startswith(failed.args[0])
    assert "which loaded before" in window.message_bar.message
    assert np.array_equal(window.document.flattened_rgb(), before)
    qtbot.waitUntil(lambda: window.model_status.state is not ModelState.LOADING, timeout=RUN_TIMEOUT_MS)
    assert window.parameters.model == tiny  # the model that worked is back, and runs
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    qtbot.waitUntil(lambda: not window.service.busy)


def test_closing_mid_run_cancels_and_stops_the_thread(real_window, qtbot) -> None:
    window = real_window
    window.parameters.steps = 200
    with qtbot.waitSignal(window.service.step, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    finished: list[object] = []
    window.service.finished.connect(finished.append)
    window.close()
    QCoreApplication.processEvents()  # anything the worker sent before it stopped arrives now
    assert not window.isVisible()
    assert not window.service._thread.isRunning()  # close waited for the worker thread to end
    assert finished == []  # the run was cancelled, not finished behind the closed window
