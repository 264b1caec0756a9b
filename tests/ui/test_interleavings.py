"""Random interleavings of what a person does during runs, against the real worker thread with a
fault-injecting fake engine and with the real engine on a tiny model: every sequence must end with
the worker idle, every stroke kept, no late result landing after the end, and (the fixture checks)
no thread left running. Closing the window in the middle of a sequence stops everything."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QPointF

from tests.ui.conftest import drag

SEQUENCES, LONG_RUN_SEQUENCES, ACTIONS = 40, 160, 14
CLOSING_SEQUENCES = 10
REAL_SEQUENCES, REAL_LONG_RUN_SEQUENCES = 10, 60  # against the real engine: each run really denoises
FAKE_MODELS = ("", "fake-b", "missing-model")  # the last fails to load: the one before comes back
IDLE_TIMEOUT_MS = 20_000
REAL_IDLE_TIMEOUT_MS = 120_000  # a real run still going when the sequence ends must reach a step


@dataclass
class Bench:
    """What a sequence runs against: the window, the models it may pick, and how to inject a fault
    (the fake engine's switch; the real engine's faults come from the model that fails to load)."""

    window: object
    models: tuple[str, ...]
    toggle_fault: Callable[[], None] | None
    clear_fault: Callable[[], None] | None
    idle_timeout_ms: int


@pytest.fixture
def fake_bench(window, fake_engine) -> Bench:
    fake_engine.step_seconds = 0.004

    def toggle_fault() -> None:
        fake_engine.fail_with = None if fake_engine.fail_with else "injected engine failure"

    return Bench(window, FAKE_MODELS, toggle_fault, lambda: setattr(fake_engine, "fail_with", None),
                 IDLE_TIMEOUT_MS)


@pytest.fixture(scope="module")
def other_tiny_model(tmp_path_factory) -> Path:
    from studio.training.random_models import save_random_model

    return save_random_model(tmp_path_factory.mktemp("models") / "other", seed=5)


@pytest.fixture
def real_bench(real_window, tiny_model_dir, other_tiny_model) -> Bench:
    models = (str(tiny_model_dir), str(other_tiny_model), "missing-model")
    return Bench(real_window, models, None, None, REAL_IDLE_TIMEOUT_MS)


def _stroke(window, rng: random.Random) -> None:
    window.tool_settings.tool = rng.choice(["brush", "eraser", "mask brush"])
    size = window.document.size()
    points = [QPointF(rng.uniform(0, size.width()), rng.uniform(0, size.height())) for _ in range(3)]
    drag(window.canvas, [window.canvas.to_widget(point) for point in points])


def _act(bench: Bench, qtbot, rng: random.Random) -> str:
    window = bench.window
    action = rng.choice(["generate", "generate", "cancel", "pause", "stroke", "stroke", "live", "model",
                         "fault", "wait", "batch", "undo"])
    if action == "generate":
        window.generate_action.trigger()
    elif action == "cancel":
        window.cancel_action.trigger()
    elif action == "pause":
        window.pause_action.trigger()  # pauses a run going, or resumes a paused one
    elif action == "stroke":
        _stroke(window, rng)
    elif action == "live":
        window.parameters.live_painting = not window.parameters.live_painting
    elif action == "model":
        window.parameters.model = rng.choice(bench.models)
    elif action == "fault" and bench.toggle_fault is not None:
        bench.toggle_fault()
    elif action == "batch":
        window.parameters.batch_count = rng.choice([1, 2])
    elif action == "undo":
        window.undo_action.trigger()
    qtbot.wait(rng.choice([0, 0, 5, 20, 60]))
    return action


def _strokes_in_history(window) -> int:
    stack = window.document.undo_stack
    return sum(1 for index in range(stack.index()) if not getattr(stack.command(index), "from_a_run", False)
               and not stack.command(index).text().startswith(("Paused at", "Resize", "Canvas to")))


@pytest.mark.parametrize("seed", range(SEQUENCES))
def test_any_interleaving_ends_idle_with_every_stroke_kept(fake_bench, qtbot, seed) -> None:
    _run_sequence(fake_bench, qtbot, random.Random(seed))


@pytest.mark.slow  # CI runs it too, on its own line in .ci/run (under 3 minutes)
@pytest.mark.parametrize("seed", range(SEQUENCES, SEQUENCES + LONG_RUN_SEQUENCES))
def test_the_long_run_of_interleavings(fake_bench, qtbot, seed) -> None:
    _run_sequence(fake_bench, qtbot, random.Random(seed))


@pytest.mark.parametrize("seed", range(REAL_SEQUENCES))
def test_interleavings_against_the_real_engine_end_idle_too(real_bench, qtbot, seed) -> None:
    _run_sequence(real_bench, qtbot, random.Random(1000 + seed))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(REAL_SEQUENCES, REAL_SEQUENCES + REAL_LONG_RUN_SEQUENCES))
def test_the_long_run_of_interleavings_against_the_real_engine(real_bench, qtbot, seed) -> None:
    _run_sequence(real_bench, qtbot, random.Random(1000 + seed))


@pytest.mark.parametrize("seed", range(CLOSING_SEQUENCES))
def test_closing_in_the_middle_of_a_sequence_stops_everything_and_loses_no_stroke(
    real_bench, qtbot, seed
) -> None:
    rng = random.Random(2000 + seed)
    window = real_bench.window
    window.parameters.steps, window.parameters.live_steps = 6, 2
    done = [_act(real_bench, qtbot, rng) for _ in range(rng.randint(3, ACTIONS))]
    strokes = _strokes_in_history(window)
    finished: list[object] = []
    window.service.finished.connect(finished.append)
    window.close()  # whatever is going: a run, a pause, a model load, a live run on its way
    QCoreApplication.processEvents()  # anything the worker sent before it stopped arrives now
    assert not window.isVisible(), done
    assert not window.service._thread.isRunning(), done  # close waited for the worker to end
    assert finished == [], done  # nothing finished behind the closed window
    assert _strokes_in_history(window) == strokes, done


def _run_sequence(bench: Bench, qtbot, rng: random.Random) -> None:
    window = bench.window
    window.parameters.steps, window.parameters.live_steps = 6, 2
    done = [_act(bench, qtbot, rng) for _ in range(ACTIONS)]
    # The end: resume a paused run, stop live painting, cancel whatever is left, and wait.
    if window.generation.paused_at is not None:
        window.pause_action.trigger()
    window.parameters.live_painting = False
    window.cancel_action.trigger()
    # Idle, not only not busy: a model load still queued (a model picked last) would fail the last run.
    qtbot.waitUntil(lambda: window.service.idle and window.generation.paused_at is None,
                    timeout=bench.idle_timeout_ms)
    strokes = _strokes_in_history(window)
    undone = done.count("undo")
    assert strokes >= done.count("stroke") - undone, done  # a stroke goes only by an undo
    settled = window.document.flattened_rgb()
    qtbot.wait(150)  # anything still on its way would land now
    assert np.array_equal(window.document.flattened_rgb(), settled), done
    assert window.service.idle
    if bench.clear_fault is not None:
        bench.clear_fault()
    if window.model_status.last_ready_source is None:  # the failing model was the first one picked
        window.parameters.model = bench.models[0]  # (no earlier one to go back to): the person picks one
    with qtbot.waitSignal(window.service.finished, timeout=bench.idle_timeout_ms):
        window.generate_action.trigger()  # and the app still works
