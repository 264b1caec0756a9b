"""The one bridge between the UI and the engine: an EngineWorker living in its own QThread.

The engine module (and with it torch) is imported inside the worker thread on first use, so the
window is on screen long before torch is. Only plain data crosses threads: the frozen request goes
in; ModelInfo, StepEvent (numpy previews), PausedEvent, ForwardFrame (the forward-process explorer),
GenerationResult and message strings come back. Cancel, pause and resume go through a RunControl per
run, set straight from the GUI thread and read by the engine between steps (a paused run waits in
the worker thread until it is resumed).
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
    """Runs jobs one after the other in its thread. Every job ends with job_done(job_id)."""

    model_loading = Signal(str)  # source
    model_ready = Signal(object)  # ModelInfo
    started = Signal(object)  # GenerationRequest
    step = Signal(object)  # StepEvent
    paused = Signal(object)  # PausedEvent: the run waits for resume or cancel
    forward_frame = Signal(object)  # ForwardFrame
    finished = Signal(object)  # GenerationResult
    cancelled = Signal()
    failed = Signal(str)  # a message for the user
    job_started = Signal(int)
    job_done = Signal(int)

    def __init__(self, engine_factory: Callable[[], EngineLike] = default_engine_factory) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._engine: EngineLike | None = None
        self._loaded: tuple[str, str, str] | None = None  # source, UNet and decode precision asked
        self._single_file_config = ""  # the model family's folder that gives a .safetensors its config

    def _ensure_model(self, source: str, precision: str, decode_precision: str) -> None:
        wanted = (source, precision, decode_precision)
        if self._engine is not None and wanted == self._loaded:
            return
        self.model_loading.emit(source)
        if self._engine is None:
            self._engine = self._engine_factory()  # the first job: this is where torch gets imported
        self._engine.single_file_config = self._single_file_config or None
        self._loaded = None
        info = self._engine.load_model(*wanted)  # loads only what changed; precision "auto" is measured
        self._loaded = wanted
        self.model_ready.emit(info)

    @Slot(str)
    def set_single_file_config(self, folder: str) -> None:
        if folder != self._single_file_config:
            self._single_file_config = folder
            self._loaded = None  # the next job loads its model again, with this config

    @Slot(int, str, str)
    def load_model(self, job_id: int, source: str, precision: str) -> None:
        self.job_started.emit(job_id)
        try:
            self._ensure_model(source, precision, precision)
        except Exception as error:  # any failure becomes a message; the app keeps working
            log.warning("loading %r failed:\n%s", source, traceback.format_exc())
            self.failed.emit(user_message(error))
        finally:
            self.job_done.emit(job_id)

    @Slot(int, object, object)
    def generate(self, job_id: int, request: GenerationRequest, control: RunControl) -> None:
        self.job_started.emit(job_id)
        try:
            if control.is_cancelled():  # superseded while queued (live painting): skip without torch
                self.cancelled.emit()
                return
            self.started.emit(request)
            self._ensure_model(request.model, request.precision.value, request.decode_precision.value)

            def on_step(event: StepEvent) -> None:
                if not control.is_cancelled():
                    self.step.emit(event)

            result = self._engine.generate(
                request, on_step=on_step, control=control, on_pause=self.paused.emit
            )
            if control.is_cancelled():
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as error:
            log.warning("generation failed:\n%s", traceback.format_exc())
            self.failed.emit(user_message(error))
        finally:
            self.job_done.emit(job_id)

    @Slot(int, object, object)
    def explore_forward(self, job_id: int, request: GenerationRequest, control: RunControl) -> None:
        self.job_started.emit(job_id)
        try:
            if control.is_cancelled():  # a newer exploration replaced it while it waited
                return
            self._ensure_model(request.model, request.precision.value, request.decode_precision.value)
            self._engine.explore_forward(request, self.forward_frame.emit, control.is_cancelled)
        except Cancelled:
            pass
        except Exception as error:
            log.warning("the forward process failed:\n%s", traceback.format_exc())
            self.failed.emit(user_message(error))
        finally:
            self.job_done.emit(job_id)


_live_threads: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Engine threads still running; tests fail when one outlives its test."""
    return [thread for thread in list(_live_threads) if thread.isRunning()]


