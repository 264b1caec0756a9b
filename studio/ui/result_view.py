"""The last run's result beside the canvas, and the batch's images as thumbnails to pick from.

Live painting shows its runs here, so the sketch under the brush is never covered.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget


class ImageView(QWidget):
    """Paints one image scaled smoothly to fit, keeping its aspect ratio."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = placeholder
        self.image: QImage | None = None
        self.setMinimumSize(128, 128)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().dark())
        if self.image is not None and not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = self.rect()
            target.setSize(size)
            target.moveCenter(self.rect().center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self.image)
        elif self.placeholder:
            painter.setPen(self.palette().light().color())
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
        painter.end()


class ResultPanel(QWidget):
    """The last result (or the live run's preview), the batch thumbnails, and 'apply to canvas'."""

    apply_requested = Signal(int)  # index into the batch

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView("The last result shows here; with live painting on, each stroke's run too.")
        self.thumbnails = QListWidget()
        self.thumbnails.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbnails.setIconSize(QSize(56, 56))
        self.thumbnails.setFixedHeight(76)
        self.thumbnails.setFlow(QListWidget.Flow.LeftToRight)
        self.thumbnails.setWrapping(False)
        self.thumbnails.hide()  # shown only for a batch of more than one image
        self.thumbnails.setToolTip("Click an image of the batch to see it; Apply puts it on the canvas")
        self.apply_button = QPushButton("Apply to canvas")
        self.apply_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.thumbnails)
        layout.addWidget(self.apply_button)
        self._pictures: tuple[QImage, ...] = ()
        self.thumbnails.currentRowChanged.connect(self._show_row)
        self.apply_button.clicked.connect(
            lambda: self.apply_requested.emit(max(0, self.thumbnails.currentRow()))
        )

    def show_preview(self, image: QImage | None) -> None:
        self.view.set_image(image)

    def set_images(self, pictures: tuple[QImage, ...], seeds: tuple[int, ...]) -> None:
        """The batch's pictures, shared with their maker (the canvas lands the same QImage): not copied."""
        self._pictures = pictures
        self.thumbnails.blockSignals(True)
        self.thumbnails.clear()
        for picture, seed in zip(pictures, seeds, strict=False):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(picture)), "")
            item.setToolTip(f"seed {seed}")
            self.thumbnails.addItem(item)
        self.thumbnails.setCurrentRow(0 if pictures else -1)
        self.thumbnails.blockSignals(False)
        self.thumbnails.setVisible(len(pictures) > 1)
        self.apply_button.setEnabled(bool(pictures))
        self._show_row(0)

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(self._pictures):
            self.view.set_image(self._pictures[row])
