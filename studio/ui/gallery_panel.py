"""The Gallery tab: every kept result as a thumbnail, newest first, searchable by prompt.

Keyboard: arrows move, Enter shows the picture large, Shift+Enter puts it on the canvas, Ctrl+R
restores its settings, Ctrl+C copies its seed, Delete moves it to the trash; Ctrl+F (anywhere in the
window) opens the tab at its search box.

Thumbnails are asked for only when the view paints an entry (QListView with uniform item sizes asks
for the visible rows alone), decoded off the GUI thread and kept in a bounded cache, so a folder of
10,000 results costs a list of names, not 10,000 pictures.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QFile,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
    SignalInstance,
)
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.gallery_store import THUMBNAIL_PX, GalleryEntry, GalleryStore
from studio.ui.picture_reading import read_picture
from studio.ui.result_view import ImageView

THUMBNAIL_CACHE_SIZE = 600  # a few screens of thumbnails; older ones are decoded again when needed
SEARCH_DELAY_MS = 150
Index = QModelIndex | QPersistentModelIndex
PATH_ROLE = Qt.ItemDataRole.UserRole


class GalleryModel(QAbstractListModel):
    """The entries that match the search, newest first."""

    def __init__(self, store: GalleryStore, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._all: list[GalleryEntry] = []
        self._shown: list[GalleryEntry] = []
        self._rows: dict[str, int] | None = {}  # file name -> row of the shown entries; see row_of
        self._search = ""
        self._thumbnails: OrderedDict[Path, QPixmap] = OrderedDict()
        self._asked: set[Path] = set()
        self._placeholder = QPixmap(THUMBNAIL_PX, THUMBNAIL_PX)
        self._placeholder.fill(Qt.GlobalColor.darkGray)
        store.listed.connect(self.set_entries)
        store.thumbnail_ready.connect(self._on_thumbnail)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._shown):
            return None
        entry = self._shown[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(entry.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            seed = "" if entry.seed is None else f"\nseed {entry.seed}"
            return f"{entry.prompt or '(no prompt recorded)'}{seed}\n{entry.path.name}"
        if role == PATH_ROLE:
            return str(entry.path)
        return None

    def entry(self, row: int) -> GalleryEntry | None:
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def row_of(self, path: Path) -> int:
        if self._rows is None:  # built when first asked (a thumbnail, the pick kept across a relisting)
            self._rows = {entry.name: row for row, entry in enumerate(self._shown)}
        return self._rows.get(path.name, -1)

    @property
    def total(self) -> int:
        return len(self._all)

    def set_entries(self, entries: list[GalleryEntry]) -> None:
        self._all = entries
        if self._thumbnails:  # the thumbnails of files that are gone go too
            present = {entry.name for entry in entries}
            for path in [path for path in self._thumbnails if path.name not in present]:
                del self._thumbnails[path]
        self._refilter()

    def set_search(self, text: str) -> None:
        self._search = text.strip().casefold()
        self._refilter()

    def _refilter(self) -> None:
        # By hand, not QSortFilterProxyModel: the proxy would call data() in Python once per row
        # for each keystroke. Here one pass per word over the prompts (casefolded by the scanner),
        # and rows keyed by file name (a str caches its hash; a Path works its hash out each time).
        shown = self._all
        for word in self._search.split():
            shown = [entry for entry in shown if word in entry.search_text]
        # A rescan hands back the same objects for unchanged files: identity is the quick comparison.
        if len(shown) != len(self._shown) or not all(map(operator.is_, shown, self._shown)):
            self.beginResetModel()
            self._shown = list(shown)
            self._rows = None
            self.endResetModel()

    def _thumbnail(self, path: Path) -> QPixmap:
        pixmap = self._thumbnails.get(path)
        if pixmap is not None:
            self._thumbnails.move_to_end(path)
            return pixmap
        if path not in self._asked:
            self._asked.add(path)
            self.store.request_thumbnail(path)
        return self._placeholder

    def _on_thumbnail(self, path: Path, image: QImage) -> None:
        self._asked.discard(path)
        self._thumbnails[path] = QPixmap.fromImage(image)  # pixmaps only on the GUI thread
        while len(self._thumbnails) > THUMBNAIL_CACHE_SIZE:
            self._thumbnails.popitem(last=False)
        row = self.row_of(path)
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row), [Qt.ItemDataRole.DecorationRole])


class LargeView(QDialog):
    """One gallery picture as large as the screen allows; Esc closes it."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(path.name)
        view = ImageView("This file cannot be shown.")
        view.set_image(read_picture(path)[0])  # upright, as the canvas would show it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)
        screen = self.screen().availableGeometry().size() if self.screen() else QSize(1024, 768)
        self.resize(screen * 0.8)


