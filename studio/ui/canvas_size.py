"""The canvas size: the parameters' width and height and the document's size are one value.

Until the person sets a size (or opens a picture, or an unsaved painting comes back), the canvas
takes the loaded model's native size; strokes painted while the model loads are kept, scaled.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSize

from studio.engine.request import ModelInfo
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters


class CanvasSizeSync(QObject):
    """Keeps GenerationParameters.width/height and the Document's size equal, either way round."""

    def __init__(self, parameters: GenerationParameters, document: Document, parent: QObject | None = None):
        super().__init__(parent)
        self.parameters, self.document = parameters, document
        self.follows_model = not parameters.size_chosen  # False once the canvas has a size of its own
        self._syncing = False
        parameters.width_changed.connect(self._on_size_chosen)
        parameters.height_changed.connect(self._on_size_chosen)
        document.size_changed.connect(self._on_document_resized)

    def model_ready(self, info: ModelInfo) -> None:
        if not self.follows_model:
            return
        if self.document.undo_stack.count() == 0:
            self.document.reset(info.width, info.height)
        else:  # painted while the model loaded: the strokes are kept, scaled, in one undo step
            self.document.resize(info.width, info.height, "Canvas to the model's size")

    def _on_size_chosen(self, _value: int) -> None:
        if self._syncing:
            return
        self.follows_model = False
        self.parameters.size_chosen = True
        self.document.resize(self.parameters.width, self.parameters.height)

    def _on_document_resized(self, size: QSize) -> None:
        self._syncing = True
        try:
            self.parameters.width, self.parameters.height = size.width(), size.height()
        finally:
            self._syncing = False
