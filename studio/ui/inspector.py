"""A live plot of the noise level after each step (pyqtgraph), filled from one preallocated buffer.

pyqtgraph takes most of a second to import, so the plot is built only when the user first looks at it;
until then the buffer fills all the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.engine.request import StepEvent


class NoiseInspector(QWidget):
    """Noise level (sigma) per step of the current image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._placeholder = QLabel("Noise level per step appears here during a run.")
        self._layout.addWidget(self._placeholder)
        self._curve: Any = None
        self._plot: Any = None
        self._steps = np.zeros(0)
        self._noise = np.zeros(0)
        self._count = 0
        self.setMinimumHeight(120)

    @property
    def built(self) -> bool:
        return self._plot is not None

    def build(self) -> None:
        if self.built:
            return
        import pyqtgraph  # deferred: see the module docstring

        self._plot = pyqtgraph.PlotWidget(background=None)
        self._plot.setLabel("bottom", "step")
        self._plot.setLabel("left", "noise level σ")
        self._plot.showGrid(x=True, y=True, alpha=0.25)
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        # pyqtgraph asks for 640 px; in a side panel the canvas should keep the room.
        self._plot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._curve = self._plot.plot(pen=pyqtgraph.mkPen("#4aa3ff", width=2), symbol="o", symbolSize=5,
                                      symbolBrush="#4aa3ff")
        self._layout.replaceWidget(self._placeholder, self._plot)
        self._placeholder.deleteLater()
        if len(self._steps):
            self._plot.setXRange(0, len(self._steps), padding=0.02)
            self._curve.setData(self._steps[: self._count], self._noise[: self._count])

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.build()

    def sizeHint(self) -> QSize:
        return QSize(260, 220)

    def start_run(self, total_steps: int) -> None:
        self._steps = np.arange(1, total_steps + 1, dtype=float)
        self._noise = np.zeros(total_steps)
        self._count = 0
        if self._curve is not None:
            self._curve.setData([], [])
            self._plot.setXRange(0, max(1, total_steps), padding=0.02)

    def add_step(self, event: StepEvent) -> None:
        if event.total_steps != len(self._steps) or event.step == 1:
            self.start_run(event.total_steps)
        index = event.step - 1
        self._noise[index] = event.noise_level
        self._count = max(self._count, event.step)
        if self._curve is not None:
            self._curve.setData(self._steps[: self._count], self._noise[: self._count])

    @property
    def noise_levels(self) -> np.ndarray:
        return self._noise[: self._count].copy()
