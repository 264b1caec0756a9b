"""The Forward tab: the canvas noised over t, asked for when shown and after each change."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from studio.engine.forward_process import FORWARD_STOPS
from studio.ui.model_status import ModelState
from studio.ui.request_builder import forward_request
from studio.ui.tools import ToolName
from tests.ui.conftest import RUN_TIMEOUT_MS, drag
from tests.ui.fake_engine import FakeEngine


def _paint(window, colour: str = "#d83a2a") -> None:
    window.tool_settings.tool = ToolName.BRUSH.value
    window.tool_settings.colour = QColor(colour)
    window.tool_settings.brush_size = 10
    drag(window.canvas, [window.canvas.to_widget(QPointF(5, 30)), window.canvas.to_widget(QPointF(58, 30))])


def _wait_for_all_stops(window, qtbot, count: int = FORWARD_STOPS + 1) -> None:
    explorer = window.forward_explorer
    qtbot.waitUntil(lambda: len(explorer.frames) == count, timeout=RUN_TIMEOUT_MS)


def test_opening_the_tab_noises_the_canvas_and_the_slider_walks_to_pure_noise(real_window, qtbot):
    window, explorer = real_window, real_window.forward_explorer
    _paint(window)
    assert not explorer.frames  # nothing is computed while the tab is hidden
    window.info_tabs.setCurrentWidget(explorer)
    _wait_for_all_stops(window, qtbot)
    assert explorer.slider.isEnabled() and explorer.slider.maximum() == FORWARD_STOPS
    assert str(window.seed_state.seed) in explorer.noise_caption.text()
    assert explorer.frames[0].picture.shape == (64, 64, 3)
    explorer.slider.setValue(FORWARD_STOPS)
    assert explorer.noisy_caption.text() == "x_t at t = 999"
    assert explorer.formula.text().startswith("x_t = 0.068·x₀ + 0.998·ε")
    explorer.slider.setValue(0)
    assert explorer.noisy_caption.text() == "x_t at t = 0: x₀ itself"
    shown = explorer.noisy_view.pixmap().toImage()
    assert shown.width() > 0 and shown == explorer.clean_view.pixmap().toImage()


def test_a_stroke_or_a_new_seed_noises_the_canvas_anew(real_window, qtbot):
    window, explorer = real_window, real_window.forward_explorer
    window.info_tabs.setCurrentWidget(explorer)
    _wait_for_all_stops(window, qtbot)
    blank = explorer.frames[0].picture
    _paint(window)
    qtbot.waitUntil(lambda: 0 in explorer.frames and not np.array_equal(explorer.frames[0].picture, blank),
                    timeout=RUN_TIMEOUT_MS)
    _wait_for_all_stops(window, qtbot)
    painted_last = explorer.frames[FORWARD_STOPS].picture
    window.seed_state.seed = window.seed_state.seed + 1
    qtbot.waitUntil(lambda: str(window.seed_state.seed) in explorer.noise_caption.text())
    _wait_for_all_stops(window, qtbot)
    assert not np.array_equal(explorer.frames[FORWARD_STOPS].picture, painted_last)  # other noise
    assert np.abs(explorer.frames[0].picture.astype(int) - painted_last.astype(int)).mean() > 0


def test_an_exploration_waits_for_a_run_and_neither_cancels_the_other(real_window, qtbot):
    window, explorer = real_window, real_window.forward_explorer
    window.parameters.steps = 12
    heard: list[str] = []
    window.service.cancelled.connect(lambda: heard.append("cancelled"))
    window.service.finished.connect(lambda _result: heard.append("finished"))
    window.service.forward_frame.connect(lambda _frame: heard.append("frame"))
    with qtbot.waitSignal(window.service.run_started, timeout=RUN_TIMEOUT_MS):
        window.generate_action.trigger()
    window.info_tabs.setCurrentWidget(explorer)  # asks while the run goes
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS):
        pass
    _wait_for_all_stops(window, qtbot)
    assert heard == ["finished"] + ["frame"] * (FORWARD_STOPS + 1)  # one engine: it waited its turn
    assert not window.message_bar.message


def test_a_failed_exploration_says_why_and_tries_again_later(make_window, qtbot):
    engine = FakeEngine(fail_with="The VAE could not encode this picture")
    window = make_window(lambda: engine)
    window.document.reset(64, 64)
    explorer = window.forward_explorer
    with qtbot.waitSignal(window.service.exploration_failed, timeout=RUN_TIMEOUT_MS):
        window.info_tabs.setCurrentWidget(explorer)
    assert "could not encode" in window.message_bar.message
    assert "Could not" in explorer.status.text()
    engine.fail_with = None
    explorer.refresh()
    qtbot.waitUntil(lambda: len(explorer.frames) == 3, timeout=RUN_TIMEOUT_MS)
    assert not window.service.busy  # an exploration is not a run: Generate stays free


def test_a_model_that_fails_to_load_in_an_exploration_never_leaves_the_model_loading(window, qtbot):
    # An exploration loads its request's model if the engine has another: a failure there is a model
    # failure too (the status must not stay "loading"), and the chosen model comes back.
    with qtbot.waitSignal(window.service.model_ready, timeout=RUN_TIMEOUT_MS):
        window.model_loader.load_chosen_model()
    chosen = window.parameters.model
    request = forward_request(window.document, window.parameters, seed=3).replace(model="missing-model")
    with qtbot.waitSignal(window.service.exploration_failed, timeout=RUN_TIMEOUT_MS) as failed:
        window.service.explore_forward(request)
    assert "No model at missing-model" in failed.args[0]
    qtbot.waitUntil(lambda: window.model_status.state is ModelState.READY, timeout=RUN_TIMEOUT_MS)
    assert window.model_status.info.source == chosen and window.parameters.model == chosen
    assert "Could not" in window.forward_explorer.status.text()