class GalleryPanel(QWidget):
    """Search box, thumbnails, and what can be done with the picked one."""

    put_on_canvas_requested = Signal(object)  # Path
    restore_requested = Signal(object)  # Path
    message = Signal(str)  # one line for the status bar

    def __init__(self, store: GalleryStore, parent: QWidget | None = None) -> None:
        """Builds the tab top to bottom as it shows (search, grid, large view, buttons) and wires each
        control beside where it is made: long, but one straight read with no branches."""
        super().__init__(parent)
        self.store = store
        self.model = GalleryModel(store, self)
        self.search = QLineEdit(placeholderText="Search prompts (Ctrl+F)", clearButtonEnabled=True)
        self.count_label = QLabel()
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.view.setGridSize(QSize(THUMBNAIL_PX + 8, THUMBNAIL_PX + 8))
        self.view.setUniformItemSizes(True)  # lays out 10,000 entries without asking each its size
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.buttons = {
            name: QPushButton(label) for name, label in (
                ("large", "View"), ("canvas", "To canvas"), ("restore", "Restore settings"),
                ("seed", "Copy seed"), ("delete", "Delete"), ("reveal", "Show folder"),
            )
        }
        tips = {
            "large": "Show it large (Enter)", "canvas": "Put it on the canvas, one undo step (Shift+Enter)",
            "restore": "Prompt, seed, steps, guidance, sampler, size, strength, model and mask settings "
                       "as the file records them; its init image and mask too (Ctrl+R)",
            "seed": "Copy its seed (Ctrl+C)", "delete": "Move the file to the trash (Delete)",
            "reveal": "Open the gallery folder in the file manager",
        }
        for name, button in self.buttons.items():
            button.setToolTip(tips[name])
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.count_label)
        button_rows = [QHBoxLayout(), QHBoxLayout()]
        for position, button in enumerate(self.buttons.values()):
            button_rows[position // 3].addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(self.view, 1)
        for row in button_rows:
            layout.addLayout(row)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.model.set_search(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.model.modelReset.connect(self._after_reset)
        self.view.activated.connect(lambda _index: self.show_large())  # Enter and double-click
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        actions = {
            "large": self.show_large, "canvas": self._put_on_canvas, "restore": self._restore,
            "seed": self.copy_seed, "delete": self.delete_current, "reveal": self.reveal,
        }
        for name, action in actions.items():
            self.buttons[name].clicked.connect(action)
        # Keys the window's own shortcuts leave free (Ctrl+Enter generates, R is the mask rectangle).
        for keys, action in (("Shift+Return", self._put_on_canvas), ("Ctrl+R", self._restore),
                             (QKeySequence.StandardKey.Copy, self.copy_seed),
                             (QKeySequence.StandardKey.Delete, self.delete_current)):
            shortcut = QShortcut(QKeySequence(keys), self.view, context=Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(action)
        self._selected_path: Path | None = None
        self._update_buttons()

    # ---- the picked entry ------------------------------------------------------------------------------
    def current_entry(self) -> GalleryEntry | None:
        return self.model.entry(self.view.currentIndex().row())

    def select_row(self, row: int) -> None:
        self.view.setCurrentIndex(self.model.index(row))

    def _after_reset(self) -> None:
        """Keeps the picked picture picked across a rescan or a search, where it is still listed."""
        shown, total = self.model.rowCount(), self.model.total
        self.count_label.setText(f"{shown:,}" if shown == total else f"{shown:,} of {total:,}")
        row = self.model.row_of(self._selected_path) if self._selected_path else -1
        self.select_row(row if row >= 0 else 0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        entry = self.current_entry()
        self._selected_path = entry.path if entry else self._selected_path
        for name, button in self.buttons.items():
            usable = entry is not None and (name != "seed" or entry.seed is not None)
            button.setEnabled(name == "reveal" or usable)

    # ---- actions ---------------------------------------------------------------------------------------
    def show_large(self) -> QDialog | None:
        entry = self.current_entry()
        if entry is None:
            return None
        dialog = LargeView(entry.path, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _put_on_canvas(self) -> None:
        if entry := self.current_entry():
            self.put_on_canvas_requested.emit(entry.path)

    def _restore(self) -> None:
        if entry := self.current_entry():
            self.restore_requested.emit(entry.path)

    def copy_seed(self) -> None:
        entry = self.current_entry()
        if entry is not None and entry.seed is not None:
            QGuiApplication.clipboard().setText(str(entry.seed))
            self.message.emit(f"Copied seed {entry.seed}")

    def delete_current(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        row = self.view.currentIndex().row()
        if QFile.moveToTrash(str(entry.path)):
            self.message.emit(f"Moved {entry.path.name} to the trash")
        elif not entry.path.exists():
            pass  # already gone (deleted by hand): the scan below drops it
        elif self.confirm_permanent_delete(entry.path):
            try:
                entry.path.unlink()
            except OSError as error:
                self.message.emit(f"Could not delete {entry.path.name}: {error}")
                return
            self.message.emit(f"Deleted {entry.path.name}")
        else:
            return
        following = self.model.entry(row + 1) or self.model.entry(row - 1)
        self._selected_path = following.path if following else None  # the next one is picked
        self.store.scan()

    def confirm_permanent_delete(self, path: Path) -> bool:
        """Asked only where the system has no trash for the file (Qt knows each system's)."""
        button = QMessageBox.StandardButton
        question = f"This system has no trash for {path.name}. Delete it for good?"
        return QMessageBox.question(self, "No trash here", question, button.Yes | button.Cancel,
                                    button.Cancel) == button.Yes

    def reveal(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.store.folder)))


def connect_gallery(
    panel: GalleryPanel,
    result_kept: SignalInstance,
    put_on_canvas: Callable[[Path], None],
    restore: Callable[[Path], None],
    show_message: Callable[[str], None],
    show_error: Callable[[str], None],
) -> None:
    """Kept results go into the gallery folder; its entries come back to the canvas and the panels."""
    store = panel.store
    result_kept.connect(store.save_result)
    store.written.connect(lambda path: show_message(f"Kept in the gallery as {path.name}"))
    store.written.connect(lambda _path: store.rescan_soon())  # a batch's files: one scan, not one each
    store.write_failed.connect(show_error)
    panel.put_on_canvas_requested.connect(put_on_canvas)
    panel.restore_requested.connect(restore)
    panel.message.connect(show_message)
    store.watch()
