"""The gallery keeps every result as a PNG that repeats its run, and brings entries back."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from studio.engine.metadata import read_request
from studio.engine.request import GenerationRequest, GenerationResult, Mode
from studio.ui.gallery_panel import LargeView
from studio.ui.gallery_store import GalleryStore, write_result

TIMEOUT_MS = 10_000


def _generate(window, qtbot) -> GenerationResult:
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    return finished.args[0]


def _listed(window, qtbot, count: int) -> None:
    qtbot.waitUntil(lambda: window.gallery.model.total == count, timeout=TIMEOUT_MS)


def _gallery_files(window) -> list[Path]:
    return sorted(window.gallery.store.folder.glob("*.png"))


def _write_entry(folder: Path, prompt: str, seed: int, mtime: float | None = None) -> Path:
    """A gallery file as the app writes it, without running anything."""
    request = GenerationRequest(prompt=prompt, seed=seed, steps=7, guidance_scale=3.5, width=32, height=32)
    image = np.full((32, 32, 3), seed % 256, np.uint8)
    path = write_result(folder, image, seed, GenerationResult(request, (image,), (seed,), "fake", 0.1))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_each_image_of_a_batch_is_kept_as_a_png_that_repeats_its_run(window, qtbot) -> None:
    window.parameters.prompt = "a red barn / at night"  # a path separator in the prompt stays out of the name
    window.parameters.batch_count = 3
    result = _generate(window, qtbot)
    _listed(window, qtbot, 3)
    files = _gallery_files(window)
    assert len(files) == 3 and all(path.parent == window.gallery.store.folder for path in files)
    images = dict(zip(result.seeds, result.images, strict=True))
    recorded = {read_request(path).seed: (read_request(path), path) for path in files}
    assert sorted(recorded) == sorted(result.seeds)
    for seed, (request, path) in recorded.items():
        assert request.prompt == "a red barn / at night" and request.batch_count == 1
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), images[seed])  # lossless
    assert window.gallery.model.entry(0).prompt == "a red barn / at night"


def test_a_live_result_is_kept_only_when_applied(window, qtbot, fake_engine) -> None:
    with qtbot.waitSignal(window.service.finished, timeout=TIMEOUT_MS):
        assert window.generation.start_live_run()
    window.gallery.store.flush()
    assert _gallery_files(window) == []
    window.result_panel.apply_button.click()
    _listed(window, qtbot, 1)


def test_the_list_is_newest_first_and_search_matches_prompt_words(window, qtbot, tmp_path) -> None:
    folder = window.gallery.store.folder
    _write_entry(folder, "Sunset over a LAKE", 1, mtime=1_000_000)
    _write_entry(folder, "a snowy mountain at sunset", 2, mtime=2_000_000)
    _write_entry(folder, "forest at night", 3, mtime=3_000_000)
    window.gallery.store.scan()
    _listed(window, qtbot, 3)
    assert [window.gallery.model.entry(row).seed for row in range(3)] == [3, 2, 1]
    window.gallery.search.setText("sunset lake")
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=TIMEOUT_MS)
    assert window.gallery.model.entry(0).seed == 1 and window.gallery.count_label.text() == "1 of 3"
    window.gallery.search.setText("")
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 3, timeout=TIMEOUT_MS)


def test_files_added_or_deleted_by_hand_are_picked_up(window, qtbot, tmp_path) -> None:
    folder = window.gallery.store.folder
    kept = _write_entry(folder, "kept", 1)
    _listed(window, qtbot, 1)
    elsewhere = tmp_path / "from-another-tool.png"
    Image.new("RGB", (16, 16), "teal").save(elsewhere)  # no metadata at all: listed all the same
    shutil.copy(elsewhere, folder / elsewhere.name)
    _listed(window, qtbot, 2)
    kept.unlink()
    _listed(window, qtbot, 1)
    assert window.gallery.model.entry(0).prompt == ""


def test_restore_brings_every_setting_and_an_init_image_back(window, qtbot) -> None:
    folder = window.gallery.store.folder
    init = np.zeros((48, 40, 3), np.uint8)
    init[:, :20] = (200, 30, 30)
    request = GenerationRequest(
        prompt="a lake", negative_prompt="blurry", mode=Mode.IMAGE_TO_IMAGE, seed=4242, steps=13,
        guidance_scale=6.5, width=40, height=48, strength=0.4, scheduler="euler a", init_image=init,
    )
    image = np.full((48, 40, 3), 90, np.uint8)
    path = write_result(folder, image, 4242, GenerationResult(request, (image,), (4242,), "fake", 0.1))
    _listed(window, qtbot, 1)
    window.gallery.select_row(0)
    before = window.document.undo_stack.count()
    window.gallery.buttons["restore"].click()
    parameters = window.parameters
    assert (parameters.prompt, parameters.negative_prompt) == ("a lake", "blurry")
    assert (parameters.steps, parameters.guidance_scale, parameters.scheduler) == (13, 6.5, "euler a")
    assert (parameters.strength, window.seed_state.seed) == (0.4, 4242)
    assert parameters.use_canvas_as_init
    assert np.array_equal(window.document.flattened_rgb(), init)  # the run's init image, at its size
    assert window.document.undo_stack.count() == before + 1  # one undo step
    assert path.name in window.gallery.model.data(window.gallery.model.index(0), 3)  # the tooltip names it


def test_put_on_canvas_is_one_undo_step_and_copy_seed_copies(window, qtbot) -> None:
    _write_entry(window.gallery.store.folder, "grey", 77)
    _listed(window, qtbot, 1)
    window.gallery.select_row(0)
    before = window.document.flattened_rgb()
    window.gallery.buttons["canvas"].click()
    assert np.array_equal(window.document.flattened_rgb(), np.full((32, 32, 3), 77, np.uint8))
    window.undo_action.trigger()
    assert np.array_equal(window.document.flattened_rgb(), before)
    window.gallery.buttons["seed"].click()
    assert QApplication.clipboard().text() == "77"


def test_delete_moves_the_file_to_the_trash(window, qtbot, tmp_path, monkeypatch) -> None:
    trash = tmp_path / "data" / "Trash"
    trash.mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    first = _write_entry(window.gallery.store.folder, "first", 1, mtime=1_000_000)
    second = _write_entry(window.gallery.store.folder, "second", 2, mtime=2_000_000)
    _listed(window, qtbot, 2)
    window.gallery.select_row(0)
    window.gallery.confirm_permanent_delete = lambda path: True  # only where Qt finds no trash
    window.gallery.buttons["delete"].click()
    _listed(window, qtbot, 1)
    assert not second.exists() and first.exists()
    assert window.gallery.current_entry().path == first  # the next one is picked
    assert len(list((trash / "files").glob("*.png"))) in (0, 1)  # 0: the trash is elsewhere on this volume


def test_nothing_is_deleted_for_good_without_asking(window, qtbot, monkeypatch) -> None:
    monkeypatch.setattr("studio.ui.gallery_panel.QFile.moveToTrash", lambda _path: False)  # no trash
    path = _write_entry(window.gallery.store.folder, "precious", 9)
    _listed(window, qtbot, 1)
    window.gallery.select_row(0)
    window.gallery.confirm_permanent_delete = lambda _path: False
    window.gallery.delete_current()
    assert path.exists()
    window.gallery.confirm_permanent_delete = lambda _path: True
    window.gallery.delete_current()
    _listed(window, qtbot, 0)
    assert not path.exists()


def test_thumbnails_are_made_only_for_what_is_shown(window, qtbot) -> None:
    folder = window.gallery.store.folder
    for seed in range(400):
        _write_entry(folder, f"picture {seed}", seed, mtime=1_000_000 + seed)
    window.gallery.store.scan()
    window.info_tabs.setCurrentWidget(window.gallery)
    _listed(window, qtbot, 400)
    qtbot.waitUntil(lambda: len(window.gallery.model._thumbnails) > 0, timeout=TIMEOUT_MS)
    assert len(window.gallery.model._thumbnails) + len(window.gallery.model._asked) < 200


def test_a_damaged_index_or_png_never_stops_the_listing(tmp_path, qtbot) -> None:
    folder = tmp_path / "gallery"
    folder.mkdir()
    _write_entry(folder, "good", 1)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "gallery-index.json").write_text("{not json")
    store = GalleryStore(folder)
    with qtbot.waitSignal(store.listed, timeout=TIMEOUT_MS) as listed:
        store.scan()
    assert sorted(entry.prompt for entry in listed.args[0]) == ["", "good"]
    store.close()
    rows = json.loads((tmp_path / "gallery-index.json").read_text())  # rewritten, whole again
    assert len(rows) == 2


def test_a_gallery_that_cannot_be_written_says_so_and_keeps_the_result(window, qtbot, tmp_path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the gallery folder should be")
    window.gallery.store.folder = blocked
    errors: list[str] = []
    window.gallery.store.write_failed.connect(errors.append)
    result = _generate(window, qtbot)
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT_MS)
    assert "gallery" in errors[0] and "Last result" in errors[0]
    assert window.generation.last_result is result  # still there to apply


def test_opening_an_automatic1111_png_restores_its_settings_and_says_what_not(window, tmp_path) -> None:
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("parameters", "a castle on a hill\nNegative prompt: fog\n"
                    "Steps: 31, Sampler: Euler a, CFG scale: 5.5, Seed: 1234, Size: 16x16, "
                    "Model: sd15, Hires upscale: 2")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (16, 16), "white").save(path, pnginfo=chunks)
    model_before = window.parameters.model
    assert window.open_image(path)
    assert (window.parameters.prompt, window.parameters.negative_prompt) == ("a castle on a hill", "fog")
    assert (window.parameters.steps, window.seed_state.seed) == (31, 1234)
    assert window.parameters.model == model_before  # an opened file never switches the model
    message = window.statusBar().currentMessage()
    assert "AUTOMATIC1111" in message and "hires" in message.lower()


@pytest.mark.parametrize("garbage", [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", os.urandom(200)])
def test_opening_a_broken_file_says_so_and_keeps_the_canvas(window, tmp_path, garbage) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(garbage)
    before = window.document.flattened_rgb()
    assert not window.open_image(path)
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert "Could not open" in window.message_bar.message


def test_the_gallery_works_from_the_keyboard(window, qtbot) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    _write_entry(window.gallery.store.folder, "keyboard", 31, mtime=1_000_000)
    _listed(window, qtbot, 1)
    window.activateWindow()
    window.search_gallery_action.trigger()  # Ctrl+F from anywhere
    assert window.info_tabs.currentWidget() is window.gallery
    qtbot.waitUntil(window.gallery.search.hasFocus, timeout=TIMEOUT_MS)
    view = window.gallery.view
    view.setFocus()
    window.gallery.select_row(0)
    QTest.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert (window.parameters.prompt, window.seed_state.seed) == ("keyboard", 31)
    QTest.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(window.document.flattened_rgb(), np.full((32, 32, 3), 31, np.uint8))
    QTest.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(isinstance(widget, LargeView) and widget.isVisible()
                                for widget in QApplication.topLevelWidgets()), timeout=TIMEOUT_MS)
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, LargeView):
            widget.close()


@pytest.mark.parametrize("use_canvas", [False, True], ids=["text-to-image", "image-to-image"])
def test_restore_from_the_gallery_repeats_the_run_pixel_for_pixel(real_window, qtbot, use_canvas) -> None:
    from tests.ui.conftest import RUN_TIMEOUT_MS, drag

    window = real_window
    if use_canvas:
        window.tool_settings.tool = "brush"
        to_widget = window.canvas.to_widget
        drag(window.canvas, [to_widget(QPointF(4, 10)), to_widget(QPointF(60, 40))])
    window.parameters.use_canvas_as_init = use_canvas
    window.parameters.strength = 0.6
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS) as finished:
        window.generate_action.trigger()
    first = finished.args[0]
    _listed(window, qtbot, 1)
    window.document.clear_paint()  # the canvas and panels move on before the person restores
    window.parameters.prompt, window.parameters.steps, window.seed_state.seed = "something else", 3, 1
    window.gallery.select_row(0)
    window.gallery.buttons["restore"].click()
    with qtbot.waitSignal(window.service.finished, timeout=RUN_TIMEOUT_MS) as again:
        window.generate_action.trigger()
    assert again.args[0].request.mode is first.request.mode
    assert np.array_equal(again.args[0].images[0], first.images[0])
