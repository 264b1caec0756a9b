"""UI fixtures: settings in a temporary file, windows on a fake or the real engine, no leaked threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from studio.ui.settings import open_settings
from studio.ui.worker import running_threads
from tests.ui import fake_engine as fake_engine_module
from tests.ui.fake_engine import FakeEngine


@pytest.fixture(autouse=True)
def no_engine_thread_left_running() -> Iterator[None]:
    yield
    leaked = running_threads()
    for thread in leaked:  # stop them so one leak does not cascade into the next tests
        thread.quit()
        thread.wait(30_000)
    assert not leaked, f"{len(leaked)} engine thread(s) still running after the test"


@pytest.fixture(autouse=True)
def no_fake_engine_gate_timed_out() -> Iterator[None]:
    fake_engine_module.gate_timeouts.clear()
    yield
    timeouts = list(fake_engine_module.gate_timeouts)
    fake_engine_module.gate_timeouts.clear()
    assert not timeouts, timeouts[0]


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return open_settings(tmp_path / "latent-studio.ini")


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def make_window(qtbot, settings: QSettings, tmp_path: Path) -> Iterator[Callable[..., object]]:
    from studio.ui.main_window import MainWindow

    windows: list[MainWindow] = []

    def make(engine_factory: Callable[[], object] | None = None, **options: object) -> MainWindow:
        if engine_factory is not None:
            options["engine_factory"] = engine_factory
        options.setdefault("settings", settings)
        options.setdefault("gallery_folder", tmp_path / "gallery")  # never the user's own gallery
        options.setdefault("load_model_on_show", False)
        window = MainWindow(**options)
        # A modal "save changes?" would hang an offscreen test: unsaved paintings are discarded
        # unless a test answers differently.
        window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


RUN_TIMEOUT_MS = 180_000  # a shared 2-core machine can be slow; signals end the waits much sooner


@pytest.fixture
def real_window(make_window, tiny_model_dir, qtbot):
    """A window on the real engine with the tiny random-weight model, set for short runs."""
    window = make_window()
    with qtbot.waitSignal(window.service.model_ready, timeout=RUN_TIMEOUT_MS):
        window.parameters.model = str(tiny_model_dir)
    window.parameters.steps = 6
    window.parameters.preview_kind = "x_t"
    window.seed_state.after_run = "keep"
    return window


@pytest.fixture
def window(make_window, fake_engine: FakeEngine):
    window = make_window(lambda: fake_engine)
    window.document.reset(64, 64)
    return window


def send_mouse(widget: QWidget, kind: QEvent.Type, position: QPointF, buttons: Qt.MouseButton) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    global_position = QPointF(widget.mapToGlobal(position.toPoint()))
    event = QMouseEvent(kind, position, global_position, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget: QWidget, points: list[QPoint | QPointF]) -> None:
    """A left-button stroke through `points` (widget coordinates), sent as real mouse events."""
    points = [QPointF(point) for point in points]
    held = Qt.MouseButton.LeftButton
    send_mouse(widget, QEvent.Type.MouseButtonPress, points[0], held)
    for point in points[1:]:
        send_mouse(widget, QEvent.Type.MouseMove, point, held)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)
