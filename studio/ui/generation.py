"""Runs from the window's point of view: build the request, follow its steps, land its result.

Also live painting: while on, each finished edit (debounced) starts a short image-to-image run,
cancelling any run still going; its result shows beside the canvas instead of replacing the sketch.

And pause, paint, resume: a paused run puts the model's current guess of the finished picture on the
canvas (one undo step); the person paints on it, may change the prompt or guidance, and Resume sends
the canvas back as a Steer, which the engine applies where the picture changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QRect, QTimer, Signal
from PySide6.QtGui import QImage

from studio.engine.request import (
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    PausedEvent,
    RepaintArea,
    RequestError,
    Steer,
    StepEvent,
)
from studio.engine.resolution import plan_sizes
from studio.ui.canvas import CanvasView
from studio.ui.filmstrip import Filmstrip
from studio.ui.image_convert import alpha8_from_array, qimage_from_rgb
from studio.ui.inspector import NoiseInspector
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters
from studio.ui.progress import describe_step, format_duration
from studio.ui.request_builder import build_request
from studio.ui.result_view import ResultPanel
from studio.ui.seed_panel import SeedState, random_seed
from studio.ui.tools import ToolSettings
from studio.ui.worker import EngineService

LIVE_DEBOUNCE_MS = 200


@dataclass(frozen=True, eq=False)
class QtRepaintArea:
    """An inpaint's RepaintArea in Qt's types: where the run may change the canvas, as the engine told
    it on the run's first step (the engine feathers the mask once; previews and undo use its weights)."""

    preview_mask: QImage  # Alpha8, canvas-sized: the feathered mask, so previews show only inside it
    changed: QRect  # the box around every pixel the blend takes anything from: all a result can change
    preview_region: QRect | None  # the "only masked" crop the previews stand for; None: the whole canvas

    @classmethod
    def from_engine(cls, area: RepaintArea) -> QtRepaintArea:
        region = QRect(*area.crop) if area.crop is not None else None
        return cls(alpha8_from_array(area.weights), QRect(*area.changed), region)


