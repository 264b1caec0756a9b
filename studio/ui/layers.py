"""The picture being edited: a paint layer, a mask layer and the last run's result, with undoable edits.

Every edit is a QUndoCommand holding the before and after pixels of the region it touched, so paint
strokes, mask strokes, results and resizes share one QUndoStack yet each keeps its own history entry.
An inpainting result touches only the box around its mask, and its command holds only that box.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from PySide6.QtCore import QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QUndoCommand, QUndoStack

from studio.ui.image_convert import alpha8_from_array, alpha_view, qimage_from_rgb
from studio.ui.observable import Observable

# Steps kept for Ctrl+Z. Each holds pixels (a 512x512 result about 2 MB), so an unbounded history grows
# with every run: 1,000 generations would hold gigabytes. Painting apps keep a bounded one too.
UNDO_LIMIT = 100

PAINT_FORMAT = QImage.Format.Format_ARGB32_Premultiplied
MASK_FORMAT = QImage.Format.Format_Alpha8  # alpha 255 = "repaint here", as GenerationRequest.mask
BACKGROUND = QColor(255, 255, 255)


class LayerKind(StrEnum):
    PAINT = "paint"
    MASK = "mask"


class Layer:
    """One full-canvas image owned by the Document; every change to it ends up as one undo command."""

    def __init__(self, kind: LayerKind, size: QSize) -> None:
        self.kind = kind
        self.image = QImage(size, PAINT_FORMAT if kind is LayerKind.PAINT else MASK_FORMAT)
        self.image.fill(0)


class Document(QObject):
    """The canvas model: layers, their undo stack and the last generated result."""

    layer_changed = Signal(object, QRect)  # (Layer, region in canvas pixels)
    size_changed = Signal(QSize)
    mask_visible_changed = Signal(bool)
    last_result_changed = Signal(object)  # QImage or None

    mask_visible = Observable(True)

    def __init__(self, width: int = 512, height: int = 512, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.paint = Layer(LayerKind.PAINT, QSize(width, height))
        self.mask = Layer(LayerKind.MASK, QSize(width, height))
        self.last_result: QImage | None = None

    def reset(self, width: int, height: int) -> None:
        """A fresh blank canvas with no history (a new document, not an edit)."""
        self.undo_stack.clear()
        images = {}
        for layer in self.layers:
            image = QImage(width, height, layer.image.format())
            image.fill(0)
            images[layer.kind] = image
        self._set_images(images)

    # ---- reading -------------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, Layer]:
        return (self.paint, self.mask)

    def size(self) -> QSize:
        return self.paint.image.size()

    def rect(self) -> QRect:
        return self.paint.image.rect()

    def flattened(self) -> QImage:
        """The paint layer over the white background, as the user sees it without the mask."""
        return self._flatten_into(QImage(self.size(), QImage.Format.Format_RGB888))

    def flattened_rgb(self) -> np.ndarray:
        """What flattened() shows, as H x W x 3 uint8: painted straight into the array, in one pass."""
        width, height = self.size().width(), self.size().height()
        rgb = np.empty((height, width, 3), np.uint8)
        # The QImage writes into rgb's own memory, and goes before rgb does.
        self._flatten_into(QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888))
        return rgb

    def _flatten_into(self, image: QImage) -> QImage:
        image.fill(BACKGROUND)
        painter = QPainter(image)
        painter.drawImage(0, 0, self.paint.image)
        painter.end()
        return image

    def mask_view(self) -> np.ndarray:
        """The mask layer's own bytes as a read-only H x W view: valid until the mask next changes."""
        return alpha_view(self.mask.image)

    def mask_array(self) -> np.ndarray:
        return self.mask_view().copy()

    def paint_is_blank(self) -> bool:
        return not alpha_view(self.paint.image).any()

    def mask_is_empty(self) -> bool:
        return not self.mask_view().any()

    def colour_at(self, point: QPoint) -> QColor | None:
        """The colour the user sees at `point`: the paint pixel over the white background."""
        if not self.rect().contains(point):
            return None
        paint = self.paint.image.pixelColor(point)
        alpha = paint.alphaF()
        return QColor.fromRgbF(*(channel * alpha + 1.0 - alpha for channel in paint.getRgbF()[:3]))

    # ---- undoable edits ---------------------------------------------------------------------------
    def push_region_edit(self, layer: Layer, region: QRect, before: QImage, text: str) -> None:
        """Record an edit already made to `layer` inside `region`; `before` holds the old pixels there."""
        region = region.intersected(self.rect())
        if region.isEmpty():
            return
        after = layer.image.copy(region)
        self.undo_stack.push(RegionEditCommand(self, layer, region.topLeft(), before, after, text))

    def replace_region(
        self, layer: Layer, top_left: QPoint, pixels: QImage, text: str, from_a_run: bool = False
    ) -> None:
        region = QRect(top_left, pixels.size()).intersected(self.rect())
        if region.isEmpty():
            return
        before = layer.image.copy(region)
        inside = region.translated(-top_left)
        # Cut first, then convert: only the region's pixels are ever copied. A whole image of the layer's
        # format is shared, not copied (QImage copies on write).
        after = pixels if inside == pixels.rect() else pixels.copy(inside)
        after = after.convertToFormat(layer.image.format())
        command = RegionEditCommand(self, layer, region.topLeft(), before, after, text)
        command.from_a_run = from_a_run
        self.undo_stack.push(command)

    def clear_paint(self) -> None:
        blank = QImage(self.size(), PAINT_FORMAT)
        blank.fill(0)
        self.replace_region(self.paint, QPoint(0, 0), blank, "Clear canvas")

    def apply_result(self, picture: QImage, changed: QRect | None = None) -> None:
        """Put a generated picture on the paint layer as one undo step.

        `changed` is the only part of the canvas where the picture can differ from it (an inpaint's box
        around its feathered mask: the engine gives every pixel outside it back exactly); only that part
        is written, and the undo step holds only its before and after pixels. A picture of another size
        than the canvas (resized during the run) is scaled to fill the canvas, all of it.
        """
        if picture.size() != self.size():
            picture = picture.scaled(self.size(), mode=Qt.TransformationMode.SmoothTransformation)
            changed = None
        self.set_last_result(picture)
        region = self.rect() if changed is None else changed.intersected(self.rect())
        if region == self.rect():
            self.replace_region(self.paint, QPoint(0, 0), picture, "Result", from_a_run=True)
        elif not region.isEmpty():
            self.replace_region(self.paint, region.topLeft(), picture.copy(region), "Result", from_a_run=True)

    def put_picture(self, rgb: np.ndarray, text: str) -> None:
        """A canvas-sized picture on the paint layer as one undo step (a paused run's guess)."""
        self.replace_region(self.paint, QPoint(0, 0), qimage_from_rgb(rgb), text)

    def paste_picture(self, picture: QImage) -> QRect:
        """`picture` over the paint layer as one undo step "Paste": scaled down (never up) to fit the
        canvas, centred, drawn over what is there (its transparent parts keep it). Where it landed."""
        size = picture.size()
        if size.width() > self.size().width() or size.height() > self.size().height():
            size = size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        placed = QRect(QPoint(0, 0), size)
        placed.moveCenter(self.rect().center())
        placed = placed.intersected(self.rect())
        pixels = self.paint.image.copy(placed)  # what is under it, for the transparent parts
        painter = QPainter(pixels)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(pixels.rect(), picture)
        painter.end()
        self.replace_region(self.paint, placed.topLeft(), pixels, "Paste")
        return placed

    def set_last_result(self, image: QImage | None) -> None:
        self.last_result = image
        self.last_result_changed.emit(image)

    def clear_mask(self) -> None:
        self.set_mask(np.zeros((self.size().height(), self.size().width()), np.uint8), "Clear mask")

    def invert_mask(self) -> None:
        self.set_mask(255 - self.mask_view(), "Invert mask")

    def add_mask_rect(self, region: QRect) -> None:
        """'Mask from selection': the rectangle joins the mask."""
        region = region.normalized().intersected(self.rect())
        if region.isEmpty():
            return
        patch = QImage(region.size(), MASK_FORMAT)
        patch.fill(QColor(0, 0, 0, 255))
        self.replace_region(self.mask, region.topLeft(), patch, "Mask from selection")

    def set_mask(self, mask: np.ndarray, text: str = "Set mask") -> None:
        self.replace_region(self.mask, QPoint(0, 0), alpha8_from_array(mask), text)

    def resize(self, width: int, height: int, text: str = "Resize canvas") -> None:
        """Change the canvas size by scaling the painting and the mask to it: no stroke is cut off
        (the way the popular web UI's "just resize" treats a sketch), and one undo step restores it."""
        if QSize(width, height) == self.size():
            return
        before = {layer.kind: layer.image.copy() for layer in self.layers}
        after = {}
        for layer in self.layers:
            scaled = layer.image.scaled(
                width, height, mode=Qt.TransformationMode.SmoothTransformation  # aspect ignored: it fills
            )
            after[layer.kind] = scaled.convertToFormat(layer.image.format())
        self.undo_stack.push(WholeDocumentCommand(self, before, after, text))

    def load_image(self, image: QImage, text: str = "Open image") -> None:
        """Replace the canvas by `image` at its own size; the mask is cleared."""
        mask = QImage(image.size(), MASK_FORMAT)
        mask.fill(0)
        self.load_layers(image, mask, text)

    def load_layers(self, paint: QImage, mask: QImage, text: str) -> None:
        """Replace both layers (a document file or an autosave) as one undo step."""
        if paint.size() != mask.size():
            raise ValueError("the paint and mask layers differ in size")
        before = {layer.kind: layer.image.copy() for layer in self.layers}
        after = {
            LayerKind.PAINT: paint.convertToFormat(PAINT_FORMAT),
            LayerKind.MASK: mask.convertToFormat(MASK_FORMAT),
        }
        self.undo_stack.push(WholeDocumentCommand(self, before, after, text))

    def notify_layer_changed(self, layer: Layer, region: QRect) -> None:
        """A tool painted into `layer` live (its undo command comes when the stroke ends)."""
        self.layer_changed.emit(layer, region)

    # ---- used by the commands only ------------------------------------------------------------------
    def _write_region(self, layer: Layer, top_left: QPoint, pixels: QImage) -> None:
        painter = QPainter(layer.image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(top_left, pixels)
        painter.end()
        self.layer_changed.emit(layer, QRect(top_left, pixels.size()))

    def _set_images(self, images: dict[LayerKind, QImage]) -> None:
        old_size = self.size()
        for layer in self.layers:
            layer.image = images[layer.kind].copy()
        if self.size() != old_size:
            self.size_changed.emit(self.size())
        for layer in self.layers:
            self.layer_changed.emit(layer, self.rect())


class RegionEditCommand(QUndoCommand):
    """Before/after pixels of one rectangle of one layer. redo() is idempotent, so pushing a command
    for an edit already made (a stroke painted live) simply writes the same pixels again."""

    def __init__(
        self, document: Document, layer: Layer, top_left: QPoint, before: QImage, after: QImage, text: str
    ) -> None:
        super().__init__(text)
        self.document, self.layer, self.top_left = document, layer, top_left
        self.before, self.after = before, after
        self.from_a_run = False  # a result landing, not the person's edit (live painting ignores it)

    def redo(self) -> None:
        self.document._write_region(self.layer, self.top_left, self.after)

    def undo(self) -> None:
        self.document._write_region(self.layer, self.top_left, self.before)


class WholeDocumentCommand(QUndoCommand):
    """Every layer replaced at once: resizing and opening an image."""

    def __init__(
        self, document: Document, before: dict[LayerKind, QImage], after: dict[LayerKind, QImage], text: str
    ) -> None:
        super().__init__(text)
        self.document, self.before, self.after = document, before, after

    def redo(self) -> None:
        self.document._set_images(self.after)

    def undo(self) -> None:
        self.document._set_images(self.before)
