"""Window-level behaviour with a fake engine: model state, errors, batches, title."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QMessageBox

TIMEOUT_MS = 30_000


def test_a_model_that_fails_to_load_shows_a_message_and_leaves_progress_alone(window, qtbot) -> None:
    with qtbot.waitSignal(window.service.failed, timeout=TIMEOUT_MS):
        window.parameters.model = "missing-model-folder"
    assert "No model at missing-model-folder" in window.message_bar.message
    assert window.progress_bar.format() == "Ready"
    assert "not loaded" in window.model_label.text()
    assert window.windowTitle() == "Latent Studio — no model"


def test_a_loaded_model_names_itself_and_gives_a_blank_canvas_its_size(window, qtbot, fake_engine) -> None:
    fake_engine.size = 96
    window.document.undo_stack.clear()
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.parameters.model = "/models/sd"
    assert window.windowTitle() == "Latent Studio — /models/sd"
    assert window.document.size().width() == 96 and window.parameters.width == 96
    assert window.parameters.steps == 12 and window.parameters.scheduler == "euler"  # the model's defaults


def test_a_batch_shows_every_image_and_any_can_be_applied(window, qtbot) -> None:
    window.parameters.batch_count = 3
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    result = finished.args[0]
    panel = window.result_panel
    assert panel.thumbnails.count() == 3 and not panel.thumbnails.isHidden()
    assert np.array_equal(window.document.flattened_rgb(), result.images[0])
    panel.thumbnails.setCurrentRow(2)
    panel.apply_button.click()
    assert np.array_equal(window.document.flattened_rgb(), result.images[2])
    window.undo_action.trigger()
    assert np.array_equal(window.document.flattened_rgb(), result.images[0])
    assert window.seed_panel.result_seeds_label.text() == ", ".join(map(str, result.seeds))


def test_the_title_shows_the_step_while_running(window, qtbot) -> None:
    window.parameters.steps = 150
    titles: list[str] = []
    window.service.step.connect(lambda _event: titles.append(window.windowTitle()))
    with qtbot.waitSignal(window.service.step, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    with qtbot.waitSignal(window.service.cancelled, timeout=TIMEOUT_MS):
        window.cancel_action.trigger()
    assert titles and titles[0].startswith("Step 1/150")
    qtbot.waitUntil(lambda: not window.service.busy)
    assert window.windowTitle().startswith("Latent Studio")


def test_a_request_the_engine_would_refuse_is_explained_before_any_run(window, fake_engine) -> None:
    window.document.reset(4, 4)  # below the engine's 8-pixel minimum
    window.generate_action.trigger()
    assert "width must be between" in window.message_bar.message
    assert fake_engine.requests == [] and not window.service.busy


def test_generate_while_a_run_is_going_does_not_throw_it_away(window, qtbot, fake_engine) -> None:
    window.parameters.steps = 30
    with qtbot.waitSignal(window.service.run_started, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    window.generate_action.trigger()  # an accidental second Ctrl+Enter
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        pass
    qtbot.waitUntil(lambda: not window.service.busy)
    assert len(fake_engine.requests) == 1
    stack = window.document.undo_stack
    assert stack.command(stack.count() - 1).from_a_run  # the result landed as one undo step
    assert finished.args[0].request is fake_engine.requests[0]


def test_the_title_marks_unsaved_changes(window, tmp_path) -> None:
    from tests.ui.conftest import drag
    from tests.ui.test_painting import canvas_point

    assert not window.windowTitle().endswith("*")
    drag(window.canvas, [canvas_point(window, 10, 10), canvas_point(window, 40, 10)])
    assert window.windowTitle().endswith(" *")
    assert window.save_image(tmp_path / "saved.png")
    assert not window.windowTitle().endswith("*")
    window.undo_action.trigger()
    assert window.windowTitle().endswith(" *")


def test_space_after_clicking_generate_pans_instead_of_cancelling(window, qtbot) -> None:
    from PySide6.QtCore import Qt

    window.parameters.steps = 150
    window.canvas.setFocus()
    with qtbot.waitSignal(window.service.run_started, timeout=TIMEOUT_MS):
        window.prompt_panel.action_button.click()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert window.service.busy and window.canvas.hasFocus()
    with qtbot.waitSignal(window.service.cancelled, timeout=TIMEOUT_MS):
        window.cancel_action.trigger()


def test_inpainting_previews_show_only_inside_the_mask(window, qtbot) -> None:
    from PySide6.QtCore import QRect

    from studio.ui.image_convert import alpha_from_qimage

    window.parameters.inpaint_only_masked = False
    window.tool_settings.mask_feather = 2
    window.document.add_mask_rect(QRect(20, 20, 24, 24))
    alphas = []
    window.service.step.connect(lambda _event: alphas.append(alpha_from_qimage(window.canvas.preview)))
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    assert finished.args[0].request.mode.value == "inpaint"
    assert alphas and alphas[0].shape == (64, 64)
    assert alphas[0][32, 32] == 255 and alphas[0][5, 5] == 0 and alphas[0][32, 60] == 0


def test_choosing_a_precision_reloads_says_what_was_chosen_and_reaches_the_run(
    window, qtbot, fake_engine
) -> None:
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        combo = window.parameters_panel.precision_combo
        combo.setCurrentIndex(combo.findData("bf16"))
    assert "cpu bf16" in window.model_label.text()
    assert "bf16 asked" in window.model_label.toolTip()
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    request = fake_engine.requests[-1]
    assert (request.precision.value, request.decode_precision.value) == ("bf16", "bf16")


def test_loras_are_listed_weighed_removed_and_reach_the_run(window, qtbot, fake_engine) -> None:
    loras = window.parameters_panel.lora_list
    loras.add("/models/loras/watercolour.safetensors")
    loras.add("/models/loras/ink.safetensors")
    loras.list.setCurrentRow(0)
    loras.weight_spin.setValue(0.6)
    assert loras.list.item(0).text() == "watercolour.safetensors  ×0.6"
    loras.list.setCurrentRow(1)
    loras.remove_selected()
    assert loras.list.count() == 1
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    (sent,) = fake_engine.requests[-1].loras
    assert (sent.path, sent.weight) == ("/models/loras/watercolour.safetensors", 0.6)


def test_an_lcm_lora_switches_to_few_step_sampling_and_says_so(window) -> None:
    window.parameters.scheduler, window.parameters.steps = "dpm++ 2m", 25
    window.parameters_panel.lora_list.add("/models/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors")
    parameters = window.parameters
    assert (parameters.scheduler, parameters.steps, parameters.guidance_scale) == ("lcm", 4, 1.0)
    assert parameters.live_steps == 4
    assert "LCM" in window.parameters_panel.lora_list.note.text()
    # diffusers' generic file name alone would not say which LoRA it is: its folder is shown too
    shown = window.parameters_panel.lora_list.list.item(0).text()
    assert shown == "lcm-lora-sdv1-5/pytorch_lora_weights.safetensors  ×1"


def test_a_named_preview_decoder_folder_reaches_the_run_and_can_be_forgotten(
    window, qtbot, fake_engine
) -> None:
    window.parameters.tiny_decoder = "/models/taesd"
    assert window.parameters_panel.tiny_decoder_button.text().startswith("taesd")
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    assert fake_engine.requests[-1].tiny_decoder == "/models/taesd"
    window.parameters_panel.tiny_decoder_button.click()  # forgets; asks nothing
    assert window.parameters.tiny_decoder == ""


def _paint_a_stroke(window) -> None:
    from tests.ui.conftest import drag

    window.tool_settings.brush_size = 6
    to_widget = window.canvas.to_widget
    drag(window.canvas, [to_widget(QPointF(8, 8)), to_widget(QPointF(30, 8))])


def test_painting_before_the_model_has_loaded_is_kept_scaled_to_the_model_size(
    window, qtbot, fake_engine
) -> None:
    fake_engine.size = 128  # the first launch: the canvas is up (64 here) before the model is
    _paint_a_stroke(window)
    assert not window.document.paint_is_blank()
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.service.request_model_load(window.parameters.model, window.parameters.precision)
    document = window.document
    assert (document.size().width(), document.size().height()) == (128, 128)
    assert window.parameters.width == 128 and not window.parameters.size_chosen
    alpha = document.paint.image.pixelColor(38, 16).alpha()  # the stroke at (19, 8), scaled 2x
    assert alpha > 200 and document.paint.image.pixelColor(100, 100).alpha() == 0
    window.undo_action.trigger()  # one step gives the 64-pixel painting back
    assert document.size().width() == 64 and document.paint.image.pixelColor(19, 8).alpha() > 200


def test_a_size_the_person_set_stays_when_the_model_arrives_and_after_a_restart(
    make_window, settings, qtbot, fake_engine
) -> None:
    from studio.ui.settings import open_settings

    fake_engine.size = 128
    first = make_window(lambda: fake_engine)
    first.parameters_panel.width_spin.setValue(200)  # the person types a size
    assert first.parameters.size_chosen
    with qtbot.waitSignal(first.service.model_ready, timeout=TIMEOUT_MS):
        first.service.request_model_load("", "auto")
    assert first.document.size().width() == 200
    first.close()
    second = make_window(lambda: fake_engine, settings=open_settings(settings.fileName()))
    with qtbot.waitSignal(second.service.model_ready, timeout=TIMEOUT_MS):
        second.service.request_model_load("", "auto")
    assert second.document.size().width() == 200


def test_the_status_bar_says_at_which_size_the_model_runs(window, qtbot, fake_engine) -> None:
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.service.request_model_load(window.parameters.model, window.parameters.precision)  # native 64
    window.parameters.width, window.parameters.height = 128, 96
    messages: list[str] = []
    window.generation.status_changed.connect(messages.append)
    window.parameters.steps = 2
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    assert "Generating at 72x56, shown at 128x96" in messages
    assert fake_engine.requests[-1].resolution.value == "native"


def _run_until_paused(window, qtbot, fake_engine):
    window.parameters.steps = 200
    fake_engine.step_seconds = 0.005
    with qtbot.waitSignal(window.service.step, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    with qtbot.waitSignal(window.service.paused, timeout=TIMEOUT_MS) as paused:
        window.pause_action.trigger()
    return paused.args[0]


def test_pause_shows_the_picture_so_far_and_resume_sends_what_was_painted_on_it(
    window, qtbot, fake_engine
) -> None:
    event = _run_until_paused(window, qtbot, fake_engine)
    assert window.prompt_panel.pause_button.text().startswith("Resume")
    assert np.array_equal(window.document.flattened_rgb(), event.picture)  # the guess, on the canvas
    assert window.document.undo_stack.command(window.document.undo_stack.index() - 1).text() == (
        f"Paused at step {event.step}"
    )
    assert window.windowTitle().startswith(f"Paused at step {event.step} of 200")
    window.generate_action.trigger()  # a paused run is not thrown away by a second Generate
    assert len(fake_engine.requests) == 1
    _paint_a_stroke(window)
    window.parameters.prompt = "a starry night"
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.pause_action.trigger()  # Ctrl+P again resumes
    steer = fake_engine.steers[-1]
    assert steer.at_step == event.step and steer.prompt == "a starry night"
    assert not np.array_equal(steer.image, event.picture)  # the stroke went with it
    assert window.prompt_panel.pause_button.text().startswith("Pause")
    qtbot.waitUntil(lambda: not window.service.busy, timeout=TIMEOUT_MS)  # clears at job_done


def test_cancel_while_paused_ends_the_run_and_keeps_the_paused_picture_undoable(
    window, qtbot, fake_engine
) -> None:
    before = window.document.flattened_rgb()
    event = _run_until_paused(window, qtbot, fake_engine)
    assert window.unsaved  # closing now would ask, like any unsaved work
    with qtbot.waitSignal(window.service.cancelled, timeout=TIMEOUT_MS):
        window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.service.busy)
    assert window.generation.paused_at is None
    assert np.array_equal(window.document.flattened_rgb(), event.picture)
    window.undo_action.trigger()
    assert np.array_equal(window.document.flattened_rgb(), before)


def test_closing_while_paused_asks_and_cancel_keeps_the_paused_run(window, qtbot, fake_engine) -> None:
    _run_until_paused(window, qtbot, fake_engine)
    asked = []
    window.ask_save_changes = lambda: asked.append(True) or QMessageBox.StandardButton.Cancel
    window.close()
    assert asked and window.isVisible()
    assert window.generation.paused_at is not None and window.service.busy  # still resumable
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.pause_action.trigger()
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard  # for the fixture's close


def test_the_steps_tab_shows_every_step_and_branches_from_the_one_picked(window, qtbot, fake_engine) -> None:
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):  # its defaults, before the run
        window.service.request_model_load(window.parameters.model, window.parameters.precision)
    window.parameters.steps = 4
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    qtbot.waitUntil(lambda: not window.service.busy)
    strip = window.filmstrip
    assert strip.steps == [1, 2, 3, 4] and not strip.branch_button.isEnabled()
    strip.frames.setCurrentRow(1)
    assert strip.branch_button.isEnabled()
    strip.branch_button.click()  # nothing changed yet: nothing to branch
    assert "To branch, change the prompt" in window.message_bar.message
    window.parameters.prompt = "a starry night"
    strip.fresh_noise_check.setChecked(True)
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        strip.branch_button.click()
    first, branch = fake_engine.requests[-2], fake_engine.requests[-1]
    (steer,) = branch.steers
    assert (steer.at_step, steer.prompt) == (2, "a starry night") and steer.noise_seed is not None
    assert branch.seed == first.seed and branch.prompt == first.prompt  # the same run up to step 2


def test_pause_during_the_refine_pass_says_it_cannot(window, qtbot) -> None:
    from studio.engine.request import StepEvent

    window.generation._run_active = True
    window.generation._on_step(StepEvent(0, 1, 1, 3, 500.0, 0.5, None, 0.1, refining=True))
    messages: list[str] = []
    window.generation.status_changed.connect(messages.append)
    window.generation.service._busy = True  # as while a run goes
    window.generation.toggle_pause()
    window.generation.service._busy = False
    assert messages == ["The full-size refine pass cannot be paused: it is the last part"]


def test_a_config_folder_for_model_files_reaches_the_engine_and_reloads_the_checkpoint(
    window, qtbot, fake_engine, tmp_path
) -> None:
    checkpoint = tmp_path / "my-model.safetensors"
    checkpoint.write_bytes(b"weights")
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.parameters.model = str(checkpoint)
    assert getattr(fake_engine, "single_file_config", None) is None  # none named: the cache is tried
    picker = window.parameters_panel.model_picker
    items = [picker.itemText(row) for row in range(picker.count())]
    assert "Config for model files: from the cache…" in items
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.parameters.checkpoint_config = str(tmp_path / "sd15")
    assert fake_engine.single_file_config == str(tmp_path / "sd15")
    assert fake_engine.loaded[-2:] == [str(checkpoint), str(checkpoint)]  # loaded again with it
    assert "Config for model files: sd15…" in [picker.itemText(row) for row in range(picker.count())]
    window.save_settings()
    assert window.settings.value("parameters/checkpoint_config") == str(tmp_path / "sd15")  # remembered


def test_a_model_that_fails_to_load_gives_way_to_the_one_before(window, qtbot, fake_engine) -> None:
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.service.request_model_load(window.parameters.model, window.parameters.precision)
    window.parameters.steps = 9  # the person's settings stay: no model defaults on the way back
    with qtbot.waitSignal(window.service.model_ready, timeout=TIMEOUT_MS):
        window.parameters.model = "missing-model"  # fails, then the embedded one loads again
    assert fake_engine.loaded == ["", ""]  # the embedded model, then again after the failure (not recorded)
    assert window.parameters.model == "" and window.parameters.steps == 9
    assert "No model at missing-model" in window.message_bar.message
    assert "Back to Embedded: Landscapes" in window.message_bar.message
    assert window.model_status.title == "fake"
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()  # the next Generate works
