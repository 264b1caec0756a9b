"""Random interleavings of what a person does during runs, against the real worker thread and a
fault-injecting fake engine: every sequence must end with the worker idle, every stroke kept, no
late result landing after the end, and (the fixture checks) no thread left running."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from tests.ui.conftest import drag

SEQUENCES, LONG_RUN_SEQUENCES, ACTIONS = 40, 160, 14
MODELS = ("", "fake-b", "missing-model")  # the last fails to load: the one before comes back
IDLE_TIMEOUT_MS = 20_000


def _stroke(window, rng: random.Random) -> None:
    window.tool_settings.tool = rng.choice(["brush", "eraser", "mask brush"])
    size = window.document.size()
    points = [QPointF(rng.uniform(0, size.width()), rng.uniform(0, size.height())) for _ in range(3)]
    drag(window.canvas, [window.canvas.to_widget(point) for point in points])


def _act(window, fake_engine, qtbot, rng: random.Random) -> str:
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
        window.parameters.model = rng.choice(MODELS)
    elif action == "fault":
        fake_engine.fail_with = None if fake_engine.fail_with else "injected engine failure"
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
def test_any_interleaving_ends_idle_with_every_stroke_kept(window, fake_engine, qtbot, seed) -> None:
    _run_sequence(window, fake_engine, qtbot, random.Random(seed))


@pytest.mark.slow  # CI runs it too, on its own line in .ci/run (under 2 minutes)
@pytest.mark.parametrize("seed", range(SEQUENCES, SEQUENCES + LONG_RUN_SEQUENCES))
def test_the_long_run_of_interleavings(window, fake_engine, qtbot, seed) -> None:
    _run_sequence(window, fake_engine, qtbot, random.Random(seed))


def _run_sequence(window, fake_engine, qtbot, rng: random.Random) -> None:
    fake_engine.step_seconds = 0.004
    window.parameters.steps, window.parameters.live_steps = 6, 2
    done = [_act(window, fake_engine, qtbot, rng) for _ in range(ACTIONS)]
    # The end: resume a paused run, stop live painting, cancel whatever is left, and wait.
    if window.generation.paused_at is not None:
        window.pause_action.trigger()
    window.parameters.live_painting = False
    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.service.busy and window.generation.paused_at is None,
                    timeout=IDLE_TIMEOUT_MS)
    strokes = _strokes_in_history(window)
    undone = done.count("undo")
    assert strokes >= done.count("stroke") - undone, done  # a stroke goes only by an undo
    settled = window.document.flattened_rgb()
    qtbot.wait(150)  # anything still on its way would land now
    assert np.array_equal(window.document.flattened_rgb(), settled), done
    assert not window.service.busy
    fake_engine.fail_with = None
    if window.model_status.last_ready_source is None:  # the failing model was the first one picked
        window.parameters.model = ""  # (with no earlier one to go back to), so the person picks one
    with qtbot.waitSignal(window.service.finished, timeout=IDLE_TIMEOUT_MS):
        window.generate_action.trigger()  # and the app still works
