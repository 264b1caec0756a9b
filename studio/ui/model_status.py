"""Which model the window has: none, one loading, or one ready; told to the title and the status bar.

A state, not a display string: code asks `status.state is ModelState.LOADING`, and the words the
person reads are made from it in one place.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, Signal

from studio.engine.request import ModelInfo
from studio.ui.parameters import describe_model


class ModelState(Enum):
    NONE = "none"  # nothing loaded yet, or the last load failed
    LOADING = "loading"
    READY = "ready"


class ModelStatus(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = ModelState.NONE
        self.info: ModelInfo | None = None
        self._loading_source = ""
        self._failed = False
        self.last_ready_source: str | None = None  # the source of the last model that loaded

    def loading(self, source: str) -> None:
        self.state, self._loading_source, self._failed = ModelState.LOADING, source, False
        self.changed.emit()

    def ready(self, info: ModelInfo) -> None:
        self.state, self.info, self.last_ready_source = ModelState.READY, info, info.source
        self.changed.emit()

    def load_failed(self) -> None:
        """An engine failure while loading; a failed run leaves a ready model as it is."""
        if self.state is ModelState.LOADING:
            self.state, self.info, self._failed = ModelState.NONE, None, True
            self.changed.emit()

    @property
    def title(self) -> str:
        """The model's part of the window title."""
        if self.state is ModelState.READY and self.info is not None:
            return self.info.name
        return "loading model…" if self.state is ModelState.LOADING else "no model"

    @property
    def label(self) -> str:
        """The status bar's model field."""
        if self.state is ModelState.LOADING:
            return f"Model: loading {describe_model(self._loading_source)}…"
        if self.state is ModelState.READY and self.info is not None:
            info = self.info
            precision = info.precision
            if info.decode_precision != info.precision:
                precision += f", decode {info.decode_precision}"
            return f"Model: {info.name} ({info.device} {precision}, native {info.width}×{info.height})"
        return "Model: not loaded" + (" (see the message above the canvas)" if self._failed else "")

    @property
    def tooltip(self) -> str:
        info = self.info
        return f"{info.source or info.name}\nPrecision: {info.precision_reason}" if info is not None else ""
