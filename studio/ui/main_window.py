"""The main window: canvas in the middle, tools on the left, prompt, seed and parameters on the right.

It assembles the models (Document, ToolSettings, GenerationParameters, SeedState), the widgets bound
to them and the EngineService, and owns the actions, shortcuts and the close. The jobs it hands out
live in their own modules: docks, menus and the message bar (window_layout), the title
(window_title), the model (model_status), the canvas size (canvas_size), files and the unsaved
question (file_actions) and settings (settings). Importing this module never imports torch: the
engine is loaded inside the worker thread once the window is up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QProgressBar, QUndoView

from studio.ui.autosave import Autosaver
from studio.ui.canvas import CanvasView
from studio.ui.canvas_size import CanvasSizeSync
from studio.ui.file_actions import DocumentFiles
from studio.ui.filmstrip import Filmstrip
from studio.ui.forward_explorer import ForwardExplorer, connect_forward_explorer
from studio.ui.gallery_panel import GalleryPanel, connect_gallery
from studio.ui.gallery_store import GalleryStore, default_gallery_folder
from studio.ui.generation import GenerationController
from studio.ui.inspector import NoiseInspector
from studio.ui.layers import Document
from studio.ui.model_status import ModelLoader, ModelStatus
from studio.ui.parameters import GenerationParameters, ParametersPanel
from studio.ui.prompt_panel import PromptPanel
from studio.ui.result_view import ResultPanel
from studio.ui.seed_panel import SeedPanel, SeedState, random_seed
from studio.ui.settings import (
    open_settings,
    restore_model,
    restore_window_layout,
    save_model,
    save_window_layout,
)
from studio.ui.tool_panel import TOOL_LABELS, ToolPanel
from studio.ui.tools import ToolSettings
from studio.ui.window_layout import MessageBar, add_status_fields, build_docks, build_menus, central_widget
from studio.ui.window_title import WindowTitle
from studio.ui.worker import EngineLike, EngineService, default_engine_factory


class MainWindow(QMainWindow):
    """The app's one window."""

    def __init__(
        self,
        settings: QSettings | None = None,
        engine_factory: Callable[[], EngineLike] = default_engine_factory,
        load_model_on_show: bool = True,
        gallery_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.ask_before_discarding = True  # off for Ctrl+C / SIGTERM, which must not wait on a dialog
        self.settings = settings if settings is not None else open_settings()
        self._load_model_on_show = load_model_on_show
        self._shown_once = False
        self._create_models()
        self.canvas = CanvasView(self.document, self.tool_settings)
        self.message_bar = MessageBar()
        self.setCentralWidget(central_widget(self.message_bar, self.canvas))
        self._create_actions()
        self._create_panels(gallery_folder)
        self._create_engine_side(engine_factory)
        self._connect()
        # Next to the settings file: a --settings folder (or a test's) keeps its own autosave.
        autosave_folder = Path(self.settings.fileName()).parent
        self.autosaver = Autosaver(self.document, self.parameters, autosave_folder, self)
        self.autosaver.failed.connect(self.show_error)
        if self.autosaver.restore():
            self.size_sync.follows_model = False
            self.statusBar().showMessage(
                "Restored the unsaved painting of the last session, which ended without saving it", 15000
            )
        self.setAcceptDrops(True)  # drop an image file to open it
        self.resize(1400, 900)
        restore_window_layout(self.settings, self, self.info_tabs)

    # ---- construction -------------------------------------------------------------------------------
    def _create_models(self) -> None:
        self.model_status = ModelStatus(self)
        self.tool_settings = ToolSettings(self)
        self.parameters = GenerationParameters(self)
        self.seed_state = SeedState(self)
        self.seed_state.seed = random_seed()
        for group, model in self._saved_models().items():
            restore_model(self.settings, group, model)
        self.document = Document(self.parameters.width, self.parameters.height, self)
        self.size_sync = CanvasSizeSync(self.parameters, self.document, self)

    def _saved_models(self) -> dict[str, object]:
        return {"tools": self.tool_settings, "parameters": self.parameters, "seed": self.seed_state}

    def _create_panels(self, gallery_folder: Path | None) -> None:
        self.tool_panel = ToolPanel(self.tool_settings, self.document, self.show_mask_action)
        self.prompt_panel = PromptPanel(self.parameters)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Ready")
        self.progress_bar.setTextVisible(True)
        self.seed_panel = SeedPanel(self.seed_state)
        self.parameters_panel = ParametersPanel(self.parameters)
        self.inspector = NoiseInspector()
        self.filmstrip = Filmstrip()
        self.forward_explorer = ForwardExplorer()
        self.result_panel = ResultPanel()
        self.gallery = GalleryPanel(GalleryStore(gallery_folder or default_gallery_folder(), self))
        self.files = DocumentFiles(
            self, self.document, self.canvas, self.size_sync,
            (self.parameters, self.seed_state, self.tool_settings),
            lambda: self.generation.last_result, lambda text: self.statusBar().showMessage(text, 15000),
            self.show_error, lambda: self.ask_save_changes(),  # a lambda: tests replace ask_save_changes
        )
        self.info_tabs = build_docks(
            self, self.tool_panel,
            [self.prompt_panel, self.progress_bar, self.seed_panel, self.parameters_panel],
            [(self.result_panel, "Last result"), (self.inspector, "Diffusion"), (self.filmstrip, "Steps"),
             (self.forward_explorer, "Forward"), (self.gallery, "Gallery"),
             (QUndoView(self.document.undo_stack), "History")],
        )
        build_menus(self.menuBar(), [
            ("&File", [self.new_action, self.open_action, self.save_action, self.save_as_action,
                       self.export_action, None, self.search_gallery_action, None, self.quit_action]),
            ("&Edit", [self.undo_action, self.redo_action, None, self.paste_action, self.clear_action, None,
                       self.invert_mask_action, self.clear_mask_action]),
            ("&View", [self.fit_action, self.actual_size_action, self.zoom_in_action, self.zoom_out_action,
                       None, self.show_mask_action]),
            ("&Tools", [*self.tool_actions, None, self.smaller_brush_action, self.larger_brush_action]),
            ("&Generate", [self.generate_action, self.pause_action, self.cancel_action]),
        ])
        self.progress_label, self.pointer_label, self.model_label = add_status_fields(self.statusBar(), 3)
        self.model_label.setText(self.model_status.label)

    def _create_engine_side(self, engine_factory: Callable[[], EngineLike]) -> None:
        self.service = EngineService(engine_factory, self)
        self.generation = GenerationController(
            self.service, self.document, self.parameters, self.seed_state, self.tool_settings,
            self.canvas, self.result_panel, self.inspector, self.filmstrip, self,
        )
        # After the controller: a failed load's own message replaces the controller's plain one.
        self.model_loader = ModelLoader(
            self.service, self.parameters, self.model_status,
            apply_model_defaults=not self.settings.contains("parameters/guidance_scale"),
            show_error=self.show_error, show_message=self.statusBar().showMessage, parent=self,
        )
        self.service.model_ready.connect(self.size_sync.model_ready)
        self.title = WindowTitle(self.service, self.model_status, self)
        self.setWindowTitle(self.title.text)
        connect_forward_explorer(
            self.forward_explorer, self.service, self.document, self.parameters, self.seed_state,
            self.show_error,
        )
        connect_gallery(
            self.gallery, self.generation.result_kept, self.files.put_on_canvas, self.files.restore_from_file,
            lambda text: self.statusBar().showMessage(text, 8000), self.show_error,
        )

    def _action(
        self, text: str, shortcuts: list[str] | QKeySequence.StandardKey | None, slot: Callable[[], object]
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcuts, list):
            action.setShortcuts([QKeySequence(shortcut) for shortcut in shortcuts])
        elif shortcuts is not None:
            action.setShortcuts(shortcuts)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _create_actions(self) -> None:
        stack = self.document.undo_stack
        self.undo_action = stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            self.addAction(action)
        self.new_action = self._action("New", ["Ctrl+N"], self.new_document)
        # Lambdas: self.files is made after the actions.
        self.open_action = self._action("Open…", ["Ctrl+O"], lambda: self.files.choose_and_open())
        self.save_action = self._action("Save", ["Ctrl+S"], lambda: self.files.save_current())
        self.save_as_action = self._action("Save as…", ["Ctrl+Shift+S"], lambda: self.files.choose_and_save())
        self.export_action = self._action("Export picture…", ["Ctrl+E"],
                                          lambda: self.files.choose_and_export())
        self.search_gallery_action = self._action("Search the gallery", ["Ctrl+F"], self.search_gallery)
        self.quit_action = self._action("Quit", ["Ctrl+Q"], self.close)
        self.clear_action = self._action("Clear canvas", ["Ctrl+Backspace"], self.document.clear_paint)
        # A text box with the focus keeps Ctrl+V for its text (Qt gives it the shortcut first).
        self.paste_action = self._action(
            "Paste picture", QKeySequence.StandardKey.Paste,
            lambda: self.files.paste(QApplication.clipboard().mimeData()),
        )
        self.generate_action = self._action("Generate", ["Ctrl+Return", "Ctrl+Enter"], self.start_run)
        self.cancel_action = self._action("Cancel", ["Esc"], self.cancel_generation)
        self.pause_action = self._action(
            "Pause / resume", ["Ctrl+P"], lambda: self.generation.toggle_pause()
        )
        self.fit_action = self._action("Fit to window", ["F", "Ctrl+0"], self.canvas.fit)
        self.actual_size_action = self._action("Actual pixels", ["Ctrl+1"], self.canvas.set_actual_size)
        self.zoom_in_action = self._action("Zoom in", ["Ctrl++", "Ctrl+="], lambda: self.canvas.zoom_by(1.25))
        self.zoom_out_action = self._action("Zoom out", ["Ctrl+-"], lambda: self.canvas.zoom_by(0.8))
        self.show_mask_action = QAction("Show mask", self, checkable=True)
        self.show_mask_action.setShortcut(QKeySequence("Q"))
        self.show_mask_action.setToolTip("Show the mask as a tint (Q)")
        self.show_mask_action.setChecked(self.document.mask_visible)
        self.show_mask_action.toggled.connect(lambda visible: setattr(self.document, "mask_visible", visible))
        self.document.mask_visible_changed.connect(self.show_mask_action.setChecked)
        self.addAction(self.show_mask_action)
        self.invert_mask_action = self._action("Invert mask", ["Ctrl+I"], self.document.invert_mask)
        self.clear_mask_action = self._action(
            "Clear mask", ["Ctrl+Shift+Backspace"], self.document.clear_mask
        )
        self.smaller_brush_action = self._action("Smaller brush", ["["], lambda: self.scale_brush(0.8))
        self.larger_brush_action = self._action("Larger brush", ["]"], lambda: self.scale_brush(1.25))
        self.tool_actions = []
        for tool, (label, shortcut) in TOOL_LABELS.items():
            self.tool_actions.append(self._action(
                label, [shortcut], lambda name=tool.value: setattr(self.tool_settings, "tool", name)
            ))

    def _connect(self) -> None:
        self.title.changed.connect(self.setWindowTitle)
        self.prompt_panel.generate_requested.connect(self.start_run)
        self.prompt_panel.cancel_requested.connect(self.cancel_generation)
        self.prompt_panel.pause_requested.connect(self.generation.toggle_pause)
        self.generation.paused_changed.connect(self.prompt_panel.set_paused)
        self.generation.running_changed.connect(self.prompt_panel.set_running)
        self.generation.progress_changed.connect(self._show_progress)
        self.generation.status_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.generation.error.connect(self.show_error)
        self.model_status.changed.connect(self._show_model_status)
        self.parameters.live_painting_changed.connect(
            lambda live: live and self.info_tabs.setCurrentWidget(self.result_panel)  # where live runs show
        )
        self.document.size_changed.connect(lambda _size: self._show_pointer(-1, -1))  # the size it shows
        self.canvas.pointer_moved.connect(self._show_pointer)
        # A bound method, not a lambda: Qt drops the connection when the window goes, and the stack
        # announces "clean" once more while it is being destroyed.
        self.document.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.canvas.zoom_changed.connect(lambda _zoom: self._show_pointer(-1, -1))

    def scale_brush(self, factor: float) -> None:
        """[ and ] resize the brush of the active tool family (paint or mask)."""
        name = "mask_size" if self.tool_settings.tool.startswith("mask") else "brush_size"
        size = getattr(self.tool_settings, name)
        setattr(self.tool_settings, name, float(max(1, min(400, round(size * factor)))))

    # ---- generation -------------------------------------------------------------------------------
    def start_run(self) -> None:
        """Generate, from the window: an old message goes, then the controller builds and submits the run."""
        self.message_bar.hide()
        self.generation.generate()

    def cancel_generation(self) -> None:
        self.generation.cancel()

    def _show_progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setValue(round(fraction * 1000))
        self.progress_bar.setFormat(text)
        # The permanent status-bar field follows the run; the finished message goes to the status line.
        self.progress_label.setText(text if self.service.busy and fraction < 1 else "")

    def _on_clean_changed(self, clean: bool) -> None:
        self.title.set_unsaved(not clean)

    @property
    def unsaved(self) -> bool:
        """The painting differs from its file: closing or New asks first."""
        return self.files.unsaved

    def show_error(self, message: str) -> None:
        self.message_bar.show_message(message)
        self.statusBar().showMessage(message, 10000)

    def _show_model_status(self) -> None:
        self.model_label.setText(self.model_status.label)
        self.model_label.setToolTip(self.model_status.tooltip)

    def _show_pointer(self, x: int, y: int) -> None:
        size = self.document.size()
        position = f"{x}, {y} · " if 0 <= x < size.width() and 0 <= y < size.height() else ""
        self.pointer_label.setText(f"{position}{size.width()}×{size.height()} · {self.canvas.zoom:.0%}")

    # ---- files ---------------------------------------------------------------------------------------
    def new_document(self) -> bool:
        """A blank canvas at the size set, with no history (asks first about unsaved strokes)."""
        return self.files.new_document(ask=self.ask_before_discarding)

    def open_image(self, path: str | Path) -> bool:
        """A picture (its PNG settings restored into the panels) or a .lsdoc document."""
        return self.files.open(path)

    def save_image(self, path: str | Path) -> bool:
        """A .lsdoc document, or a picture (PNG with its settings) of the canvas."""
        return self.files.save(path)

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        button = QMessageBox.StandardButton
        question = "Save the painting before closing?"
        choices = button.Save | button.Discard | button.Cancel
        return QMessageBox.question(self, "Unsaved painting", question, choices, button.Save)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            self.open_image(files[0])
            event.acceptProposedAction()

    def search_gallery(self) -> None:
        self.info_tabs.parentWidget().show()  # the Result dock, in case it was closed
        self.info_tabs.setCurrentWidget(self.gallery)
        self.gallery.search.setFocus()
        self.gallery.search.selectAll()

    # ---- lifecycle -------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._show_pointer(-1, -1)
            if self._load_model_on_show:
                # After the first paint: the window is up before the worker starts importing torch.
                QTimer.singleShot(50, self.model_loader.load_chosen_model)

    def save_settings(self) -> None:
        for group, model in self._saved_models().items():
            save_model(self.settings, group, model)
        save_window_layout(self.settings, self, self.info_tabs)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ask_before_discarding and not self.files.may_discard():
            event.ignore()  # the user chose Cancel, or the save did not happen: keep working
            return
        self.save_settings()
        # Kept when nobody was asked about unsaved strokes (Ctrl+C, SIGTERM): the next launch restores them.
        self.autosaver.close(keep=self.unsaved and not self.ask_before_discarding)
        self.gallery.store.close()  # waits for results still being written: none is lost
        self.generation.live_timer.stop()
        self.hide()  # the window goes at once; the engine thread may need a moment to stop
        self.service.shutdown()
        event.accept()