class EngineService(QObject):
    """GUI-side owner of the worker thread. Submitting a run cancels the one going; signals from runs
    that were superseded are dropped here, so the window only ever hears about the current run.
    Forward-process explorations are jobs of their own: they wait behind a run (one engine, one
    thread), a new one replaces the last, and runs neither cancel them nor are cancelled by them."""

    model_loading = Signal(str)
    model_ready = Signal(object)
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
    _generate_requested = Signal(int, object, object)
    _explore_requested = Signal(int, object, object)
    _config_requested = Signal(str)

    def __init__(
        self, engine_factory: Callable[[], EngineLike] = default_engine_factory, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("engine")
        self._worker = EngineWorker(engine_factory)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load_requested.connect(self._worker.load_model)
        self._config_requested.connect(self._worker.set_single_file_config)
        self._generate_requested.connect(self._worker.generate)
        self._explore_requested.connect(self._worker.explore_forward)
        self._worker.model_loading.connect(self.model_loading)
        self._worker.model_ready.connect(self.model_ready)
        self._worker.job_started.connect(self._on_job_started)
        self._worker.started.connect(self._on_started)
        self._worker.step.connect(self._on_step)
        self._worker.paused.connect(self._on_paused)
        self._worker.forward_frame.connect(self._on_forward_frame)
        self._worker.finished.connect(self._on_finished)
        self._worker.cancelled.connect(self._on_cancelled)
        self._worker.failed.connect(self._on_failed)
        self._worker.job_done.connect(self._on_job_done)
        self._next_job_id = 0
        self._pending: dict[int, RunControl | None] = {}  # queued or running jobs, in order
        self._current_run: int | None = None  # the latest generate job: the only one the UI hears of
        self._explorations: set[int] = set()  # forward-process jobs queued or going
        self._current_exploration: int | None = None  # the latest: the only one the UI hears of
        self._running_job: int | None = None  # the job the worker is executing now
        self._busy = False
        self._thread.start()
        _live_threads.add(self._thread)

    @property
    def busy(self) -> bool:
        """True while the latest run is queued or going."""
        return self._busy

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _new_job(self, control: RunControl | None) -> int:
        self._next_job_id += 1
        self._pending[self._next_job_id] = control
        return self._next_job_id

    def load_model(self, source: str, precision: str = "auto") -> None:
        self._load_requested.emit(self._new_job(None), source, precision)

    def set_single_file_config(self, folder: str) -> None:
        """The diffusers folder of the model family that single-file checkpoints load with ("" none:
        the local Hugging Face cache is tried); applies from the next load or run."""
        self._config_requested.emit(folder)

    def submit(self, request: GenerationRequest) -> None:
        """Start a run, cancelling any run still queued or going."""
        self.cancel()
        control = RunControl()
        job_id = self._new_job(control)
        self._current_run = job_id
        self._set_busy(True)
        self._generate_requested.emit(job_id, request, control)

    def explore_forward(self, request: GenerationRequest) -> None:
        """Noise request.init_image over t for the explorer (frames arrive as `forward_frame`),
        replacing the exploration still queued or going."""
        self._cancel(self._explorations)
        control = RunControl()
        job_id = self._new_job(control)
        self._explorations.add(job_id)
        self._current_exploration = job_id
        self._explore_requested.emit(job_id, request, control)

    def cancel(self) -> None:
        """Cancel every run queued or going (explorations carry on)."""
        self._cancel(set(self._pending) - self._explorations)

    def _cancel(self, job_ids: set[int]) -> None:
        for job_id in job_ids:
            control = self._pending.get(job_id)
            if control is not None:
                control.cancel()

    def _current_control(self) -> RunControl | None:
        return self._pending.get(self._current_run) if self._current_run is not None else None

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
        self._cancel(set(self._pending))
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.error("the engine thread did not stop within %d ms", timeout_ms)
        return stopped

    # ---- from the worker (queued, so in the GUI thread, in the order emitted) --------------------
    def _is_current(self) -> bool:
        return self._running_job is not None and self._running_job == self._current_run

    def _on_job_started(self, job_id: int) -> None:
        self._running_job = job_id

    def _on_started(self, request: GenerationRequest) -> None:
        if self._is_current():
            self.run_started.emit(request)

    def _on_step(self, event: StepEvent) -> None:
        control = self._pending.get(self._running_job) if self._running_job else None
        if self._is_current() and control is not None and not control.is_cancelled():
            self.step.emit(event)

    def _on_paused(self, event: PausedEvent) -> None:
        control = self._pending.get(self._running_job) if self._running_job else None
        if self._is_current() and control is not None and not control.is_cancelled():
            self.paused.emit(event)
        elif control is not None:
            control.resume()  # nobody is listening any more: never leave the worker waiting

    def _on_forward_frame(self, frame: ForwardFrame) -> None:
        if self._running_job is None or self._running_job != self._current_exploration:
            return
        control = self._pending.get(self._running_job)
        if control is not None and not control.is_cancelled():
            self.forward_frame.emit(frame)

    def _on_finished(self, result: GenerationResult) -> None:
        if not self._is_current():
            return
        # The user may have pressed Cancel after the worker finished but before this arrived: honour it.
        control = self._pending.get(self._running_job)
        if control is not None and control.is_cancelled():
            self.cancelled.emit()
        else:
            self.finished.emit(result)

    def _on_cancelled(self) -> None:
        if self._is_current():
            self.cancelled.emit()

    def _on_failed(self, message: str) -> None:
        # Loading failures (no run) and the current run's failures reach the user; so do the current
        # exploration's, on their own signal (no run failed).
        if self._running_job is not None and self._running_job == self._current_exploration:
            self.exploration_failed.emit(message)
            return
        is_model_load = self._pending.get(self._running_job, False) is None
        if is_model_load or self._is_current():
            self.failed.emit(message)

    def _on_job_done(self, job_id: int) -> None:
        self._pending.pop(job_id, None)
        self._explorations.discard(job_id)
        self._running_job = None
        if job_id == self._current_exploration:
            self._current_exploration = None
        if job_id == self._current_run:
            self._current_run = None
            self._set_busy(False)
