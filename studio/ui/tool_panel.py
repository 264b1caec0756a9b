"""The tool palette: tools, colour and swatches, brush size and opacity, and the mask's own controls."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QColorDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.engine.request import MAX_MASK_FEATHER_PX
from studio.ui.layers import Document
from studio.ui.tools import PALETTE, ToolName, ToolSettings

TOOL_LABELS: dict[ToolName, tuple[str, str]] = {  # label, shortcut
    ToolName.BRUSH: ("Brush", "B"),
    ToolName.ERASER: ("Eraser", "E"),
    ToolName.PICKER: ("Picker", "I"),
    ToolName.MASK_BRUSH: ("Mask", "M"),
    ToolName.MASK_ERASER: ("Unmask", "Shift+M"),
    ToolName.MASK_RECTANGLE: ("Mask rect", "R"),
}


def _swatch_style(colour: QColor) -> str:
    return f"background-color: {colour.name()}; border: 1px solid #555; border-radius: 3px;"


class ToolPanel(QWidget):
    """Binds to ToolSettings; mask buttons act on the Document (each action is one undo entry)."""

    def __init__(
        self,
        settings: ToolSettings,
        document: Document,
        show_mask_action: QAction,
        parent: QWidget | None = None,
    ) -> None:
        """Builds the palette top to bottom as it shows, each control bound to its setting where it is
        made: long, but one straight read with no branches."""
        super().__init__(parent)
        self.settings, self.document = settings, document
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        self.tool_buttons: dict[ToolName, QToolButton] = {}
        self.tool_group = QButtonGroup(self)
        tools_grid = QGridLayout()
        for index, (tool, (label, shortcut)) in enumerate(TOOL_LABELS.items()):
            button = QToolButton(text=label, checkable=True)
            button.setToolTip(f"{label} ({shortcut})")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setMinimumWidth(64)
            button.clicked.connect(lambda _checked=False, name=tool.value: setattr(settings, "tool", name))
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            tools_grid.addWidget(button, index // 2, index % 2)
        layout.addLayout(tools_grid)

        paint_box = QGroupBox("Paint")
        paint_form = QFormLayout(paint_box)
        self.colour_button = QPushButton()
        self.colour_button.setFixedHeight(24)
        self.colour_button.setToolTip("Brush colour: click to choose")
        self.colour_button.clicked.connect(self._choose_colour)
        paint_form.addRow("Colour", self.colour_button)
        swatches = QGridLayout()
        swatches.setSpacing(3)
        for index, (name, hex_colour) in enumerate(PALETTE):
            swatch = QToolButton()
            swatch.setFixedSize(22, 22)
            swatch.setToolTip(name)
            swatch.setStyleSheet(_swatch_style(QColor(hex_colour)))
            swatch.clicked.connect(lambda _checked=False, value=hex_colour: self._pick_swatch(value))
            swatches.addWidget(swatch, index // 6, index % 6)
        paint_form.addRow(swatches)
        self.size_slider, size_row = self._slider_row(1, 300, "brush_size", " px")
        paint_form.addRow("Size", size_row)
        self.opacity_slider, opacity_row = self._slider_row(1, 100, "brush_opacity", " %", scale=100)
        paint_form.addRow("Opacity", opacity_row)
        layout.addWidget(paint_box)

        mask_box = QGroupBox("Mask")
        mask_form = QFormLayout(mask_box)
        self.mask_size_slider, mask_size_row = self._slider_row(1, 400, "mask_size", " px")
        mask_form.addRow("Size", mask_size_row)
        self.feather_spin = QSpinBox(minimum=0, maximum=MAX_MASK_FEATHER_PX, suffix=" px")
        self.feather_spin.setToolTip("Blur at the mask's edge, so repainted parts blend in")
        self.feather_spin.setValue(settings.mask_feather)
        self.feather_spin.valueChanged.connect(lambda value: setattr(settings, "mask_feather", value))
        settings.mask_feather_changed.connect(self.feather_spin.setValue)
        mask_form.addRow("Feather", self.feather_spin)
        mask_buttons = QHBoxLayout()
        self.invert_button = QPushButton("Invert")
        self.invert_button.clicked.connect(document.invert_mask)
        self.clear_mask_button = QPushButton("Clear")
        self.clear_mask_button.clicked.connect(document.clear_mask)
        self.show_mask_button = QToolButton()
        self.show_mask_button.setDefaultAction(show_mask_action)
        for button in (self.invert_button, self.clear_mask_button, self.show_mask_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas after a click
            mask_buttons.addWidget(button)
        mask_form.addRow(mask_buttons)
        layout.addWidget(mask_box)
        layout.addStretch(1)

        settings.tool_changed.connect(self._show_tool)
        settings.colour_changed.connect(self._show_colour)
        self._show_tool(settings.tool)
        self._show_colour(settings.colour)

    def _slider_row(
        self, minimum: int, maximum: int, name: str, suffix: str, scale: int = 1
    ) -> tuple[QSlider, QHBoxLayout]:
        slider = QSlider(Qt.Orientation.Horizontal, minimum=minimum, maximum=maximum)
        value_label = QLabel()
        value_label.setMinimumWidth(44)

        def show(value: float) -> None:
            slider.blockSignals(True)
            slider.setValue(round(value * scale))
            slider.blockSignals(False)
            value_label.setText(f"{round(value * scale)}{suffix}")

        slider.valueChanged.connect(lambda value: setattr(self.settings, name, value / scale))
        getattr(self.settings, f"{name}_changed").connect(show)
        show(getattr(self.settings, name))
        row = QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(value_label)
        return slider, row

    def _choose_colour(self) -> None:
        colour = QColorDialog.getColor(self.settings.colour, self, "Brush colour")
        if colour.isValid():
            self.settings.colour = colour

    def _pick_swatch(self, hex_colour: str) -> None:
        self.settings.colour = QColor(hex_colour)
        if self.settings.tool not in (ToolName.BRUSH, ToolName.ERASER):
            self.settings.tool = ToolName.BRUSH.value

    def _show_tool(self, name: str) -> None:
        self.tool_buttons[ToolName(name)].setChecked(True)

    def _show_colour(self, colour: QColor) -> None:
        self.colour_button.setStyleSheet(_swatch_style(colour))
        self.colour_button.setText(colour.name())
