"""What the benchmark scripts share.

Each script imports this module first (`python benchmarks/X.py` puts benchmarks/ on sys.path, so
`import _common` finds it): it puts the repository root on sys.path, so the scripts run from a
checkout that is not installed, without each one repeating the lines. Nothing here imports Qt or
torch at import time: the start-up benchmarks measure exactly those imports.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_MODEL = ROOT / "resources" / "models" / "landscapes"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def use_offscreen_qt() -> None:
    """Draw windows offscreen unless the caller chose a platform (say, xcb under Xvfb)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def send_mouse(widget: Any, kind: Any, position: Any, buttons: Any) -> None:
    """One real QMouseEvent of `kind` at `position` (widget coordinates) with `buttons` held, as a
    person's pointer sends it (the same events the UI tests send)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    global_position = QPointF(widget.mapToGlobal(position.toPoint()))
    event = QMouseEvent(kind, position, global_position, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
