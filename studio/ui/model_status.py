"""Which model the window has, and which it loads.

ModelStatus: none, one loading, or one ready; told to the title and the status bar. A state, not a
display string: code asks `status.state is ModelState.LOADING`, and the words the person reads are
made from it in one place.

ModelLoader: loads the model the parameters name (at start, and when the person picks another model,
precision or config folder), gives a first launch the model's own defaults, and after a model that
fails to load goes back to the last one that loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from studio.engine.request import ModelInfo
from studio.ui.parameters import GenerationParameters, describe_model
from studio.ui.worker import EngineService


class ModelState(Enum):
    NONE = "none"  # nothing loaded yet, or the last load failed
    LOADING = "loading"
    READY = "ready"


class ModelStatus(QObject):
    """The model's state and the words for it; `changed` fires on every change of either."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = ModelState.NONE
        self.info: ModelInfo | None = None
        self.loading_source = ""  # the model being loaded, or the last one that was
        self._failed = False
        self.last_ready_source: str | None = None  # the source of the last model that loaded

    def loading(self, source: str) -> None:
        self.state, self.loading_source, self._failed = ModelState.LOADING, source, False
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
            return f"Model: loading {describe_model(self.loading_source)}…"
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


class ModelLoader(QObject):
    """Asks the service for the model the parameters name, and keeps `status` up to date."""

    def __init__(
        self,
        service: EngineService,
        parameters: GenerationParameters,
        status: ModelStatus,
        apply_model_defaults: bool,
        show_error: Callable[[str], None],
        show_message: Callable[[str, int], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service, self.parameters, self.status = service, parameters, status
        self.show_error, self.show_message = show_error, show_message
        # A first launch (nothing saved yet) takes the model's own steps, guidance and sampler.
        self._apply_model_defaults = apply_model_defaults
        self._going_back = False  # to the last model that loaded, after one that failed
        service.set_single_file_config(parameters.checkpoint_config)
        parameters.checkpoint_config_changed.connect(self._on_checkpoint_config_chosen)
        parameters.model_changed.connect(self._on_model_chosen)
        parameters.precision_changed.connect(lambda _precision: self.load_chosen_model())
        service.model_loading.connect(status.loading)
        service.model_ready.connect(status.ready)
        service.model_ready.connect(self._on_model_ready)
        service.model_failed.connect(self._on_model_failed)

    def load_chosen_model(self) -> None:
        self.service.request_model_load(self.parameters.model, self.parameters.precision)

    def _on_model_chosen(self, _source: str) -> None:
        self._apply_model_defaults = not self._going_back
        self.load_chosen_model()

    def _on_checkpoint_config_chosen(self, folder: str) -> None:
        self.service.set_single_file_config(folder)
        if Path(self.parameters.model).is_file():  # the checkpoint in use: load it again with this config
            self.load_chosen_model()

    def _on_model_ready(self, info: ModelInfo) -> None:
        self.show_message(f"Precision: {info.precision_reason}", 8000)
        if not self._apply_model_defaults:
            return
        self._apply_model_defaults = False
        parameters = self.parameters
        parameters.steps, parameters.guidance_scale = info.steps, info.guidance_scale
        parameters.scheduler = info.scheduler
        if info.few_step:
            parameters.live_steps = info.steps
            self.show_message(
                f"{info.name} is a few-step model: LCM sampler, {info.steps} steps, guidance "
                f"{info.guidance_scale:g} (live painting too)",
                10000,
            )

    def _on_model_failed(self, message: str) -> None:
        """A model that fails to load gives way to the one that worked before it, loaded again with
        the settings as they are, so the next Generate works. A load that was not of the chosen model
        (an exploration's or a superseded run's) brings the chosen one back."""
        loading = self.status.state is ModelState.LOADING
        self.status.load_failed()
        if loading and self.status.loading_source != self.parameters.model:
            self.load_chosen_model()  # its job says what failed; the chosen model is no worse for it
            return
        previous = self.status.last_ready_source
        if loading and previous is not None and previous != self.parameters.model:
            self.show_error(f"{message} Back to {describe_model(previous)}, which loaded before.")
            self._going_back = True
            try:
                self.parameters.model = previous
            finally:
                self._going_back = False
