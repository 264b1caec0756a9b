"""The canvas widget: shows the Document (paint, live preview, mask as a tint), zooms, pans and hands
pointer input (with tablet pressure) to the active tool."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from studio.ui.layers import BACKGROUND, PAINT_FORMAT, Document, Layer, LayerKind
from studio.ui.tools import ColourPickerTool, Tool, ToolName, ToolSettings, make_tool

MASK_TINT = QColor(230, 40, 90)
MASK_OPACITY = 0.45
MIN_ZOOM, MAX_ZOOM = 0.05, 32.0


class CanvasView(QWidget):
    """Draws the document under a zoom/pan transform; all editing goes through tools and the Document."""

    zoom_changed = Signal(float)
    pointer_moved = Signal(int, int)  # canvas pixel under the pointer, for the status bar

    def __init__(
        self, document: Document, tool_settings: ToolSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.document, self.tool_settings = document, tool_settings
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(240, 240)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._auto_fit = True  # keep fitting the window until the user zooms
        self._tool: Tool = make_tool(tool_settings.tool, document, tool_settings)
        self._active_tool: Tool = self._tool  # the tool of the press going on (Alt may swap in the picker)
        self._drawing = False
        self._panning_from: QPointF | None = None
        self._space_held = False
        self._hover: QPointF | None = None
        self._preview: QImage | None = None
        self._preview_region: QRect | None = None
        self._mask_overlay = QImage()
        self._rebuild_mask_overlay()
        document.layer_changed.connect(self._on_layer_changed)
        document.size_changed.connect(self._on_size_changed)
        document.mask_visible_changed.connect(lambda _visible: self.update())
        tool_settings.tool_changed.connect(self._on_tool_changed)

    # ---- view transform -------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def view_transform(self) -> QTransform:
        return QTransform(self._zoom, 0, 0, self._zoom, self._offset.x(), self._offset.y())

    def to_canvas(self, widget_point: QPointF) -> QPointF:
        return (widget_point - self._offset) / self._zoom

    def to_widget(self, canvas_point: QPointF) -> QPointF:
        return canvas_point * self._zoom + self._offset

    def fit(self) -> None:
        size = self.document.size()
        available = QSize(max(1, self.width() - 24), max(1, self.height() - 24))
        self._set_zoom(min(available.width() / size.width(), available.height() / size.height()))
        self._offset = QPointF((self.width() - size.width() * self._zoom) / 2,
                               (self.height() - size.height() * self._zoom) / 2)
        self._auto_fit = True
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        under_anchor = self.to_canvas(anchor)
        self._set_zoom(self._zoom * factor)
        self._offset = anchor - under_anchor * self._zoom
        self._auto_fit = False
        self.update()

    def set_actual_size(self) -> None:
        self.zoom_by(1.0 / self._zoom)

    def _set_zoom(self, zoom: float) -> None:
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if zoom != self._zoom:
            self._zoom = zoom
            self.zoom_changed.emit(zoom)

    # ---- live preview -----------------------------------------------------------------------------
    def set_preview(
        self, image: QImage | None, region: QRect | None = None, mask: QImage | None = None
    ) -> None:
        """Paint `image` over `region` of the canvas (default all of it), scaled smoothly; None hides it.

        With `mask` (Alpha8, canvas-sized: the feathered inpainting mask) the preview shows only where
        the run may change pixels, so what stays untouched looks untouched while the run goes.
        """
        if image is not None and mask is not None:
            image = _masked_preview(image, region or self.document.rect(), mask)
        self._preview = image
        self._preview_region = region
        self.update()

    @property
    def preview(self) -> QImage | None:
        return self._preview

    # ---- document updates ---------------------------------------------------------------------------
    def _on_layer_changed(self, layer: Layer, region: QRect) -> None:
        if layer.kind is LayerKind.MASK:
            self._update_mask_overlay(region)
        self.update(self.view_transform().mapRect(QRectF(region)).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _on_size_changed(self, _size: QSize) -> None:
        self._active_tool.abort()
        self._drawing = False
        self._rebuild_mask_overlay()
        if self._auto_fit:
            self.fit()
        self.update()

    def _rebuild_mask_overlay(self) -> None:
        self._mask_overlay = QImage(self.document.size(), PAINT_FORMAT)
        self._update_mask_overlay(self.document.rect())

    def _update_mask_overlay(self, region: QRect) -> None:
        # The mask is alpha only; tint it once per change here rather than on every repaint.
        painter = QPainter(self._mask_overlay)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(region, self.document.mask.image, region)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(region, MASK_TINT)
        painter.end()

    def _on_tool_changed(self, name: str) -> None:
        self._active_tool.abort()
        self._drawing = False
        self._tool = self._active_tool = make_tool(name, self.document, self.tool_settings)
        self.update()

    # ---- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().dark())
        painter.setTransform(self.view_transform())
        canvas_rect = QRectF(self.document.rect())
        painter.fillRect(canvas_rect, BACKGROUND)
        # Zoomed out, smooth scaling reads better; zoomed in, crisp pixels help precise painting.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1.0)
        painter.drawImage(canvas_rect, self.document.paint.image)
        if self._preview is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            target = QRectF(self._preview_region) if self._preview_region is not None else canvas_rect
            painter.drawImage(target, self._preview)
        if self.document.mask_visible:
            painter.setOpacity(MASK_OPACITY)
            painter.drawImage(canvas_rect, self._mask_overlay)
            painter.setOpacity(1.0)
        selection = self._tool.selection_rect()
        if selection is not None:
            pen = QPen(QColor(255, 255, 255), 0, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(selection)
        painter.resetTransform()
        painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
        painter.drawRect(self.view_transform().mapRect(canvas_rect).adjusted(-1, -1, 0, 0))
        diameter = self._tool.cursor_diameter() * self._zoom
        if self._hover is not None and diameter > 2 and self._panning_from is None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            for colour, width in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255, 220), 1)):
                painter.setPen(QPen(colour, width))
                painter.drawEllipse(self._hover, diameter / 2, diameter / 2)
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._auto_fit:
            self.fit()
        super().resizeEvent(event)

    # ---- pointer input ----------------------------------------------------------------------------
    def _start(
        self, position: QPointF, button: Qt.MouseButton, pressure: float, modifiers: Qt.KeyboardModifier
    ) -> None:
        left = button == Qt.MouseButton.LeftButton
        if button == Qt.MouseButton.MiddleButton or (left and self._space_held):
            self._panning_from = position
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif left:
            painting = self.tool_settings.tool in (ToolName.BRUSH, ToolName.ERASER)
            if painting and modifiers & Qt.KeyboardModifier.AltModifier:
                # Alt+click picks a colour without leaving the brush, as painting apps do.
                self._active_tool = ColourPickerTool(self.document, self.tool_settings)
            else:
                self._active_tool = self._tool
            self._drawing = True
            self._active_tool.press(self.to_canvas(position), pressure)
            self.update()

    def _continue(self, position: QPointF, pressure: float) -> None:
        old_hover, self._hover = self._hover, position
        canvas_point = self.to_canvas(position)
        self.pointer_moved.emit(int(canvas_point.x()), int(canvas_point.y()))
        if self._panning_from is not None:
            self._offset += position - self._panning_from
            self._panning_from = position
            self._auto_fit = False
            self.update()
            return
        if self._drawing:
            self._active_tool.move(canvas_point, pressure)
            if self._active_tool.selection_rect() is not None:
                self.update()
        radius = self._tool.cursor_diameter() * self._zoom / 2 + 3
        for centre in (old_hover, position):
            if centre is not None:
                box = QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
                self.update(box.toAlignedRect())

    def _finish(self, position: QPointF) -> None:
        if self._panning_from is not None:
            self._panning_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.CrossCursor)
        elif self._drawing:
            self._drawing = False
            self._active_tool.release(self.to_canvas(position))
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._start(event.position(), event.button(), 1.0, event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._continue(event.position(), 1.0)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._finish(event.position())

    def tabletEvent(self, event: QTabletEvent) -> None:
        # Accepting stops Qt from also sending the synthesised mouse event, so pressure is not lost.
        event.accept()
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._start(event.position(), event.button(), event.pressure(), event.modifiers())
        elif kind == QTabletEvent.Type.TabletMove:
            self._continue(event.position(), event.pressure())
        elif kind == QTabletEvent.Type.TabletRelease:
            self._finish(event.position())

    def leaveEvent(self, event: object) -> None:
        self._hover = None
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.2**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif event.key() == Qt.Key.Key_Escape and self._drawing:
            self._active_tool.abort()
            self._drawing = False
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._panning_from is None:
                self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            super().keyReleaseEvent(event)


def _masked_preview(preview: QImage, region: QRect, mask: QImage) -> QImage:
    """The preview scaled to `region` in canvas pixels, made transparent outside the mask."""
    composed = QImage(region.size(), PAINT_FORMAT)
    composed.fill(0)
    painter = QPainter(composed)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(composed.rect(), preview)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    painter.drawImage(0, 0, mask, region.x(), region.y(), region.width(), region.height())
    painter.end()
    return composed
