"""The window title: the run's step while one goes (so it shows on the taskbar while the window is
hidden), otherwise the model's name and a mark when the painting differs from its file.

Made from the run's typed events, not from the text a progress widget shows."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from studio.engine.request import GenerationRequest, PausedEvent, StepEvent
from studio.ui.model_status import ModelStatus
from studio.ui.worker import EngineService

APPLICATION_TITLE = "Latent Studio"


class WindowTitle(QObject):
    """`text` is the title; `changed` carries it whenever it changes."""

    changed = Signal(str)

    def __init__(self, service: EngineService, model_status: ModelStatus, parent: QObject | None = None):
        super().__init__(parent)
        self.model_status = model_status
        self._run = ""  # what the run going is doing; "" when none goes
        self._unsaved = False
        self._text = self._compose()
        service.run_started.connect(self._on_run_started)
        service.step.connect(self._on_step)
        service.paused.connect(self._on_paused)
        service.busy_changed.connect(self._on_busy_changed)
        model_status.changed.connect(self._update)

    @property
    def text(self) -> str:
        return self._text

    def set_unsaved(self, unsaved: bool) -> None:
        self._unsaved = unsaved
        self._update()

    def _on_run_started(self, request: GenerationRequest) -> None:
        self._set_run("Live run…" if request.live else "Starting…")

    def _on_step(self, event: StepEvent) -> None:
        self._set_run(f"{'Refining' if event.refining else 'Step'} {event.step}/{event.total_steps}")

    def _on_paused(self, event: PausedEvent) -> None:
        self._set_run(f"Paused at step {event.step} of {event.total_steps}")

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self._set_run("")

    def _set_run(self, run: str) -> None:
        self._run = run
        self._update()

    def _compose(self) -> str:
        if self._run:
            return f"{self._run} — {APPLICATION_TITLE}"
        unsaved = " *" if self._unsaved else ""
        return f"{APPLICATION_TITLE} — {self.model_status.title}{unsaved}"

    def _update(self) -> None:
        text = self._compose()
        if text != self._text:
            self._text = text
            self.changed.emit(text)
