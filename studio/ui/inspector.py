"""What the diffusion process does while it does it, in three pyqtgraph plots filled from preallocated
buffers (setData per step; no plot is rebuilt during a run):

1. the schedule the run walks: alpha-bar and the noise level sigma per step, with a marker on the
   current step;
2. per step, as the events arrive: the noise level left, the spread of x_t and the size of the
   UNet's prediction;
3. the time each step took.

pyqtgraph takes most of a second to import, so the plots are built only when the user first looks
at them; until then the buffers fill all the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.engine.request import Schedule, StepEvent

# name: (plot row, colour, label)
CURVES = {
    "alpha_bar": (0, "#f0b429", "ᾱ (signal kept²)"),
    "sigma": (0, "#4aa3ff", "σ of the schedule"),
    "noise": (1, "#4aa3ff", "σ left after the step"),
    "latent_std": (1, "#7bd389", "spread of x_t"),
    "predicted": (1, "#e86f6f", "size of the prediction"),
    "step_ms": (2, "#b794f4", "ms per step"),
}
ROW_TITLES = ("Schedule", "Per step", "Step time")
# Steps of a small model come every 25 ms; drawing the plots that often would cost the GUI thread
# (and on a 2-core machine the run) more than the figures are worth. Redraw at most this often.
REDRAW_INTERVAL_MS = 500


class NoiseInspector(QWidget):
    """The schedule and per-step figures of the current image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._placeholder = QLabel("The schedule and per-step figures appear here during a run.")
        self._layout.addWidget(self._placeholder)
        self._view: Any = None
        self._curves: dict[str, Any] = {}
        self._marker: Any = None
        self._steps = np.zeros(0)
        self._values = {name: np.zeros(0) for name in CURVES}
        self._count = 0
        self._schedule_count = 0
        self._last_elapsed = 0.0
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_INTERVAL_MS)
        self._redraw.timeout.connect(self._show)
        self.setMinimumHeight(120)

    @property
    def built(self) -> bool:
        return self._view is not None

    def build(self) -> None:
        if self.built:
            return
        import pyqtgraph  # deferred: see the module docstring

        self._view = pyqtgraph.GraphicsLayoutWidget()
        self._view.setBackground(None)
        # pyqtgraph asks for 640 px; in a side panel the canvas should keep the room.
        self._view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        plots = []
        for row, title in enumerate(ROW_TITLES):
            # The title names the curves in their colours: a legend box costs more to draw.
            names = " ".join(
                f"<span style='color:{colour}'>{label}</span>"
                for curve_row, colour, label in CURVES.values() if curve_row == row
            )
            plot = self._view.addPlot(row=row, col=0, title=f"{title}: {names}")
            plot.titleLabel.setMaximumHeight(16)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plots.append(plot)
        plots[0].setLogMode(y=True)  # alpha-bar (0-1) and sigma (up to ~15) on one axis
        for plot in plots[1:]:
            plot.setXLink(plots[0])
        plots[-1].setLabel("bottom", "step")
        for name, (row, colour, label) in CURVES.items():
            self._curves[name] = plots[row].plot(pen=pyqtgraph.mkPen(colour, width=2), name=label)
        self._marker = pyqtgraph.InfiniteLine(angle=90, pen=pyqtgraph.mkPen("#cccccc", width=1))
        plots[0].addItem(self._marker)
        self._layout.replaceWidget(self._placeholder, self._view)
        self._placeholder.deleteLater()
        self._show()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.build()
        self._show()

    def sizeHint(self) -> QSize:
        return QSize(260, 320)

    # ---- feeding ---------------------------------------------------------------------------------
    def start_run(self, total_steps: int) -> None:
        self._steps = np.arange(1, total_steps + 1, dtype=float)
        self._values = {name: np.zeros(total_steps) for name in CURVES}
        self._count = 0
        self._schedule_count = 0
        self._last_elapsed = 0.0
        self._show()

    def set_schedule(self, schedule: Schedule) -> None:
        count = min(len(schedule.alpha_bar), len(self._steps))
        self._values["alpha_bar"][:count] = schedule.alpha_bar[:count]
        self._values["sigma"][:count] = schedule.sigma[:count]
        self._schedule_count = count

    def add_step(self, event: StepEvent) -> None:
        if event.total_steps != len(self._steps) or event.step == 1:
            self.start_run(event.total_steps)
        if event.schedule is not None:
            self.set_schedule(event.schedule)
        index = event.step - 1
        values = self._values
        values["noise"][index] = event.noise_level
        values["latent_std"][index] = event.latent_std
        values["predicted"][index] = event.predicted_noise_std
        values["step_ms"][index] = (event.elapsed_s - self._last_elapsed) * 1000.0
        self._last_elapsed = event.elapsed_s
        self._count = max(self._count, event.step)
        if event.step == event.total_steps:
            self._show()  # the finished run at once
        elif not self._redraw.isActive():
            self._redraw.start()

    def _show(self) -> None:
        if self.isVisible():  # hidden, it is drawn when shown (showEvent builds, then draws)
            self.draw_now()

    def draw_now(self) -> None:
        """Puts the buffers on the plots (built ones) at once instead of at the next redraw tick."""
        self._redraw.stop()
        if not self.built:
            return
        # The whole schedule at once; the rest as far as the run got. (Only real values reach setData:
        # an all-NaN curve crashed pyqtgraph at interpreter exit.)
        shown = {"alpha_bar": self._schedule_count, "sigma": self._schedule_count}
        for name, curve in self._curves.items():
            count = shown.get(name, self._count)
            curve.setData(self._steps[:count], self._values[name][:count])
        self._marker.setValue(self._count)

    # ---- read by tests -----------------------------------------------------------------------------
    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """What the named curve shows (x, y); the plots must be built."""
        x, y = self._curves[name].getOriginalDataset()  # before the log axis transforms it
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))

    @property
    def marker_step(self) -> float:
        return float(self._marker.value())
