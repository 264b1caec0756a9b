"""Prompt, parameters, seed, tools, model and window geometry survive a restart."""

from __future__ import annotations

from PySide6.QtGui import QColor

from studio.ui.settings import open_settings


def test_settings_round_trip(make_window, settings, fake_engine) -> None:
    first = make_window(lambda: fake_engine)
    first.parameters.prompt = "a starry night over a lake"
    first.parameters.negative_prompt = "clouds"
    first.parameters.steps = 33
    first.parameters.guidance_scale = 4.5
    first.parameters.scheduler = "euler a"
    first.parameters.strength = 0.35
    first.parameters.batch_count = 3
    first.parameters.preview_kind = "x0"
    first.parameters.width, first.parameters.height = 320, 192
    first.parameters.model = "/models/older"
    first.parameters.model = "/models/my-sd15"
    first.parameters.use_canvas_as_init = True
    first.seed_state.seed = 3_000_000_000  # above the 32-bit signed range
    first.seed_state.locked = True
    first.seed_state.after_run = "increment"
    first.tool_settings.colour = QColor("#ffd83a")
    first.tool_settings.brush_size = 40
    first.resize(900, 640)
    saved_size = first.size()
    first.info_tabs.setCurrentWidget(first.filmstrip)
    first.close()

    second = make_window(lambda: fake_engine, settings=open_settings(settings.fileName()))
    assert second.prompt_panel.prompt_edit.toPlainText() == "a starry night over a lake"
    assert second.parameters.negative_prompt == "clouds"
    assert (second.parameters.steps, second.parameters.guidance_scale) == (33, 4.5)
    assert second.parameters_panel.scheduler_combo.currentData() == "euler a"
    assert second.parameters.strength == 0.35 and second.parameters.batch_count == 3
    assert second.parameters_panel.preview_combo.currentData() == "x0"
    assert (second.document.size().width(), second.document.size().height()) == (320, 192)
    assert second.parameters.model == "/models/my-sd15"
    picker = second.parameters_panel.model_picker
    assert picker.currentData() == "/models/my-sd15"
    listed = [picker.itemData(index) for index in range(picker.count())]
    assert listed[:3] == ["", "/models/my-sd15", "/models/older"]  # embedded first, then most recent
    assert second.parameters.use_canvas_as_init
    assert second.seed_state.seed == 3_000_000_000 and second.seed_state.locked
    assert second.seed_state.after_run == "increment"
    assert second.tool_settings.colour.name() == "#ffd83a" and second.tool_settings.brush_size == 40
    assert second.size() == saved_size
    assert second.info_tabs.currentWidget() is second.filmstrip  # the Result dock opens on "Steps"


def test_a_damaged_settings_file_falls_back_to_defaults(make_window, tmp_path, fake_engine) -> None:
    path = tmp_path / "broken.ini"
    path.write_text("[parameters]\nsteps=many\nguidance_scale=\nwidth=-5x\n[seed]\nseed=abc\n")
    window = make_window(lambda: fake_engine, settings=open_settings(path))
    assert window.parameters.steps == 20
    assert window.document.size().width() >= 64


def test_first_launch_takes_the_models_own_defaults(make_window, fake_engine, qtbot) -> None:
    window = make_window(lambda: fake_engine)
    with qtbot.waitSignal(window.service.model_ready, timeout=10_000):
        window.service.request_model_load("")
    assert (window.parameters.steps, window.parameters.guidance_scale, window.parameters.scheduler) == (
        12, 6.0, "euler"
    )


def test_saved_parameters_win_over_model_defaults(make_window, fake_engine, settings, qtbot) -> None:
    settings.setValue("parameters/guidance_scale", 3.0)
    settings.setValue("parameters/steps", 40)
    window = make_window(lambda: fake_engine)
    with qtbot.waitSignal(window.service.model_ready, timeout=10_000):
        window.service.request_model_load("")
    assert (window.parameters.steps, window.parameters.guidance_scale) == (40, 3.0)
