"""The inspector plots exactly what the events carry: the schedule, per-step figures, a step marker."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.request import Schedule, StepEvent
from studio.ui.inspector import NoiseInspector


def _event(step: int, total: int, schedule: Schedule | None = None) -> StepEvent:
    return StepEvent(
        0, 1, step, total, 1000.0 - step, float(total - step), None, 0.1 * step,
        latent_std=1.0 + step, predicted_noise_std=0.5 * step, schedule=schedule,
    )


def test_the_schedule_and_step_curves_show_the_events_values(qtbot) -> None:
    inspector = NoiseInspector()
    qtbot.addWidget(inspector)
    alpha_bar = np.array([0.1, 0.4, 0.9])
    schedule = Schedule(np.array([800.0, 500.0, 100.0]), alpha_bar, np.sqrt((1 - alpha_bar) / alpha_bar),
                        alpha_bar / (1 - alpha_bar))
    inspector.add_step(_event(1, 3, schedule))  # before the plots exist: the buffers fill all the same
    inspector.build()
    inspector.add_step(_event(2, 3))  # drawn at the next redraw tick (or when shown) ...
    inspector.draw_now()  # ... or now
    assert np.array_equal(inspector.curve_data("alpha_bar")[1], alpha_bar)
    assert np.array_equal(inspector.curve_data("sigma")[1], schedule.sigma)
    steps, noise = inspector.curve_data("noise")
    assert steps.tolist() == [1, 2] and noise.tolist() == [2.0, 1.0]
    assert inspector.curve_data("latent_std")[1].tolist() == [2.0, 3.0]
    assert inspector.curve_data("step_ms")[1] == pytest.approx([100.0, 100.0])
    assert inspector.marker_step == 2
    inspector.start_run(5)  # a new run clears the per-step curves
    inspector.draw_now()
    assert len(inspector.curve_data("noise")[0]) == 0


def test_the_plots_ranges_hold_every_value_and_follow_the_run(qtbot) -> None:
    """Ranges are set by hand (no autorange, see _fit_ranges): they must still show every value."""
    inspector = NoiseInspector()
    qtbot.addWidget(inspector)
    inspector.build()
    alpha_bar = np.linspace(0.01, 0.99, 40)
    schedule = Schedule(np.linspace(999, 0, 40), alpha_bar, np.sqrt((1 - alpha_bar) / alpha_bar),
                        alpha_bar / (1 - alpha_bar))
    for step in range(1, 41):
        inspector.add_step(_event(step, 40, schedule if step == 1 else None))
    inspector.draw_now()
    plots = inspector._plots
    assert plots[0].viewRange()[0] == pytest.approx([1, 40])
    low, high = plots[0].viewRange()[1]  # log10 units
    assert low <= np.log10(min(alpha_bar.min(), schedule.sigma.min()))
    assert high >= np.log10(max(alpha_bar.max(), schedule.sigma.max()))
    top = plots[1].viewRange()[1][1]
    assert 41.0 <= top <= 41.0 * 4  # latent_std reaches 1 + 40; not a range far above the values
    inspector.start_run(10)  # a shorter run: the steps axis follows it
    inspector.draw_now()
    assert plots[0].viewRange()[0] == pytest.approx([1, 10])


def test_a_redraw_tick_moves_one_range_or_sets_the_curves_never_both(qtbot) -> None:
    """What keeps the GUI thread free during a run: each tick of the redraw timer does one piece."""
    inspector = NoiseInspector()
    qtbot.addWidget(inspector)
    inspector.show()
    qtbot.waitExposed(inspector)
    alpha_bar = np.linspace(0.01, 0.99, 20)
    schedule = Schedule(np.linspace(999, 0, 20), alpha_bar, np.sqrt((1 - alpha_bar) / alpha_bar),
                        alpha_bar / (1 - alpha_bar))
    for step in range(1, 6):
        inspector.add_step(_event(step, 20, schedule if step == 1 else None))
    inspector._redraw.stop()
    ranges_left = len(inspector._range_changes())
    assert ranges_left >= 2  # a new run's steps and values move the ranges
    while ranges_left:
        inspector._redraw_next()
        assert len(inspector._range_changes()) == ranges_left - 1
        assert len(inspector.curve_data("noise")[0]) == 0  # no data in a tick that moved a range
        ranges_left -= 1
        assert inspector._redraw.isActive()  # the next piece follows by itself
    inspector._redraw_next()
    assert inspector.curve_data("noise")[1].tolist() == [19.0, 18.0, 17.0, 16.0, 15.0]
    qtbot.waitUntil(lambda: not inspector._redraw.isActive(), timeout=1000)


def test_the_last_step_is_drawn_without_a_redraw_call(qtbot) -> None:
    inspector = NoiseInspector()
    qtbot.addWidget(inspector)
    inspector.show()
    qtbot.waitExposed(inspector)
    for step in range(1, 4):
        inspector.add_step(_event(step, 3))
    qtbot.waitUntil(lambda: len(inspector.curve_data("noise")[0]) == 3, timeout=2000)
    assert inspector.marker_step == 3
