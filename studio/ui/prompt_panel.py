"""Prompt, negative prompt, the one button that is Generate when idle and Cancel while running, and
beside it Pause / Resume while a run goes."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.ui.parameters import GenerationParameters

GENERATE_TEXT = "Generate  (Ctrl+Enter)"
CANCEL_TEXT = "Cancel  (Esc)"
PAUSE_TEXT = "Pause  (Ctrl+P)"
RESUME_TEXT = "Resume  (Ctrl+P)"


class PromptPanel(QWidget):
    generate_requested = Signal()
    cancel_requested = Signal()
    pause_requested = Signal()  # pause, or resume when paused

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
        self.pause_button = QPushButton(PAUSE_TEXT)
        self.pause_button.setMinimumHeight(34)
        self.pause_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.setToolTip("Stop after this step, paint on the picture so far, then resume")
        self.pause_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.action_button, 2)
        buttons.addWidget(self.pause_button, 1)
        layout.addLayout(buttons)

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
        self.pause_button.clicked.connect(self.pause_requested)

    @staticmethod
    def _show_text(edit: QPlainTextEdit, text: str) -> None:
        if edit.toPlainText() != text:  # do not reset the cursor while the user types
            edit.setPlainText(text)

    def set_running(self, running: bool) -> None:
        self.running = running
        self.action_button.setText(CANCEL_TEXT if running else GENERATE_TEXT)
        self.pause_button.setEnabled(running)
        if not running:
            self.pause_button.setText(PAUSE_TEXT)

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setText(RESUME_TEXT if paused else PAUSE_TEXT)

    def _clicked(self) -> None:
        (self.cancel_requested if self.running else self.generate_requested).emit()
