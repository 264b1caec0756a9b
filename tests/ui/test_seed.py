"""Seed controls: value, dice, lock, reuse last, after-run policy, copyable result seeds."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QGuiApplication

from studio.engine.request import MAX_SEED, GenerationRequest, GenerationResult


def finish_run(window, seeds: tuple[int, ...]) -> None:
    """Deliver a finished run to the window the way the service does."""
    request = GenerationRequest(seed=seeds[0], width=64, height=64, batch_count=len(seeds))
    images = tuple(np.zeros((64, 64, 3), np.uint8) for _ in seeds)
    window.service.finished.emit(GenerationResult(request, images, seeds, "fake", 0.1))


def test_typing_a_seed_clamps_to_the_valid_range(window, qtbot) -> None:
    panel = window.seed_panel
    panel.seed_edit.setText("1234")
    panel.seed_edit.editingFinished.emit()
    assert window.seed_state.seed == 1234
    panel.seed_edit.setText("9999999999")
    panel.seed_edit.editingFinished.emit()
    assert window.seed_state.seed == MAX_SEED and panel.seed_edit.text() == str(MAX_SEED)
    panel.seed_edit.setText("")
    panel.seed_edit.editingFinished.emit()
    assert panel.seed_edit.text() == str(MAX_SEED)  # an emptied box shows the seed again


def test_dice_gives_a_new_seed_even_when_locked(window) -> None:
    window.seed_state.seed = 7
    window.seed_panel.lock_button.click()
    assert window.seed_state.locked
    seeds = set()
    for _ in range(3):
        window.seed_panel.dice_button.click()
        seeds.add(window.seed_state.seed)
    assert 7 not in seeds and len(seeds) == 3
    assert window.seed_panel.seed_edit.text() == str(window.seed_state.seed)


def test_after_run_policies(window) -> None:
    state = window.seed_state
    state.seed, state.after_run = 100, "keep"
    finish_run(window, (100,))
    assert state.seed == 100
    state.after_run = "increment"
    finish_run(window, (100, 101, 102))
    assert state.seed == 103  # past the whole batch
    state.after_run = "random"
    finish_run(window, (103,))
    assert state.seed != 103


def test_lock_keeps_the_seed_after_runs(window) -> None:
    state = window.seed_state
    state.seed, state.after_run = 42, "random"
    window.seed_panel.lock_button.click()
    assert not window.seed_panel.after_run_combo.isEnabled()
    finish_run(window, (42,))
    finish_run(window, (42,))
    assert state.seed == 42


def test_result_seed_is_shown_copyable_and_reusable(window) -> None:
    state = window.seed_state
    state.after_run = "random"
    assert not window.seed_panel.reuse_button.isEnabled()
    finish_run(window, (555,))
    assert window.seed_panel.result_seeds_label.text() == "555"
    assert state.seed != 555
    window.seed_panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == "555"
    window.seed_panel.reuse_button.click()
    assert state.seed == 555


def test_the_next_run_uses_the_shown_seed(window, qtbot, fake_engine) -> None:
    window.seed_state.seed = 31337
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=30_000) as finished:
        window.generate_action.trigger()
    assert finished.args[0].request.seed == 31337
    assert fake_engine.requests[-1].seed == 31337
