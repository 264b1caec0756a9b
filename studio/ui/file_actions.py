"""The File menu's work: new, open a picture or a document, save the document or a PNG that keeps
its settings, export, put a gallery picture on the canvas, paste a picture, and the question before
unsaved strokes are lost.

- Documents (.lsdoc, studio/ui/document_file.py) hold both layers, the prompt and the panels'
  settings, and open again identical.
- A PNG saved or exported carries its settings: the whole run (our JSON chunk, init image and mask
  included, as `generate` writes it) when the canvas is exactly the last result, and otherwise the
  panels' settings in AUTOMATIC1111's "parameters" text, so other tools can read them too.
- Opening a PNG restores what it records into the panels and says in one line what it could not
  (studio/ui/restore_settings.py); other formats open as plain pictures. Pictures are read by
  studio/ui/picture_reading.py, pasted ones too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import PngImagePlugin
from PySide6.QtCore import QMimeData
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.engine.metadata import PARAMETERS_KEY, parameters_text, save_png, write_png
from studio.engine.request import GenerationResult, RequestError
from studio.ui.canvas import CanvasView
from studio.ui.canvas_size import CanvasSizeSync
from studio.ui.document_file import (
    DocumentFileError,
    DocumentSnapshot,
    read_document,
    snapshot_of,
    write_document,
)
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters, describe_model
from studio.ui.picture_reading import picture_from_clipboard, read_picture
from studio.ui.request_builder import build_request
from studio.ui.restore_settings import restore_settings
from studio.ui.seed_panel import SeedState
from studio.ui.settings import convert_like
from studio.ui.tools import ToolSettings

DOCUMENT_SUFFIX = ".lsdoc"
OPEN_FILTER = ("Pictures and documents (*.png *.jpg *.jpeg *.webp *.bmp *.lsdoc);;"
               "Latent Studio documents (*.lsdoc);;Pictures (*.png *.jpg *.jpeg *.webp *.bmp)")
SAVE_FILTER = "Latent Studio document, both layers (*.lsdoc);;PNG picture with its settings (*.png)"
EXPORT_FILTER = "PNG picture with its settings (*.png);;JPEG or WebP picture, no settings (*.jpg *.webp)"
# What a document keeps of the panels besides the prompt: how the next run goes, not the app's state.
DOCUMENT_SETTINGS = ("steps", "guidance_scale", "scheduler", "strength", "batch_count", "use_canvas_as_init",
                     "inpaint_only_masked", "inpaint_padding_px", "resolution", "refine", "refine_strength")


class DocumentFiles:
    """New, open, save, save as and export for one window; `path` is the document's own file, if any.
    `ask_save_changes` puts the Save / Discard / Cancel question."""

    def __init__(
        self,
        parent: QWidget,
        document: Document,
        canvas: CanvasView,
        size_sync: CanvasSizeSync,
        settings: tuple[GenerationParameters, SeedState, ToolSettings],
        last_result: Callable[[], GenerationResult | None],
        status: Callable[[str], None],
        show_error: Callable[[str], None],
        ask_save_changes: Callable[[], QMessageBox.StandardButton],
    ) -> None:
        self.parent, self.document, self.canvas, self.size_sync = parent, document, canvas, size_sync
        self.parameters, self.seed_state, self.tool_settings = settings
        self.last_result, self.status, self.show_error = last_result, status, show_error
        self.ask_save_changes = ask_save_changes
        self.path: Path | None = None

    @property
    def unsaved(self) -> bool:
        """The painting changed since it was last opened or saved (its undo stack is not clean)."""
        return not self.document.undo_stack.isClean()

    def may_discard(self) -> bool:
        """Save / Discard / Cancel before unsaved strokes are lost, as every painting program asks;
        True when nothing unsaved is left to lose."""
        if not self.unsaved:
            return True
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            self.save_current()
            return not self.unsaved
        return answer == QMessageBox.StandardButton.Discard

    def new_document(self, ask: bool = True) -> bool:
        """A blank canvas at the size set, with no history (asks first about unsaved strokes)."""
        if ask and not self.may_discard():
            return False
        self.document.reset(self.parameters.width, self.parameters.height)
        self.path = None  # a new painting is no file's yet: Save asks for a name, never overwrites
        self.canvas.fit()
        return True

    def _canvas_replaced(self) -> None:
        self.size_sync.follows_model = False  # the picture's size is the canvas's now
        self.canvas.fit()

    # ---- opening ---------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """A picture (its PNG settings restored into the panels) or a .lsdoc document."""
        opened = self._open(Path(path))
        if opened:
            self._canvas_replaced()
        return opened

    def _open(self, path: Path) -> bool:
        if path.suffix.lower() == DOCUMENT_SUFFIX:
            return self._open_document(path)
        image, problem = read_picture(path)
        if image is None:
            self.show_error(f"Could not open {path}: {problem}. The canvas is as it was.")
            return False
        self.document.load_image(image)
        self.document.undo_stack.setClean()  # what is on the canvas is what is in the file
        self.path = None  # a picture is not the document's file: Save asks where the document goes
        restored = ""
        if path.suffix.lower() == ".png":
            settings = self.parameters, self.seed_state, self.tool_settings
            restored = " · " + restore_settings(path, *settings, opened=True)
        self.status(f"Opened {path}{restored}")
        return True

    def _open_document(self, path: Path) -> bool:
        try:
            snapshot = read_document(path)
        except DocumentFileError as error:
            self.show_error(f"{error}. The canvas is as it was.")
            return False
        self.document.load_layers(snapshot.paint, snapshot.mask, f"Open {path.name}")
        for name, value in snapshot.text.items():
            setattr(self.parameters, name, value)
        for name in set(DOCUMENT_SETTINGS) & set(snapshot.settings):
            try:
                value = convert_like(snapshot.settings[name], getattr(self.parameters, name))
                setattr(self.parameters, name, value)
            except (TypeError, ValueError):
                continue  # a damaged value keeps the panel's own
        if isinstance(snapshot.settings.get("seed"), int):
            self.seed_state.set_seed(snapshot.settings["seed"])
        self.document.undo_stack.setClean()
        self.path = path
        self.status(f"Opened {path}")
        return True

    def put_on_canvas(self, path: Path) -> None:
        """A gallery picture becomes the canvas, as one undo step."""
        image, problem = read_picture(path)
        if image is None:
            self.show_error(f"Could not put {path.name} on the canvas: {problem}.")
            return
        self.document.load_image(image, f"From the gallery: {path.name}")
        self._canvas_replaced()

    def paste(self, mime: QMimeData) -> bool:
        """Edit > Paste: a copied picture (or picture file) onto the paint layer as one undo step,
        scaled down to fit the canvas if it is larger and centred; transparent parts keep what is
        under them. The canvas keeps its size: what is painted stays."""
        image, problem, source = picture_from_clipboard(mime)
        if image is None:
            self.show_error(f"Could not paste {source}: {problem}. The canvas is as it was.")
            return False
        placed = self.document.paste_picture(image)
        scaled = "" if placed.size() == image.size() else f", scaled to {placed.width()}x{placed.height()}"
        self.status(f"Pasted {source} ({image.width()}x{image.height()}{scaled}); Ctrl+Z undoes it")
        return True

    def restore_from_file(self, path: Path) -> None:
        """Everything the file records, its model, init image and mask included (the person asked)."""
        self.size_sync.follows_model = False
        settings = self.parameters, self.seed_state, self.tool_settings
        self.status(restore_settings(path, *settings, self.document))

    # ---- saving ----------------------------------------------------------------------------------------
    def save(self, path: str | Path, mark_saved: bool = True) -> bool:
        """A .lsdoc document, a PNG with its settings, or another picture format; False (and a
        message) when the file could not be written, with the canvas untouched."""
        path = Path(path)
        try:
            if path.suffix.lower() == DOCUMENT_SUFFIX:
                write_document(path, self._snapshot())
            elif path.suffix.lower() == ".png":
                self._write_png(path)
            elif not self.document.flattened().save(str(path)):
                raise OSError("the name should end in .lsdoc, .png, .jpg or .webp")
        except (OSError, DocumentFileError, ValueError) as error:
            self.show_error(f"Could not save {path}: {error}. Nothing on the canvas was lost.")
            return False
        if mark_saved:
            self.document.undo_stack.setClean()
            self.path = path if path.suffix.lower() == DOCUMENT_SUFFIX else self.path
        self.status(f"Saved {path}")
        return True

    def _snapshot(self) -> DocumentSnapshot:
        settings = {name: getattr(self.parameters, name) for name in DOCUMENT_SETTINGS}
        return snapshot_of(self.document, self.parameters, {**settings, "seed": int(self.seed_state.seed)})

    def _write_png(self, path: Path) -> None:
        picture = self.document.flattened_rgb()
        result = self.last_result()
        shown = next((index for index, image in enumerate(result.images) if np.array_equal(image, picture)),
                     None) if result is not None else None
        if shown is not None:  # the canvas is a result as it came: the file repeats its run
            save_png(path, picture, result.request, result.seeds[shown], result)
            return
        chunks = PngImagePlugin.PngInfo()
        try:
            request = build_request(self.document, self.parameters, int(self.seed_state.seed),
                                    mask_feather_px=self.tool_settings.mask_feather)
            height, width = picture.shape[:2]
            chunks.add_text(PARAMETERS_KEY, parameters_text(request, request.seed, width, height,
                                                            describe_model(self.parameters.model)))
        except RequestError:
            pass  # settings that cannot make a run are not worth recording; the picture still is
        write_png(path, picture, chunks)

    # ---- dialogs ---------------------------------------------------------------------------------------
    def choose_and_open(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open", "", OPEN_FILTER)
        return bool(path) and self.open(path)

    def save_current(self) -> bool:
        """Ctrl+S: the document's own file, or Save As the first time."""
        return self.save(self.path) if self.path is not None else self.choose_and_save()

    def choose_and_save(self) -> bool:
        suggested = str(self.path or f"painting{DOCUMENT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save as", suggested, SAVE_FILTER)
        return bool(path) and self.save(path)

    def choose_and_export(self) -> bool:
        """A picture of the canvas for elsewhere; the document itself stays unsaved."""
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export picture", "painting.png", EXPORT_FILTER)
        return bool(path) and self.save(path, mark_saved=False)
