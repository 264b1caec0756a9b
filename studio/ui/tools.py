"""What the pointer does on the canvas: paint and mask brushes, erasers, colour picker, mask rectangle.

Tools work in canvas pixels on the Document; the canvas widget only translates pointer events.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from studio.ui.layers import PAINT_FORMAT, Document, Layer
from studio.ui.observable import Observable


class ToolName(StrEnum):
    BRUSH = "brush"
    ERASER = "eraser"
    PICKER = "picker"
    MASK_BRUSH = "mask brush"
    MASK_ERASER = "mask eraser"
    MASK_RECTANGLE = "mask rectangle"


# A palette in the colours of the Landscapes world, so a sketch speaks the embedded model's language.
PALETTE: tuple[tuple[str, str], ...] = (
    ("day sky", "#6fa8dc"), ("night sky", "#1b2440"), ("sun", "#ffd83a"), ("sunset", "#f08a3c"),
    ("grass", "#4f9a3a"), ("forest", "#2d5a27"), ("water", "#2f6fb5"), ("sand", "#e3c27a"),
    ("rock", "#8a8a8a"), ("snow", "#f4f6fa"), ("cloud", "#dde3ea"), ("ink", "#202020"),
)


class ToolSettings(QObject):
    """The active tool and each tool family's size; widgets and the canvas bind to it."""

    tool_changed = Signal(str)
    colour_changed = Signal(QColor)
    brush_size_changed = Signal(float)
    brush_opacity_changed = Signal(float)
    mask_size_changed = Signal(float)
    mask_feather_changed = Signal(int)

    tool = Observable(ToolName.BRUSH.value)
    colour = Observable(QColor("#6fa8dc"))
    brush_size = Observable(24.0)
    brush_opacity = Observable(1.0)
    mask_size = Observable(48.0)
    mask_feather = Observable(8)  # pixels of blur at the mask's edge, sent as request.mask_feather_px


class Tool:
    """Base: a tool receives canvas-pixel positions with pen pressure (1.0 for a mouse)."""

    def __init__(self, document: Document, settings: ToolSettings) -> None:
        self.document, self.settings = document, settings

    def press(self, point: QPointF, pressure: float) -> None: ...

    def move(self, point: QPointF, pressure: float) -> None: ...

    def release(self, point: QPointF) -> None: ...

    def abort(self) -> None: ...

    def cursor_diameter(self) -> float:
        return 0.0

    def selection_rect(self) -> QRectF | None:
        return None


