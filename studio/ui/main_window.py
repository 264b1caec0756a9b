"""The main window: canvas in the middle, tools on the left, prompt, seed and parameters on the right.

It assembles the models (Document, ToolSettings, GenerationParameters, SeedState), the widgets bound
to them and the EngineService, and owns the menus, shortcuts and settings. Importing this module
never imports torch: the engine is loaded inside the worker thread once the window is up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from studio.engine.request import ModelInfo
from studio.ui.autosave import Autosaver
from studio.ui.canvas import CanvasView
from studio.ui.file_actions import DocumentFiles, read_picture
from studio.ui.filmstrip import Filmstrip
from studio.ui.forward_explorer import ForwardExplorer, connect_forward_explorer
from studio.ui.gallery_panel import GalleryPanel, connect_gallery
from studio.ui.gallery_store import GalleryStore, default_gallery_folder
from studio.ui.generation import GenerationController
from studio.ui.inspector import NoiseInspector
from studio.ui.layers import Document
from studio.ui.model_status import ModelState, ModelStatus
from studio.ui.parameters import GenerationParameters, ParametersPanel, describe_model
from studio.ui.prompt_panel import PromptPanel
from studio.ui.restore_settings import restore_settings
from studio.ui.result_view import ResultPanel
from studio.ui.seed_panel import SeedPanel, SeedState, random_seed
from studio.ui.settings import open_settings, restore_model, save_model
from studio.ui.tool_panel import TOOL_LABELS, ToolPanel
from studio.ui.tools import ToolSettings
from studio.ui.worker import EngineLike, EngineService, default_engine_factory


class MessageBar(QFrame):
    """An error or notice above the canvas that stays until dismissed; nothing modal blocks painting."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setStyleSheet(
            "#messageBar { background: #5a1f24; border: 1px solid #a33; border-radius: 4px; }"
            "#messageBar QLabel { color: #ffdede; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close_button = QPushButton("Dismiss")
        close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close_button)
        self.hide()

    def show_message(self, message: str) -> None:
        self.label.setText(message)
        self.show()

    @property
    def message(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: QSettings | None = None,
        engine_factory: Callable[[], EngineLike] = default_engine_factory,
        load_model_on_show: bool = True,
        gallery_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.model_status = ModelStatus(self)
        self._going_back = False  # to the last model that loaded, after one that failed
        self._unsaved = False
        self.ask_before_discarding = True  # off for Ctrl+C / SIGTERM, which must not wait on a dialog
        self.setWindowTitle("Latent Studio")
        self.settings = settings if settings is not None else open_settings()
        self._load_model_on_show = load_model_on_show
        self._shown_once = False

        self.tool_settings = ToolSettings(self)
        self.parameters = GenerationParameters(self)
        self.seed_state = SeedState(self)
        self.seed_state.seed = random_seed()
        restore_model(self.settings, "tools", self.tool_settings)
        restore_model(self.settings, "parameters", self.parameters)
        restore_model(self.settings, "seed", self.seed_state)
        # The canvas takes the model's native size until the person sets one (or opens a picture).
        self._size_follows_model = not self.parameters.size_chosen
        # A first launch (nothing saved yet) takes the model's own steps, guidance and sampler.
        self._apply_model_defaults = not self.settings.contains("parameters/guidance_scale")
        self._syncing_size = False

        self.document = Document(self.parameters.width, self.parameters.height, self)
        self.canvas = CanvasView(self.document, self.tool_settings)
        self.message_bar = MessageBar()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(4, 4, 4, 4)
        central_layout.addWidget(self.message_bar)
        central_layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self._create_actions()
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
            self, self.document, self.parameters, self.seed_state, self.tool_settings,
            lambda: self.generation.last_result, lambda text: self.statusBar().showMessage(text, 15000),
            self.show_error,
        )
        self._create_docks()
        self._create_menus()
        self._create_status_bar()

        self.service = EngineService(engine_factory, self)
        self.generation = GenerationController(
            self.service, self.document, self.parameters, self.seed_state, self.tool_settings,
            self.canvas, self.result_panel, self.inspector, self.filmstrip, self,
        )
        connect_forward_explorer(
            self.forward_explorer, self.service, self.document, self.parameters, self.seed_state,
            self.show_error,
        )
        connect_gallery(
            self.gallery, self.generation.result_kept, self.put_on_canvas, self.restore_from_file,
            lambda text: self.statusBar().showMessage(text, 8000), self.show_error,
        )
        self._connect()
        # Next to the settings file: a --settings folder (or a test's) keeps its own autosave.
        autosave_folder = Path(self.settings.fileName()).parent
        self.autosaver = Autosaver(self.document, self.parameters, autosave_folder, self)
        self.autosaver.failed.connect(self.show_error)
        if self.autosaver.restore():
            self._size_follows_model = False
            self.statusBar().showMessage(
                "Restored the unsaved painting of the last session, which ended without saving it", 15000
            )
        self.setAcceptDrops(True)  # drop an image file to open it
        self.resize(1400, 900)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self._restore_info_tab(str(self.settings.value("window/info_tab", "")))

    # ---- construction -------------------------------------------------------------------------------
    def _restore_info_tab(self, name: str) -> None:
        """The Result dock opens on the tab it was left on (by name: tabs may be added or reordered)."""
        names = [self.info_tabs.tabText(index) for index in range(self.info_tabs.count())]
        if name in names:
            self.info_tabs.setCurrentIndex(names.index(name))

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
        self.generate_action = self._action("Generate", ["Ctrl+Return", "Ctrl+Enter"], self.generate)
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

    def _create_docks(self) -> None:
        tools_dock = QDockWidget("Tools", self)
        tools_dock.setObjectName("toolsDock")
        tools_dock.setWidget(self.tool_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, tools_dock)

        generate_widget = QWidget()
        generate_layout = QVBoxLayout(generate_widget)
        generate_layout.addWidget(self.prompt_panel)
        generate_layout.addWidget(self.progress_bar)
        generate_layout.addWidget(self.seed_panel)
        generate_layout.addWidget(self.parameters_panel)
        generate_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(generate_widget)
        scroll.setMinimumWidth(360)
        generate_dock = QDockWidget("Generate", self)
        generate_dock.setObjectName("generateDock")
        generate_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, generate_dock)

        tabs = QTabWidget()
        tabs.addTab(self.result_panel, "Last result")
        tabs.addTab(self.inspector, "Diffusion")
        tabs.addTab(self.filmstrip, "Steps")
        tabs.addTab(self.forward_explorer, "Forward")
        tabs.addTab(self.gallery, "Gallery")
        tabs.addTab(QUndoView(self.document.undo_stack), "History")
        tabs.setMinimumHeight(260)
        self.info_tabs = tabs
        info_dock = QDockWidget("Result", self)
        info_dock.setObjectName("resultDock")
        info_dock.setWidget(tabs)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, info_dock)

    def _create_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for action in (self.new_action, self.open_action, self.save_action, self.save_as_action,
                       self.export_action, None, self.search_gallery_action, None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit_menu = self.menuBar().addMenu("&Edit")
        for action in (self.undo_action, self.redo_action, None, self.clear_action, None,
                       self.invert_mask_action, self.clear_mask_action):
            edit_menu.addSeparator() if action is None else edit_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        for action in (self.fit_action, self.actual_size_action, self.zoom_in_action, self.zoom_out_action,
                       None, self.show_mask_action):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        tools_menu = self.menuBar().addMenu("&Tools")
        for action in self.tool_actions:
            tools_menu.addAction(action)
        tools_menu.addSeparator()
        tools_menu.addAction(self.smaller_brush_action)
        tools_menu.addAction(self.larger_brush_action)
        run_menu = self.menuBar().addMenu("&Generate")
        run_menu.addAction(self.generate_action)
        run_menu.addAction(self.pause_action)
        run_menu.addAction(self.cancel_action)

    def _create_status_bar(self) -> None:
        self.model_label = QLabel(self.model_status.label)
        self.pointer_label = QLabel()
        self.progress_label = QLabel()
        bar = self.statusBar()
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.pointer_label)
        bar.addPermanentWidget(self.model_label)

    def _connect(self) -> None:
        self.service.set_single_file_config(self.parameters.checkpoint_config)
        self.parameters.checkpoint_config_changed.connect(self._on_checkpoint_config_chosen)
        self.prompt_panel.generate_requested.connect(self.generate)
        self.prompt_panel.cancel_requested.connect(self.cancel_generation)
        self.prompt_panel.pause_requested.connect(self.generation.toggle_pause)
        self.generation.paused_changed.connect(self.prompt_panel.set_paused)
        self.generation.running_changed.connect(self.prompt_panel.set_running)
        self.generation.running_changed.connect(lambda _running: self._update_title())
        self.generation.progress_changed.connect(self._show_progress)
        self.generation.status_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.generation.error.connect(self.show_error)
        self.service.model_loading.connect(self.model_status.loading)
        self.service.model_ready.connect(self.model_status.ready)
        self.service.failed.connect(self._on_engine_failed)
        self.model_status.changed.connect(self._show_model_status)
        self.service.model_ready.connect(self._on_model_ready)
        self.parameters.model_changed.connect(self._on_model_chosen)
        self.parameters.precision_changed.connect(
            lambda precision: self.service.load_model(self.parameters.model, precision)
        )
        self.parameters.live_painting_changed.connect(
            lambda live: live and self.info_tabs.setCurrentWidget(self.result_panel)  # where live runs show
        )
        self.parameters.width_changed.connect(self._on_size_chosen)
        self.parameters.height_changed.connect(self._on_size_chosen)
        self.document.size_changed.connect(self._on_document_resized)
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
    def generate(self) -> None:
        self.message_bar.hide()
        self.generation.generate()

    def cancel_generation(self) -> None:
        self.generation.cancel()

    def _show_progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setValue(round(fraction * 1000))
        self.progress_bar.setFormat(text)
        # The permanent status-bar field follows the run; the finished message goes to the status line.
        self.progress_label.setText(text if self.service.busy and fraction < 1 else "")
        self._update_title()

    def _update_title(self) -> None:
        # The progress is in the title too, so it shows on the taskbar while the window is hidden.
        step = self.progress_bar.format().split(" · ")[0] if self.service.busy else ""
        unsaved = " *" if self._unsaved else ""  # the painting differs from its file
        idle_title = f"Latent Studio — {self.model_status.title}{unsaved}"
        self.setWindowTitle(f"{step} — Latent Studio" if step else idle_title)

    def _on_clean_changed(self, clean: bool) -> None:
        self._unsaved = not clean
        self._update_title()

    def show_error(self, message: str) -> None:
        self.message_bar.show_message(message)
        self.statusBar().showMessage(message, 10000)

    # ---- model -----------------------------------------------------------------------------------------
    def _show_model_status(self) -> None:
        self.model_label.setText(self.model_status.label)
        self.model_label.setToolTip(self.model_status.tooltip)
        self._update_title()

    def _on_model_ready(self, info: ModelInfo) -> None:
        self.statusBar().showMessage(f"Precision: {info.precision_reason}", 8000)
        if self._apply_model_defaults:
            self._apply_model_defaults = False
            self.parameters.steps = info.steps
            self.parameters.guidance_scale = info.guidance_scale
            self.parameters.scheduler = info.scheduler
            if info.few_step:
                self.parameters.live_steps = info.steps
                self.statusBar().showMessage(
                    f"{info.name} is a few-step model: LCM sampler, {info.steps} steps, guidance "
                    f"{info.guidance_scale:g} (live painting too)",
                    10000,
                )
        if self._size_follows_model:
            if self.document.undo_stack.count() == 0:
                self.document.reset(info.width, info.height)
            else:  # painted while the model loaded: the strokes are kept, scaled, in one undo step
                self.document.resize(info.width, info.height, "Canvas to the model's size")

    def _on_model_chosen(self, source: str) -> None:
        self._apply_model_defaults = not self._going_back
        self.service.load_model(source, self.parameters.precision)

    def _on_engine_failed(self, message: str) -> None:
        """A model that fails to load gives way to the one that worked before it, loaded again with
        the settings as they are, so the next Generate works."""
        loading = self.model_status.state is ModelState.LOADING
        self.model_status.load_failed()
        previous = self.model_status.last_ready_source
        if loading and previous is not None and previous != self.parameters.model:
            self.show_error(f"{message} Back to {describe_model(previous)}, which loaded before.")
            self._going_back = True
            try:
                self.parameters.model = previous
            finally:
                self._going_back = False

    # ---- canvas size: the parameters' size and the document's size are one value -------------------
    def _on_checkpoint_config_chosen(self, folder: str) -> None:
        self.service.set_single_file_config(folder)
        if Path(self.parameters.model).is_file():  # the checkpoint in use: load it again with this config
            self.service.load_model(self.parameters.model, self.parameters.precision)

    def _on_size_chosen(self, _value: int) -> None:
        if self._syncing_size:
            return
        self._size_follows_model = False
        self.parameters.size_chosen = True
        self.document.resize(self.parameters.width, self.parameters.height)

    def _on_document_resized(self, size: QSize) -> None:
        self._syncing_size = True
        try:
            self.parameters.width, self.parameters.height = size.width(), size.height()
        finally:
            self._syncing_size = False

    def _show_pointer(self, x: int, y: int) -> None:
        size = self.document.size()
        position = f"{x}, {y} · " if 0 <= x < size.width() and 0 <= y < size.height() else ""
        self.pointer_label.setText(f"{position}{size.width()}×{size.height()} · {self.canvas.zoom:.0%}")

    # ---- files ---------------------------------------------------------------------------------------
    def new_document(self) -> bool:
        """A blank canvas at the size set, with no history (asks first about unsaved strokes)."""
        if self._unsaved and self.ask_before_discarding and not self._may_discard_painting():
            return False
        self.document.reset(self.parameters.width, self.parameters.height)
        self.canvas.fit()
        return True

    def open_image(self, path: str | Path) -> bool:
        """A picture (its PNG settings restored into the panels) or a .lsdoc document."""
        opened = self.files.open(path)
        if opened:
            self._size_follows_model = False
            self.canvas.fit()
        return opened

    def save_image(self, path: str | Path) -> bool:
        """A .lsdoc document, or a picture (PNG with its settings) of the canvas."""
        return self.files.save(path)

    def _may_discard_painting(self) -> bool:
        """Save / Discard / Cancel before unsaved strokes are lost, as every painting program asks."""
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            self.files.save_current()
            return not self._unsaved
        return answer == QMessageBox.StandardButton.Discard

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

    def put_on_canvas(self, path: Path) -> None:
        """A gallery picture becomes the canvas, as one undo step."""
        image, problem = read_picture(path)
        if image is None:
            self.show_error(f"Could not put {path.name} on the canvas: {problem}.")
            return
        self._size_follows_model = False
        self.document.load_image(image, f"From the gallery: {path.name}")
        self.canvas.fit()

    def restore_from_file(self, path: Path) -> None:
        """Everything the file records, its model, init image and mask included (the person asked)."""
        self._size_follows_model = False
        message = restore_settings(path, self.parameters, self.seed_state, self.tool_settings, self.document)
        self.statusBar().showMessage(message, 15000)

    # ---- lifecycle -------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._show_pointer(-1, -1)
            if self._load_model_on_show:
                # After the first paint: the window is up before the worker starts importing torch.
                QTimer.singleShot(
                    50, lambda: self.service.load_model(self.parameters.model, self.parameters.precision)
                )

    def save_settings(self) -> None:
        save_model(self.settings, "tools", self.tool_settings)
        save_model(self.settings, "parameters", self.parameters)
        save_model(self.settings, "seed", self.seed_state)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/info_tab", self.info_tabs.tabText(self.info_tabs.currentIndex()))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._unsaved and self.ask_before_discarding and not self._may_discard_painting():
            event.ignore()  # the user chose Cancel, or the save did not happen: keep working
            return
        self.save_settings()
        # Kept when nobody was asked about unsaved strokes (Ctrl+C, SIGTERM): the next launch restores them.
        self.autosaver.close(keep=self._unsaved and not self.ask_before_discarding)
        self.gallery.store.close()  # waits for results still being written: none is lost
        self.generation.live_timer.stop()
        self.hide()  # the window goes at once; the engine thread may need a moment to stop
        self.service.shutdown()
        event.accept()
