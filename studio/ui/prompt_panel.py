"""Prompt, negative prompt and the one button that is Generate when idle and Cancel while running."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.ui.parameters import GenerationParameters

GENERATE_TEXT = "Generate  (Ctrl+Enter)"
CANCEL_TEXT = "Cancel  (Esc)"


class PromptPanel(QWidget):
    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parameters: GenerationParameters, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameters = parameters
        self.running = False
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("Describe the picture: a sunny day with green grass…")
        self.prompt_edit.setFixedHeight(72)
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setPlaceholderText("What to avoid (negative prompt)")
        self.negative_edit.setFixedHeight(40)
        self.action_button = QPushButton(GENERATE_TEXT)
        font = QFont(self.action_button.font())
        font.setBold(True)
        self.action_button.setFont(font)
        self.action_button.setMinimumHeight(34)
        # Never the keyboard focus: a Space meant for panning the canvas must not press Cancel.
        self.action_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Prompt"))
        layout.addWidget(self.prompt_edit)
        layout.addWidget(QLabel("Negative prompt"))
        layout.addWidget(self.negative_edit)
        layout.addWidget(self.action_button)

        self.prompt_edit.setPlainText(parameters.prompt)
        self.negative_edit.setPlainText(parameters.negative_prompt)
        self.prompt_edit.textChanged.connect(
            lambda: setattr(parameters, "prompt", self.prompt_edit.toPlainText())
        )
        self.negative_edit.textChanged.connect(
            lambda: setattr(parameters, "negative_prompt", self.negative_edit.toPlainText())
        )
        parameters.prompt_changed.connect(lambda text: self._show_text(self.prompt_edit, text))
        parameters.negative_prompt_changed.connect(lambda text: self._show_text(self.negative_edit, text))
        self.action_button.clicked.connect(self._clicked)

    @staticmethod
    def _show_text(edit: QPlainTextEdit, text: str) -> None:
        if edit.toPlainText() != text:  # do not reset the cursor while the user types
            edit.setPlainText(text)

    def set_running(self, running: bool) -> None:
        self.running = running
        self.action_button.setText(CANCEL_TEXT if running else GENERATE_TEXT)

    def _clicked(self) -> None:
        (self.cancel_requested if self.running else self.generate_requested).emit()
