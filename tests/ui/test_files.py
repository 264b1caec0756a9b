"""Save, Save As and Export: documents open again identical, PNGs keep their settings."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF

from studio.engine.metadata import read_png_metadata, read_request
from tests.ui.conftest import drag

TIMEOUT_MS = 10_000


def _paint_and_mask(window) -> None:
    window.tool_settings.tool = "brush"
    drag(window.canvas, [window.canvas.to_widget(QPointF(4, 4)), window.canvas.to_widget(QPointF(40, 30))])
    window.tool_settings.tool = "mask brush"
    drag(window.canvas, [window.canvas.to_widget(QPointF(30, 50)), window.canvas.to_widget(QPointF(60, 50))])


def test_a_document_opens_again_identical_with_its_layers_prompt_and_settings(make_window, tmp_path) -> None:
    window = make_window()
    window.document.reset(64, 64)
    _paint_and_mask(window)
    window.parameters.prompt, window.parameters.steps, window.parameters.strength = "a pond", 17, 0.35
    window.seed_state.seed = 99
    path = tmp_path / "work.lsdoc"
    assert window.save_image(path)
    assert not window.unsaved and window.files.path == path
    paint, mask = window.document.flattened_rgb(), window.document.mask_array()
    assert mask.any()

    again = make_window()
    assert again.open_image(path)
    assert np.array_equal(again.document.flattened_rgb(), paint)
    assert np.array_equal(again.document.mask_array(), mask)
    restored = again.parameters
    assert (restored.prompt, restored.steps, restored.strength) == ("a pond", 17, 0.35)
    assert again.seed_state.seed == 99 and not again.unsaved


def test_save_writes_the_document_to_its_own_file_without_asking(window, tmp_path, monkeypatch) -> None:
    path = tmp_path / "work.lsdoc"
    _paint_and_mask(window)
    assert window.save_image(path)
    _paint_and_mask(window)
    monkeypatch.setattr("studio.ui.file_actions.QFileDialog.getSaveFileName",
                        lambda *args: (_ for _ in ()).throw(AssertionError("asked for a name")))
    window.save_action.trigger()
    assert not window.unsaved


def test_a_png_of_a_result_repeats_its_run_and_a_painting_keeps_the_panels_settings(window, qtbot, tmp_path):
    window.parameters.prompt = "a meadow"
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        window.generate_action.trigger()
    result = window.generation.last_result
    assert window.save_image(tmp_path / "result.png")
    repeated = read_request(tmp_path / "result.png")
    assert (repeated.prompt, repeated.seed) == ("a meadow", result.seeds[0])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "result.png").convert("RGB")), result.images[0])

    _paint_and_mask(window)  # no longer the result: the panels' settings, as AUTOMATIC1111 writes them
    window.parameters.steps = 12
    assert window.save_image(tmp_path / "painted.png")
    recorded = read_png_metadata(tmp_path / "painted.png")
    assert recorded["request"] is None and "Steps: 12" in recorded["parameters"]
    assert recorded["parameters"].startswith("a meadow")


def test_save_after_new_asks_for_a_name_and_leaves_the_old_file(window, tmp_path, monkeypatch) -> None:
    path = tmp_path / "work.lsdoc"
    _paint_and_mask(window)
    assert window.save_image(path)
    kept = path.read_bytes()
    window.files.new_document(ask=False)
    _paint_and_mask(window)
    other = tmp_path / "other.lsdoc"
    asked = []
    monkeypatch.setattr("studio.ui.file_actions.QFileDialog.getSaveFileName",
                        lambda *args: asked.append(1) or (str(other), ""))
    window.save_action.trigger()
    assert asked and other.exists()
    assert path.read_bytes() == kept  # the file opened before New is untouched


def test_export_writes_a_picture_and_leaves_the_document_unsaved(window, tmp_path, monkeypatch) -> None:
    _paint_and_mask(window)
    monkeypatch.setattr("studio.ui.file_actions.QFileDialog.getSaveFileName",
                        lambda *args: (str(tmp_path / "out.png"), ""))
    window.export_action.trigger()
    assert (tmp_path / "out.png").exists()
    assert window.unsaved  # the mask and layers are not in a PNG: closing still asks


def test_a_failed_save_says_so_and_loses_nothing(window, tmp_path) -> None:
    _paint_and_mask(window)
    before = window.document.flattened_rgb()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for target in (blocked / "work.lsdoc", blocked / "work.png", tmp_path / "work.unknown"):
        assert not window.save_image(target)
        assert "Could not save" in window.message_bar.message
    assert window.unsaved and np.array_equal(window.document.flattened_rgb(), before)


def test_a_damaged_document_is_refused_and_the_canvas_stays(window, tmp_path) -> None:
    _paint_and_mask(window)
    before = window.document.flattened_rgb()
    damaged = tmp_path / "damaged.lsdoc"
    damaged.write_bytes(b"PK\x03\x04 not a zip at all")
    assert not window.open_image(damaged)
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert "damaged.lsdoc" in window.message_bar.message
