"""The LoRA list: .safetensors files, each with a weight, kept in the parameters as plain text lines
("WEIGHT<TAB>PATH") so that they persist like every other parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.engine.loras import is_few_step_lora
from studio.engine.request import MAX_LORA_WEIGHT, LoraWeight

if TYPE_CHECKING:  # parameters.py shows this widget in its panel
    from studio.ui.parameters import GenerationParameters

FEW_STEP_DEFAULTS = {"scheduler": "lcm", "steps": 4, "guidance_scale": 1.0, "live_steps": 4}


def loras_from_text(text: str) -> tuple[LoraWeight, ...]:
    loras = []
    for line in text.splitlines():
        weight, _, path = line.partition("\t")
        try:
            loras.append(LoraWeight(path, float(weight)))
        except ValueError:
            continue  # a hand-edited settings file: skip the line, keep the rest
    return tuple(lora for lora in loras if lora.path)


def loras_to_text(loras: tuple[LoraWeight, ...]) -> str:
    return "\n".join(f"{lora.weight:g}\t{lora.path}" for lora in loras)


def display_name(path: str) -> str:
    """The file name; with its folder when the name is diffusers' generic one, as hub LoRAs ship."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if parts[-1].startswith("pytorch_lora_weights") and len(parts) > 1:
        return "/".join(parts[-2:])
    return parts[-1]


class LoraList(QWidget):
    """Add, remove and weigh LoRAs; an LCM LoRA switches the sampler to LCM with its few-step defaults."""

    def __init__(self, parameters: GenerationParameters, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameters = parameters
        self.list = QListWidget()
        self.list.setMaximumHeight(80)
        self.weight_spin = QDoubleSpinBox(minimum=-MAX_LORA_WEIGHT, maximum=MAX_LORA_WEIGHT, singleStep=0.05)
        self.weight_spin.setToolTip("Weight of the selected LoRA: 1 as trained, 0 off")
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        for widget in (self.add_button, self.remove_button, QLabel("Weight"), self.weight_spin):
            buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        self.add_button.clicked.connect(self._ask_for_file)
        self.remove_button.clicked.connect(self.remove_selected)
        self.weight_spin.valueChanged.connect(self._set_selected_weight)
        self.list.currentRowChanged.connect(self._show_selected)
        parameters.loras_changed.connect(self._show)
        self._show(parameters.loras)

    @property
    def loras(self) -> tuple[LoraWeight, ...]:
        return loras_from_text(self.parameters.loras)

    def add(self, path: str, weight: float = 1.0) -> None:
        if any(lora.path == path for lora in self.loras):
            return
        self.parameters.loras = loras_to_text((*self.loras, LoraWeight(path, weight)))
        self.list.setCurrentRow(self.list.count() - 1)
        if is_few_step_lora(path):
            for name, value in FEW_STEP_DEFAULTS.items():
                setattr(self.parameters, name, value)
            self.note.setText("LCM LoRA: sampler set to LCM, 4 steps, guidance 1 (live painting too).")

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        loras = list(self.loras)
        if 0 <= row < len(loras):
            del loras[row]
            self.parameters.loras = loras_to_text(tuple(loras))
            self.note.clear()

    def _ask_for_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "LoRA file", "", "LoRA (*.safetensors)")
        if path:
            self.add(path)

    def _set_selected_weight(self, weight: float) -> None:
        row = self.list.currentRow()
        loras = list(self.loras)
        if 0 <= row < len(loras) and loras[row].weight != weight:
            loras[row] = LoraWeight(loras[row].path, weight)
            self.parameters.loras = loras_to_text(tuple(loras))

    def _show(self, _text: str) -> None:
        row = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for lora in self.loras:
            item = QListWidgetItem(f"{display_name(lora.path)}  ×{lora.weight:g}")
            item.setToolTip(lora.path)
            item.setData(Qt.ItemDataRole.UserRole, lora.path)
            self.list.addItem(item)
        self.list.setCurrentRow(min(max(row, 0), self.list.count() - 1))
        self.list.blockSignals(False)
        self._show_selected(self.list.currentRow())

    def _show_selected(self, row: int) -> None:
        loras = self.loras
        has_selection = 0 <= row < len(loras)
        self.weight_spin.setEnabled(has_selection)
        self.remove_button.setEnabled(has_selection)
        if has_selection:
            self.weight_spin.blockSignals(True)
            self.weight_spin.setValue(loras[row].weight)
            self.weight_spin.blockSignals(False)
