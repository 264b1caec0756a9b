"""A stand-in engine for UI tests that need exact control (failures, timing) without torch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from studio.engine.control import RunControl
from studio.engine.images import inpaint_mask
from studio.engine.request import (
    Cancelled,
    EngineError,
    ForwardFrame,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    PausedEvent,
    Steer,
    StepEvent,
)

GATE_TIMEOUT_S = 30
# Gate timeouts of every FakeEngine; the UI tests' conftest fails the test that had one. Raising alone
# is not enough: the worker turns the error into a message, which a test may never look at.
gate_timeouts: list[str] = []


class FakeEngine:
    """Each step takes `step_seconds` (waiting in the worker thread) and sends a 16x16 preview."""

    def __init__(self, step_seconds: float = 0.01, fail_with: str | None = None, size: int = 64) -> None:
        self.step_seconds, self.fail_with, self.size = step_seconds, fail_with, size
        self.loaded: list[str] = []
        self.requests: list[GenerationRequest] = []
        self.step_gate: threading.Event | None = None  # when set by a test, each step waits for it
        self.steers: list[Steer | None] = []  # what each resume brought
        self.explored: list[GenerationRequest] = []

    def load_model(self, source: str, precision: str = "auto", decode_precision: str = "auto") -> ModelInfo:
        if source.startswith("missing"):
            raise EngineError(
                f"No model at {source}: choose a diffusers folder, a .safetensors file or a hub id"
            )
        self.loaded.append(source)
        resolved = "fp32" if precision == "auto" else precision
        reason = f"{precision} asked (fake)"
        return ModelInfo(
            source or "fake", source, "cpu", self.size, self.size, 12, 6.0, "euler",
            resolved, resolved, reason,
        )

    def generate(
        self,
        request: GenerationRequest,
        on_step: Callable[[StepEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        control: RunControl | None = None,
        on_pause: Callable[[PausedEvent], None] | None = None,
    ) -> GenerationResult:
        """Pauses like the engine: after the step where the control asks, with a flat picture."""
        if should_stop is None and control is not None:
            should_stop = control.is_cancelled
        self.requests.append(request)
        if self.fail_with:
            raise EngineError(self.fail_with)
        width, height = request.width or self.size, request.height or self.size
        started = time.perf_counter()
        area = None
        if request.mode is Mode.INPAINT:  # told like the engine's, with the engine's own function
            area = inpaint_mask(request.mask, request.mask_feather_px, request.inpaint_only_masked,
                                request.inpaint_padding_px, aspect=1.0).area
        images, seeds = [], []
        for index in range(request.batch_count):
            for step in range(1, request.steps + 1):
                if self.step_gate is not None and not self.step_gate.wait(GATE_TIMEOUT_S):
                    # Loudly: carrying on would let a test pass that never opened its gate.
                    problem = f"FakeEngine: the test's step gate stayed shut for {GATE_TIMEOUT_S} s"
                    gate_timeouts.append(problem)
                    raise RuntimeError(problem)
                threading.Event().wait(self.step_seconds)
                if should_stop is not None and should_stop():
                    raise Cancelled()
                if on_step is not None:
                    shade = int(255 * step / request.steps)
                    on_step(StepEvent(index, request.batch_count, step, request.steps, 1000.0 - step,
                                      float(request.steps - step), np.full((16, 16, 3), shade, np.uint8),
                                      time.perf_counter() - started,
                                      repaint_area=area if step == 1 else None))
                if control is not None and control.pause_requested():
                    picture = np.full((height, width, 3), (90, 140, 220), np.uint8)
                    on_pause(PausedEvent(index, step, request.steps, picture))
                    self.steers.append(control.wait_for_resume())
                    if control.is_cancelled():
                        raise Cancelled()
            seed = request.seed_of(index)
            images.append(np.full((height, width, 3), (seed % 200, 40, 90), np.uint8))
            seeds.append(seed)
        return GenerationResult(request, tuple(images), tuple(seeds), "fake", time.perf_counter() - started)

    def explore_forward(
        self,
        request: GenerationRequest,
        on_frame: Callable[[ForwardFrame], None],
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Three stops: the init image, then halved towards black, then black; fails like generate."""
        self.explored.append(request)
        if self.fail_with:
            raise EngineError(self.fail_with)
        noise = np.full((8, 8, 3), 128, np.uint8)
        for index, (timestep, alpha_bar) in enumerate(((None, 1.0), (499, 0.25), (999, 0.005))):
            if should_stop is not None and should_stop():
                raise Cancelled()
            picture = (request.init_image * alpha_bar**0.5).astype(np.uint8)
            on_frame(ForwardFrame(index, 3, timestep, alpha_bar, picture, noise, 0.0, 1.0))
