"""Every step of the last run as a small picture; pick one and Branch reruns from there.

The pictures are the run's own previews, scaled to thumbnails as they arrive, so the strip's memory
stays small for runs of any length.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

THUMBNAIL_PX = 64


class Filmstrip(QWidget):
    branch_requested = Signal(int, bool)  # step, fresh noise for the steps after it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frames = QListWidget()
        self.frames.setViewMode(QListView.ViewMode.IconMode)
        self.frames.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.frames.setMovement(QListView.Movement.Static)
        self.frames.setResizeMode(QListView.ResizeMode.Adjust)
        self.fresh_noise_check = QCheckBox("New noise after it (ancestral samplers: Euler a, DDPM)")
        self.branch_button = QPushButton("Branch from this step")
        self.branch_button.setToolTip(
            "Rerun from the picked step with the prompt and guidance as they are now (and new noise if "
            "ticked): variations that keep the composition decided before it"
        )
        self.branch_button.setEnabled(False)
        self.hint = QLabel("The steps of the last run show here.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.frames, 1)
        layout.addWidget(self.fresh_noise_check)
        layout.addWidget(self.branch_button)
        self.frames.currentRowChanged.connect(lambda _row: self._update_button())
        self.branch_button.clicked.connect(self._branch)
        self._branchable = False

    def start_run(self) -> None:
        self.frames.clear()
        self.set_branchable(False)

    def add_step(self, step: int, picture: QImage) -> None:
        thumbnail = picture.scaled(
            THUMBNAIL_PX, THUMBNAIL_PX, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumbnail)), str(step))
        item.setData(Qt.ItemDataRole.UserRole, step)
        self.frames.addItem(item)

    def set_branchable(self, branchable: bool) -> None:
        """A finished run can be branched; a live or running one cannot."""
        self._branchable = branchable
        self._update_button()

    @property
    def steps(self) -> list[int]:
        return [self.frames.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.frames.count())]

    def _update_button(self) -> None:
        self.branch_button.setEnabled(self._branchable and self.frames.currentItem() is not None)

    def _branch(self) -> None:
        item = self.frames.currentItem()
        if item is not None:
            step = item.data(Qt.ItemDataRole.UserRole)
            self.branch_requested.emit(step, self.fresh_noise_check.isChecked())