class Stroke:
    """One press-to-release of a brush, painted live into its layer.

    The stroke is drawn opaque into its own buffer and composited over a copy of the layer taken at
    the press, so a translucent brush does not darken where its segments overlap.
    """

    def __init__(
        self, document: Document, layer: Layer, colour: QColor, size: float, opacity: float,
        erase: bool, text: str,
    ) -> None:
        self.document, self.layer, self.text = document, layer, text
        self.colour = QColor(colour.red(), colour.green(), colour.blue())
        self.size, self.opacity, self.erase = size, opacity, erase
        self.before = layer.image.copy()
        self.buffer = QImage(document.size(), PAINT_FORMAT)
        self.buffer.fill(0)
        self.dirty = QRect()
        self.last_point: QPointF | None = None

    def add_point(self, point: QPointF, pressure: float) -> None:
        width = max(1.0, self.size * max(0.05, min(1.0, pressure)))
        start = self.last_point if self.last_point is not None else point
        painter = QPainter(self.buffer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self.colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        if start == point:
            painter.drawPoint(point)
        else:
            painter.drawLine(start, point)
        painter.end()
        self.last_point = point
        margin = width / 2 + 2
        segment = QRectF(start, point).normalized().adjusted(-margin, -margin, margin, margin)
        region = segment.toAlignedRect().intersected(self.document.rect())
        if region.isEmpty():
            return
        self._composite(region)
        self.dirty = self.dirty.united(region)
        self.document.notify_layer_changed(self.layer, region)

    def _composite(self, region: QRect) -> None:
        painter = QPainter(self.layer.image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(region, self.before, region)
        painter.setCompositionMode(
            QPainter.CompositionMode.CompositionMode_DestinationOut if self.erase
            else QPainter.CompositionMode.CompositionMode_SourceOver
        )
        painter.setOpacity(self.opacity)
        painter.drawImage(region, self.buffer, region)
        painter.end()

    def finish(self) -> None:
        if not self.dirty.isEmpty():
            self.document.push_region_edit(self.layer, self.dirty, self.before.copy(self.dirty), self.text)

    def abort(self) -> None:
        if not self.dirty.isEmpty():
            painter = QPainter(self.layer.image)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.drawImage(self.dirty, self.before, self.dirty)
            painter.end()
            self.document.notify_layer_changed(self.layer, self.dirty)


class StrokeTool(Tool):
    """Brush, eraser, mask brush and mask eraser differ only in layer, size setting and blend."""

    def __init__(self, document: Document, settings: ToolSettings, *, on_mask: bool, erase: bool) -> None:
        super().__init__(document, settings)
        self.on_mask, self.erase = on_mask, erase
        self.stroke: Stroke | None = None

    def cursor_diameter(self) -> float:
        return self.settings.mask_size if self.on_mask else self.settings.brush_size

    def press(self, point: QPointF, pressure: float) -> None:
        layer = self.document.mask if self.on_mask else self.document.paint
        if self.on_mask:
            text = "Mask eraser" if self.erase else "Mask stroke"
            size, opacity = self.settings.mask_size, 1.0
        else:
            text = "Eraser stroke" if self.erase else "Paint stroke"
            size, opacity = self.settings.brush_size, self.settings.brush_opacity
        self.stroke = Stroke(self.document, layer, self.settings.colour, size, opacity, self.erase, text)
        self.stroke.add_point(point, pressure)

    def move(self, point: QPointF, pressure: float) -> None:
        if self.stroke is not None:
            self.stroke.add_point(point, pressure)

    def release(self, point: QPointF) -> None:
        if self.stroke is not None:
            self.stroke.finish()
            self.stroke = None

    def abort(self) -> None:
        if self.stroke is not None:
            self.stroke.abort()
            self.stroke = None


class ColourPickerTool(Tool):
    def press(self, point: QPointF, pressure: float) -> None:
        self.move(point, pressure)

    def move(self, point: QPointF, pressure: float) -> None:
        colour = self.document.colour_at(point.toPoint())
        if colour is not None:
            self.settings.colour = colour


class MaskRectangleTool(Tool):
    """'Mask from selection': drag a rectangle; on release it joins the mask."""

    def __init__(self, document: Document, settings: ToolSettings) -> None:
        super().__init__(document, settings)
        self.anchor: QPointF | None = None
        self.current: QPointF | None = None

    def press(self, point: QPointF, pressure: float) -> None:
        self.anchor = self.current = point

    def move(self, point: QPointF, pressure: float) -> None:
        if self.anchor is not None:
            self.current = point

    def release(self, point: QPointF) -> None:
        if self.anchor is not None:
            self.current = point
            rect = self.selection_rect()
            self.anchor = self.current = None
            if rect is not None and rect.width() >= 1 and rect.height() >= 1:
                self.document.add_mask_rect(rect.toAlignedRect())

    def abort(self) -> None:
        self.anchor = self.current = None

    def selection_rect(self) -> QRectF | None:
        if self.anchor is None or self.current is None:
            return None
        return QRectF(self.anchor, self.current).normalized()


def make_tool(name: str, document: Document, settings: ToolSettings) -> Tool:
    tool = ToolName(name)
    if tool is ToolName.PICKER:
        return ColourPickerTool(document, settings)
    if tool is ToolName.MASK_RECTANGLE:
        return MaskRectangleTool(document, settings)
    return StrokeTool(
        document, settings,
        on_mask=tool in (ToolName.MASK_BRUSH, ToolName.MASK_ERASER),
        erase=tool in (ToolName.ERASER, ToolName.MASK_ERASER),
    )