class GenerationController(QObject):
    """Connects the EngineService to the canvas, the seed, the progress display and the results."""

    progress_changed = Signal(float, str)  # fraction 0..1, text for the bar and the status bar
    status_changed = Signal(str)
    error = Signal(str)
    running_changed = Signal(bool)
    paused_changed = Signal(bool)
    # A result worth keeping (GenerationResult, the indices of its images or None for all): every
    # finished run, and a live run's image only when the person applies it.
    result_kept = Signal(object, object)

    def __init__(
        self,
        service: EngineService,
        document: Document,
        parameters: GenerationParameters,
        seed_state: SeedState,
        tool_settings: ToolSettings,
        canvas: CanvasView,
        results: ResultPanel,
        inspector: NoiseInspector,
        filmstrip: Filmstrip,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service, self.document, self.parameters = service, document, parameters
        self.seed_state, self.tool_settings = seed_state, tool_settings
        self.canvas, self.results, self.inspector = canvas, results, inspector
        self.filmstrip = filmstrip
        self.active_request: GenerationRequest | None = None
        self.last_result: GenerationResult | None = None
        # The last result's images as QImages, made once and shared by the canvas and the result panel,
        # and the box of the canvas they can change (None: all of it).
        self.last_pictures: tuple[QImage, ...] = ()
        self._last_changed: QRect | None = None
        self.preview_count = 0  # previews shown for the active run (tests and benchmarks read it)
        self.model_info: ModelInfo | None = None
        self._repaint_area: QtRepaintArea | None = None  # the running inpaint's, as the engine told it
        self._run_active = False  # between run_started and its end; model-loading failures have none
        self.paused_at: PausedEvent | None = None  # the pause the canvas shows, while a run waits
        self._refining = False  # the run is in its refine pass, which steers (and pauses) do not reach
        self.live_timer = QTimer(self, singleShot=True, interval=LIVE_DEBOUNCE_MS)
        self.live_timer.timeout.connect(self.start_live_run)
        service.model_ready.connect(lambda info: setattr(self, "model_info", info))
        service.run_started.connect(self._on_run_started)
        service.step.connect(self._on_step)
        service.paused.connect(self._on_paused)
        service.finished.connect(self._on_finished)
        service.cancelled.connect(self._on_cancelled)
        service.failed.connect(self._on_failed)
        service.busy_changed.connect(self.running_changed)
        document.undo_stack.indexChanged.connect(self._on_history_changed)
        parameters.live_painting_changed.connect(self._on_live_toggled)
        results.apply_requested.connect(self.apply_result_image)
        filmstrip.branch_requested.connect(self.branch)

    @property
    def running(self) -> bool:
        return self.service.busy

    # ---- starting and stopping ------------------------------------------------------------------
    def generate(self) -> bool:
        """Start a full run from the canvas; False (with a message) when the values cannot run.

        While a full run is going this does nothing: a second Ctrl+Enter must not throw away a run
        (Esc cancels). A live-painting run, though, simply gives way.
        """
        if self.paused_at is not None:
            self.status_changed.emit("A run is paused: Ctrl+P resumes it, Esc cancels it")
            return False
        if self.service.busy and not self._is_live(self.active_request):
            self.status_changed.emit("A run is going: Esc cancels it")
            return False
        return self._submit(live=False)

    def start_live_run(self) -> bool:
        return self._submit(live=True)

    def toggle_pause(self) -> None:
        """Ctrl+P: pause the run going (after its current step), or resume the paused one."""
        if self.paused_at is not None:
            self.resume()
        elif self.service.busy and self._run_active and not self._is_live(self.active_request):
            if self._refining:
                self.status_changed.emit("The full-size refine pass cannot be paused: it is the last part")
                return
            self.service.pause()
            self.status_changed.emit("Pausing after this step…")

    def resume(self) -> None:
        """Carry on from the paused step with what is on the canvas and in the prompt now."""
        paused = self.paused_at
        if paused is None:
            return
        canvas = self.document.flattened_rgb()
        if canvas.shape != paused.picture.shape:
            self.error.emit("The canvas size changed while paused: undo the resize (Ctrl+Z) to resume.")
            return
        mask = self.document.mask_view()  # read once, in place: the Steer keeps its own copy
        steer = Steer(
            paused.step,
            image=canvas,
            mask=mask if mask.any() else None,
            prompt=self.parameters.prompt.strip(),
            negative_prompt=self.parameters.negative_prompt.strip(),
            guidance_scale=float(self.parameters.guidance_scale),
        )  # the engine keeps only what differs from the paused run
        self._set_paused(None)
        self.service.resume(steer)
        self.status_changed.emit(f"Resumed from step {paused.step}")

    def _set_paused(self, event: PausedEvent | None) -> None:
        was_paused = self.paused_at is not None
        self.paused_at = event
        if was_paused != (event is not None):
            self.paused_changed.emit(event is not None)

    def cancel(self) -> None:
        self.live_timer.stop()
        if self.service.busy:
            self.service.cancel()
            self.status_changed.emit("Cancelling…")

    def _submit(self, live: bool) -> bool:
        try:
            request = build_request(
                self.document, self.parameters, self.seed_state.seed,
                mask_feather_px=self.tool_settings.mask_feather, live=live,
            )
        except RequestError as error:
            if not live:
                self.error.emit(str(error))
            return False
        self._start(request, "Starting…" if not live else "Live painting…")
        return True

    def _start(self, request: GenerationRequest, status: str) -> None:
        self.active_request = request
        self.preview_count = 0
        self.service.submit(request)
        self.status_changed.emit(status)

    def branch(self, step: int, fresh_noise: bool) -> bool:
        """Rerun the last run from `step` with the prompt and guidance as they are now (and fresh
        noise for the rest, if asked): the same run up to there, so the composition stays."""
        last = self.last_result
        if last is None or self._is_live(last.request):
            return False
        if self.service.busy:
            self.status_changed.emit("A run is going: branch when it is done (Esc cancels it)")
            return False
        request = last.request
        prompt, negative = self.parameters.prompt.strip(), self.parameters.negative_prompt.strip()
        guidance = float(self.parameters.guidance_scale)
        try:
            steer = Steer(
                step,
                prompt=prompt if prompt != request.prompt else None,
                negative_prompt=negative if negative != request.negative_prompt else None,
                guidance_scale=guidance if guidance != request.guidance_scale else None,
                noise_seed=random_seed() if fresh_noise else None,
            )
            if not steer.changes_anything:
                raise RequestError("To branch, change the prompt or the guidance, or tick new noise")
            kept = tuple(earlier for earlier in request.steers if earlier.at_step < step)
            branch = request.replace(batch_count=1, seed=last.seeds[0], steers=(*kept, steer))
        except RequestError as error:
            self.error.emit(str(error))
            return False
        self._start(branch, f"Branching from step {step}…")
        return True

    def _is_live(self, request: GenerationRequest | None) -> bool:
        return request is not None and request.live

    # ---- live painting -----------------------------------------------------------------------------
    def _on_live_toggled(self, enabled: bool) -> None:
        if enabled:
            self.live_timer.start()
        else:
            self.live_timer.stop()

    def _on_history_changed(self, index: int) -> None:
        if not self.parameters.live_painting or self.paused_at is not None:
            return  # strokes on a paused picture steer that run, not a live one
        command = self.document.undo_stack.command(index - 1) if index > 0 else None
        if getattr(command, "from_a_run", False):
            return  # landing a result must not start a live run of its own
        if self.service.busy and self._is_live(self.active_request):
            self.service.cancel()  # its picture no longer matches the canvas
        self.live_timer.start()  # restarts: only the last of quick edits starts a run

    # ---- from the engine service ---------------------------------------------------------------------
    def _on_run_started(self, request: GenerationRequest) -> None:
        self.active_request = request
        self._run_active = True
        self._refining = False
        self.preview_count = 0
        self._repaint_area = None  # an inpaint's comes with its first step
        self.inspector.start_run(request.steps)
        self.filmstrip.start_run()
        if self._is_live(request):
            starting = "Live run…"
        elif self.model_info is None or self.model_info.source != request.model:
            starting = "Loading model…"
        else:
            starting = "Starting…"
        self.progress_changed.emit(0.0, starting)
        self._say_working_size(request)

    def _say_working_size(self, request: GenerationRequest) -> None:
        """'Generating at 144x112, shown at 512x384' when the model runs at its own size."""
        info = self.model_info
        if info is None or info.source != request.model or self._is_live(request):
            return  # the model is still loading (its size is not known yet); live runs stay quiet
        try:
            plan = plan_sizes(request, info.width, info.height, info.refine_by_default)
        except RequestError:
            return  # the engine says what is wrong
        if plan.scaled:
            self.status_changed.emit(plan.describe())

    def _on_step(self, event: StepEvent) -> None:
        self._refining = event.refining
        progress = describe_step(event)
        self.progress_changed.emit(progress.fraction, progress.text)
        self.inspector.add_step(event)
        if event.repaint_area is not None:
            self._repaint_area = QtRepaintArea.from_engine(event.repaint_area)
        if event.preview is not None:
            self.preview_count += 1
            preview = qimage_from_rgb(event.preview)  # made here, on the GUI thread
            if event.image_index == 0 and not event.refining and not self._is_live(self.active_request):
                self.filmstrip.add_step(event.step, preview)
            area = self._repaint_area
            if self._is_live(self.active_request):
                self.results.show_preview(preview)
            elif area is None:
                self.canvas.set_preview(preview)
            else:
                self.canvas.set_preview(preview, area.preview_region, area.preview_mask)

    def _on_paused(self, event: PausedEvent) -> None:
        self.canvas.set_preview(None)
        # The guess lands as one undo step; what the person paints on it is what Resume sends.
        self.document.put_picture(event.picture, f"Paused at step {event.step}")
        self._set_paused(event)
        text = f"Paused at step {event.step} of {event.total_steps}"
        self.progress_changed.emit(event.step / max(1, event.total_steps), text)
        self.status_changed.emit(f"{text}: paint on it, change the prompt if you like, Ctrl+P resumes")

    def _on_finished(self, result: GenerationResult) -> None:
        self._run_active = False
        self._set_paused(None)
        self.canvas.set_preview(None)
        self.last_result = result
        # Each image becomes a QImage once, here; the panel, the canvas and its undo step share it.
        self.last_pictures = tuple(qimage_from_rgb(image) for image in result.images)
        area = self._repaint_area
        self._last_changed = area.changed if area is not None else None
        self.results.set_images(self.last_pictures, result.seeds)
        if self._is_live(result.request):
            self.document.set_last_result(self.last_pictures[0])
            self.progress_changed.emit(1.0, f"Live: {format_duration(result.elapsed_s)}")
            return
        self.document.apply_result(self.last_pictures[0], self._last_changed)
        self.result_kept.emit(result, None)
        self.filmstrip.set_branchable(True)
        self.seed_state.run_finished(tuple(result.seeds))
        seeds = ", ".join(str(seed) for seed in result.seeds)
        self.progress_changed.emit(1.0, f"Done in {result.elapsed_s:.1f} s")
        done = f"Done in {result.elapsed_s:.1f} s · seed {seeds} · Ctrl+Z to undo"
        self.status_changed.emit(" ".join([done, *result.notes]))  # the faults the run survived, if any

    def apply_result_image(self, index: int) -> None:
        if self.last_result is not None and 0 <= index < len(self.last_pictures):
            self.document.apply_result(self.last_pictures[index], self._last_changed)
            if self._is_live(self.last_result.request):
                self.result_kept.emit(self.last_result, [index])

    def _on_cancelled(self) -> None:
        self._run_active = False
        self.canvas.set_preview(None)
        self.progress_changed.emit(0.0, "Cancelled")
        if self.paused_at is not None:
            self._set_paused(None)
            self.status_changed.emit("Cancelled while paused: the paused picture stays (Ctrl+Z removes it)")
        else:
            self.status_changed.emit("Cancelled: the canvas is as it was")

    def _on_failed(self, message: str) -> None:
        self._set_paused(None)
        if self._run_active:
            self._run_active = False
            self.canvas.set_preview(None)
            self.progress_changed.emit(0.0, "Failed")
        self.error.emit(message)
