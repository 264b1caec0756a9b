"""A kill -9 loses no finished stroke: the real app, in its own process, restores them on the next launch."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio.ui.autosave import AUTOSAVE_NAME

ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 60  # a start takes a few seconds; the shared 2-core machine can make that many more

# The child goes through studio.ui.app.run_app, as `python main.py` does, with one change: no model
# is loaded, so torch is never imported and a start takes seconds, not minutes.
CHILD = """
import functools, hashlib, json, sys
from PySide6.QtCore import QPointF, QTimer
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
import studio.ui.app as app_module
from tests.ui.conftest import drag

window_class = app_module.MainWindow
app_module.MainWindow = functools.partial(window_class, load_model_on_show=False)

def report(word, window, digest):
    facts = {"digest": digest, "blank": window.document.paint_is_blank(), "title": window.windowTitle(),
             "message": window.statusBar().currentMessage()}
    print(word, json.dumps(facts), flush=True)

def paint(window):
    window.tool_settings.tool, window.tool_settings.brush_size = "brush", 9
    strokes = {"#d83a2a": [(20, 30), (300, 200), (480, 60)], "#2a6cd8": [(60, 450), (400, 380)]}
    for colour, points in strokes.items():
        window.tool_settings.colour = QColor(colour)
        drag(window.canvas, [window.canvas.to_widget(QPointF(x, y)) for x, y in points])
    # Taken now, before the autosave timer fires: what the file must hold is what the person saw.
    painted = hashlib.sha256(window.document.flattened_rgb().tobytes()).hexdigest()
    window.autosaver.saved.connect(lambda: report("READY", window, painted))  # then wait to be killed

def restore(window):
    report("RESTORED", window, hashlib.sha256(window.document.flattened_rgb().tobytes()).hexdigest())
    app_module.close_without_asking(window)  # as SIGTERM does: the app quits by itself

def start():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, window_class))
    QTest.qWaitForWindowExposed(window, 10_000)
    {"paint": paint, "restore": restore}[sys.argv[1]](window)

app = QApplication([sys.argv[0]])
QTimer.singleShot(0, start)  # runs once run_app's event loop is going
sys.exit(app_module.run_app([]))
"""


def _start_child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    home = tmp_path / "home"  # nothing the children do touches the real user's files
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    stderr_path = tmp_path / f"{mode}.stderr"
    with stderr_path.open("w") as stderr:  # a file, not a pipe: a chatty child can never block on it
        child = subprocess.Popen([sys.executable, str(script), mode], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=stderr, text=True)
    return child, stderr_path


def _read_report(child: subprocess.Popen[str], word: str, stderr_path: Path) -> dict[str, object]:
    """The child's `word` line; fails with its stderr when it exits or stays silent past the deadline."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # a bare readline could wait forever on a child that hangs
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        if line.startswith(word + " "):
            return json.loads(line.removeprefix(word + " "))
    child.kill()
    child.wait(timeout=30)
    pytest.fail(f"no {word} from the app (exit {child.returncode}); its stderr:\n{stderr_path.read_text()}")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL, which Windows does not have")
def test_strokes_survive_a_sigkill_and_come_back_on_the_next_launch(tmp_path: Path) -> None:
    children: list[subprocess.Popen[str]] = []
    try:
        painter, painter_stderr = _start_child(tmp_path, "paint")
        children.append(painter)
        painted = _read_report(painter, "READY", painter_stderr)
        os.kill(painter.pid, signal.SIGKILL)
        assert painter.wait(timeout=30) == -signal.SIGKILL
        # The default settings path, under the temporary XDG_CONFIG_HOME, holds the autosave.
        assert (tmp_path / "home" / ".config" / "latent-studio" / AUTOSAVE_NAME).exists()

        again, again_stderr = _start_child(tmp_path, "restore")
        children.append(again)
        restored = _read_report(again, "RESTORED", again_stderr)
        assert again.wait(timeout=30) == 0, again_stderr.read_text()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
            child.stdout.close()

    assert not painted["blank"]
    assert restored["digest"] == painted["digest"]  # every pixel of the strokes, nothing more
    assert "Restored the unsaved painting" in restored["message"]
    assert restored["title"].endswith("*")  # still unsaved: closing will ask, saving keeps it
