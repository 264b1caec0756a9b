"""The one bridge between the UI and the engine: an EngineWorker living in its own QThread.

The engine module (and with it torch) is imported inside the worker thread on first use, so the
window is on screen long before torch is. Only plain data crosses threads: the frozen request goes
in; ModelInfo, StepEvent (numpy previews), PausedEvent, ForwardFrame (the forward-process explorer),
GenerationResult and message strings come back, each with the id of the job it belongs to. Cancel,
pause and resume go through a RunControl per run (explorations have one too, for cancel), set
straight from the GUI thread and read by the engine between steps (a paused run waits in the worker
thread until it is resumed or cancelled).
"""

from __future__ import annotations

import logging
import traceback
import weakref
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.engine.control import RunControl
from studio.engine.request import (
    Cancelled,
    EngineError,
    ForwardFrame,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PausedEvent,
    RequestError,
    Steer,
    StepEvent,
)
from studio.ui.gui_thread_gc import collect_garbage_in_gui_thread

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    def load_model(
        self, source: str, precision: str = "auto", decode_precision: str = "auto"
    ) -> ModelInfo: ...

    def generate(
        self,
        request: GenerationRequest,
        on_step: Callable[[StepEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        control: RunControl | None = None,
        on_pause: Callable[[PausedEvent], None] | None = None,
    ) -> GenerationResult: ...

    def explore_forward(
        self,
        request: GenerationRequest,
        on_frame: Callable[[ForwardFrame], None],
        should_stop: Callable[[], bool] | None = None,
    ) -> None: ...


def default_engine_factory() -> EngineLike:
    from studio.engine.engine import Engine  # deferred: imports torch, in the worker thread only

    return Engine()


def user_message(error: BaseException) -> str:
    if isinstance(error, EngineError | RequestError):
        return str(error)
    text = str(error)
    if isinstance(error, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text:
        return "Out of memory: try a smaller size or fewer images per batch, or close other programs."
    if isinstance(error, ImportError):
        return f"The engine could not start: {error}"
    return f"Unexpected error ({type(error).__name__}): {text}"


class EngineWorker(QObject):
    """Runs jobs one after the other in its thread. Every signal carries the id of the job it is
    about, so the GUI side never has to infer it from the order signals arrive in; every job ends
    with job_done(job_id)."""

    model_loading = Signal(int, str)  # job id, source
    model_ready = Signal(int, object)  # job id, ModelInfo
    started = Signal(int, object)  # job id, GenerationRequest
    step = Signal(int, object)  # job id, StepEvent
    paused = Signal(int, object)  # job id, PausedEvent: the run waits for resume or cancel
    forward_frame = Signal(int, object)  # job id, ForwardFrame
    finished = Signal(int, object)  # job id, GenerationResult
    cancelled = Signal(int)  # job id
    failed = Signal(int, str)  # job id, a message for the user
    job_done = Signal(int)  # job id

    def __init__(self, engine_factory: Callable[[], EngineLike] = default_engine_factory) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._engine: EngineLike | None = None
        self._loaded: tuple[str, str, str] | None = None  # source, UNet and decode precision asked
        self._single_file_config = ""  # the model family's folder that gives a .safetensors its config

    def _ensure_model(self, job_id: int, source: str, precision: str, decode_precision: str) -> EngineLike:
        """The engine with the model asked for loaded (only when it is not already)."""
        wanted = (source, precision, decode_precision)
        if self._engine is not None and wanted == self._loaded:
            return self._engine
        self.model_loading.emit(job_id, source)
        if self._engine is None:
            self._engine = self._engine_factory()  # the first job: this is where torch gets imported
        self._engine.single_file_config = self._single_file_config or None
        self._loaded = None  # a load that fails leaves nothing counted as loaded
        info = self._engine.load_model(*wanted)  # loads only what changed; precision "auto" is measured
        self._loaded = wanted
        self.model_ready.emit(job_id, info)
        return self._engine

    @Slot(str)
    def set_single_file_config(self, folder: str) -> None:
        if folder != self._single_file_config:
            self._single_file_config = folder
            self._loaded = None  # the next job loads its model again, with this config

    @Slot(int, str, str)
    def load_model_job(self, job_id: int, source: str, precision: str) -> None:
        try:
            self._ensure_model(job_id, source, precision, precision)
        except Exception as error:  # any failure becomes a message; the app keeps working
            log.warning("loading %r failed:\n%s", source, traceback.format_exc())
            self.failed.emit(job_id, user_message(error))
        finally:
            self.job_done.emit(job_id)

    @Slot(int, object, object)
    def run_job(self, job_id: int, request: GenerationRequest, control: RunControl) -> None:
        try:
            if control.is_cancelled():  # superseded while queued (live painting): skip without torch
                self.cancelled.emit(job_id)
                return
            self.started.emit(job_id, request)
            engine = self._ensure_model(
                job_id, request.model, request.precision.value, request.decode_precision.value
            )

            def on_step(event: StepEvent) -> None:
                if not control.is_cancelled():
                    self.step.emit(job_id, event)

            result = engine.generate(
                request, on_step=on_step, control=control,
                on_pause=lambda event: self.paused.emit(job_id, event),
            )
            if control.is_cancelled():  # cancelled after its last step: the result is not wanted
                self.cancelled.emit(job_id)
            else:
                self.finished.emit(job_id, result)
        except Cancelled:
            self.cancelled.emit(job_id)
        except Exception as error:
            log.warning("generation failed:\n%s", traceback.format_exc())
            self.failed.emit(job_id, user_message(error))
        finally:
            self.job_done.emit(job_id)

    @Slot(int, object, object)
    def exploration_job(self, job_id: int, request: GenerationRequest, control: RunControl) -> None:
        try:
            if control.is_cancelled():  # a newer exploration replaced it while it waited
                return
            engine = self._ensure_model(
                job_id, request.model, request.precision.value, request.decode_precision.value
            )
            engine.explore_forward(
                request, lambda frame: self.forward_frame.emit(job_id, frame), control.is_cancelled
            )
        except Cancelled:
            pass
        except Exception as error:
            log.warning("the forward process failed:\n%s", traceback.format_exc())
            self.failed.emit(job_id, user_message(error))
        finally:
            self.job_done.emit(job_id)


_live_threads: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Engine threads still running; tests fail when one outlives its test."""
    return [thread for thread in list(_live_threads) if thread.isRunning()]


class EngineService(QObject):
    """GUI-side owner of the worker thread. Submitting a run cancels the one going; every signal
    from the worker names its job, and those of runs that were superseded or cancelled are dropped
    here, so the window only ever hears about the current run. Forward-process explorations are jobs
    of their own: they wait behind a run (one engine, one thread), a new one replaces the last, and
    runs neither cancel them nor are cancelled by them."""

    model_loading = Signal(str)
    model_ready = Signal(object)
    model_failed = Signal(str)  # a model load failed, in whichever job: the model status hears of it
    run_started = Signal(object)  # GenerationRequest
    step = Signal(object)
    paused = Signal(object)  # PausedEvent
    forward_frame = Signal(object)  # ForwardFrame of the latest exploration
    exploration_failed = Signal(str)  # a message for the user: the latest exploration failed
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)
    busy_changed = Signal(bool)

    _load_requested = Signal(int, str, str)
    _run_requested = Signal(int, object, object)
    _explore_requested = Signal(int, object, object)
    _config_requested = Signal(str)

    def __init__(
        self, engine_factory: Callable[[], EngineLike] = default_engine_factory, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        collect_garbage_in_gui_thread()  # before the engine thread exists: it must never collect Qt objects
        self._thread = QThread()
        self._thread.setObjectName("engine")
        self._worker = EngineWorker(engine_factory)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load_requested.connect(self._worker.load_model_job)
        self._config_requested.connect(self._worker.set_single_file_config)
        self._run_requested.connect(self._worker.run_job)
        self._explore_requested.connect(self._worker.exploration_job)
        # Whichever job loaded it, the model is the one the engine has now: never stale.
        self._worker.model_loading.connect(self._on_model_loading)
        self._worker.model_ready.connect(self._on_model_ready)
        self._worker.started.connect(self._on_started)
        self._worker.step.connect(self._on_step)
        self._worker.paused.connect(self._on_paused)
        self._worker.forward_frame.connect(self._on_forward_frame)
        self._worker.finished.connect(self._on_finished)
        self._worker.cancelled.connect(self._on_cancelled)
        self._worker.failed.connect(self._on_failed)
        self._worker.job_done.connect(self._on_job_done)
        self._next_job_id = 0
        self._controls: dict[int, RunControl] = {}  # runs and explorations queued or going
        self._model_loads: set[int] = set()  # model-load jobs queued or going
        self._explorations: set[int] = set()  # forward-process jobs queued or going
        self._loading_in: set[int] = set()  # jobs of any kind loading a model right now
        self._current_run: int | None = None  # the latest run job: the only one the UI hears of
        self._current_exploration: int | None = None  # the latest: the only one the UI hears of
        self._busy = False
        self._thread.start()
        _live_threads.add(self._thread)

    @property
    def busy(self) -> bool:
        """True while the latest run is queued or going."""
        return self._busy

    @property
    def idle(self) -> bool:
        """True when no job of any kind (run, model load, exploration) is queued or going."""
        return not self._controls and not self._model_loads

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _new_job_id(self) -> int:
        self._next_job_id += 1
        return self._next_job_id

    def request_model_load(self, source: str, precision: str = "auto") -> None:
        """Load a model now (queued behind the job going); runs load their own model anyway."""
        job_id = self._new_job_id()
        self._model_loads.add(job_id)
        self._load_requested.emit(job_id, source, precision)

    def set_single_file_config(self, folder: str) -> None:
        """The diffusers folder of the model family that single-file checkpoints load with ("" none:
        the local Hugging Face cache is tried); applies from the next load or run."""
        self._config_requested.emit(folder)

    def submit(self, request: GenerationRequest) -> None:
        """Start a run, cancelling any run still queued or going."""
        self.cancel()
        job_id = self._new_job_id()
        self._controls[job_id] = control = RunControl()
        self._current_run = job_id
        self._set_busy(True)
        self._run_requested.emit(job_id, request, control)

    def explore_forward(self, request: GenerationRequest) -> None:
        """Noise request.init_image over t for the explorer (frames arrive as `forward_frame`),
        replacing the exploration still queued or going."""
        self._cancel(self._explorations)
        job_id = self._new_job_id()
        self._controls[job_id] = control = RunControl()
        self._explorations.add(job_id)
        self._current_exploration = job_id
        self._explore_requested.emit(job_id, request, control)

    def cancel(self) -> None:
        """Cancel every run queued or going (explorations carry on)."""
        self._cancel(set(self._controls) - self._explorations)

    def _cancel(self, job_ids: set[int]) -> None:
        for job_id in job_ids:
            self._controls[job_id].cancel()

    def _current_control(self) -> RunControl | None:
        return self._controls.get(self._current_run) if self._current_run is not None else None

    def pause(self) -> None:
        """The current run stops after its current step and `paused` arrives with its picture."""
        control = self._current_control()
        if control is not None:
            control.pause()

    def resume(self, steer: Steer | None = None) -> None:
        """A paused run carries on, changed by `steer` (None: exactly as it would have)."""
        control = self._current_control()
        if control is not None:
            control.resume(steer)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel everything and stop the thread; True when it stopped in time."""
        self._cancel(set(self._controls))
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.error("the engine thread did not stop within %d ms", timeout_ms)
        return stopped

    # ---- from the worker (queued, so in the GUI thread); each names its job ------------------
    def _is_current_run(self, job_id: int) -> bool:
        """The latest run, not cancelled: a cancel pressed after the worker sent a signal but before
        it arrived here is honoured."""
        return job_id == self._current_run and not self._controls[job_id].is_cancelled()

    def _on_started(self, job_id: int, request: GenerationRequest) -> None:
        if job_id == self._current_run:
            self.run_started.emit(request)

    def _on_step(self, job_id: int, event: StepEvent) -> None:
        if self._is_current_run(job_id):
            self.step.emit(event)

    def _on_paused(self, job_id: int, event: PausedEvent) -> None:
        if self._is_current_run(job_id):
            self.paused.emit(event)
        else:
            self._controls[job_id].resume()  # nobody is listening any more: never leave the worker waiting

    def _on_forward_frame(self, job_id: int, frame: ForwardFrame) -> None:
        if job_id == self._current_exploration and not self._controls[job_id].is_cancelled():
            self.forward_frame.emit(frame)

    def _on_finished(self, job_id: int, result: GenerationResult) -> None:
        if job_id != self._current_run:
            return
        if self._controls[job_id].is_cancelled():  # Cancel pressed after the worker finished
            self.cancelled.emit()
        else:
            self.finished.emit(result)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._current_run:
            self.cancelled.emit()

    def _on_model_loading(self, job_id: int, source: str) -> None:
        self._loading_in.add(job_id)
        self.model_loading.emit(source)

    def _on_model_ready(self, job_id: int, info: ModelInfo) -> None:
        self._loading_in.discard(job_id)
        self.model_ready.emit(info)

    def _on_failed(self, job_id: int, message: str) -> None:
        # Model loads and the current run fail on `failed`; the current exploration on its own signal
        # (no run failed). Superseded runs and explorations stay silent, but a model load that failed
        # in any job is told after, on `model_failed` (its words of going back come last).
        if job_id == self._current_exploration:
            self.exploration_failed.emit(message)
        elif job_id in self._model_loads or job_id == self._current_run:
            self.failed.emit(message)
        if job_id in self._loading_in:
            self._loading_in.discard(job_id)
            self.model_failed.emit(message)

    def _on_job_done(self, job_id: int) -> None:
        self._controls.pop(job_id, None)
        self._model_loads.discard(job_id)
        self._explorations.discard(job_id)
        self._loading_in.discard(job_id)
        if job_id == self._current_exploration:
            self._current_exploration = None
        if job_id == self._current_run:
            self._current_run = None
            self._set_busy(False)
