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
from PySide6.QtWidgets import QGraphicsItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.engine.request import Schedule, StepEvent

# name: (plot row, colour, short label in the row's title, what it is: the tooltip)
CURVES = {
    "alpha_bar": (0, "#f0b429", "ᾱ", "ᾱ: the share of the signal's power the schedule keeps at each step"),
    "sigma": (0, "#4aa3ff", "σ", "σ: the schedule's noise level, noise over signal"),
    "noise": (1, "#4aa3ff", "σ left", "σ left: the noise level the latent has after the step"),
    "latent_std": (1, "#7bd389", "x_t", "x_t: the spread (standard deviation) of the latent"),
    "predicted": (1, "#e86f6f", "ε̂", "ε̂: the size (standard deviation) of the UNet's prediction"),
    "step_ms": (2, "#b794f4", "ms", "ms: how long each step took"),
}
ROW_TITLES = ("Schedule", "Per step", "Step time")
# Steps of a small model come every 25 ms; drawing the plots that often would cost the GUI thread
# (and on a 2-core machine the run) more than the figures are worth. Redraw at most this often.
REDRAW_INTERVAL_MS = 500
RANGE_CHANGE_INTERVAL_MS = 50  # see _redraw_next
AXIS_WIDTH_PX = 38


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
        self._plots: list[Any] = []
        self._marker: Any = None
        self._steps = np.zeros(0)
        self._values = {name: np.zeros(0) for name in CURVES}
        self._count = 0
        self._schedule_count = 0
        self._last_elapsed = 0.0
        self._redraw = QTimer(self, singleShot=True)
        self._redraw.timeout.connect(self._redraw_next)
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
                for curve_row, colour, label, _ in CURVES.values() if curve_row == row
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
        for plot in plots[:-1]:
            plot.hideAxis("bottom")  # the same steps as the bottom row's: one axis less to draw each
        self._view.setToolTip("\n".join(meaning for *_, meaning in CURVES.values()))
        for name, (row, colour, label, _) in CURVES.items():
            self._curves[name] = plots[row].plot(pen=pyqtgraph.mkPen(colour, width=2), name=label)
        self._marker = pyqtgraph.InfiniteLine(angle=90, pen=pyqtgraph.mkPen("#cccccc", width=1))
        plots[0].addItem(self._marker)
        # Most of a redraw is the axes' tick text and the titles, which change only with a range:
        # cached as pixmaps, a redraw repaints the curves alone (19 -> 8 ms measured).
        for plot in plots:
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # A fixed width: tick labels of a new width would re-lay out (and redraw) every row.
            plot.getAxis("left").setWidth(AXIS_WIDTH_PX)
            plot.titleLabel.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # Ranges are set by _redraw_next, and change only a few times a run: each change redraws
            # the axes (an autorange following every step redrew them at every redraw).
            plot.disableAutoRange()
        self._plots = plots
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
        self._redraw.start(RANGE_CHANGE_INTERVAL_MS)  # cleared soon, not in the middle of starting a run

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
            self._redraw.start(0)  # the finished run as soon as the GUI thread is free
        elif not self._redraw.isActive():
            self._redraw.start(REDRAW_INTERVAL_MS)

    def _show(self) -> None:
        if self.isVisible():  # hidden, it is drawn when shown (showEvent builds, then draws)
            self.draw_now()

    def draw_now(self) -> None:
        """Puts the buffers on the plots (built ones) at once: every range and every curve."""
        self._redraw.stop()
        if self.built:
            for plot, key, span in self._range_changes():
                plot.setRange(**{key: span}, padding=0)
            self._set_curves()

    def _redraw_next(self) -> None:
        """One piece of a redraw per tick of the timer, so the GUI thread is never held long.

        A changed range repaints that axis's ticks and every curve (6-8 ms here, against 2-3 ms for
        new curve data alone), so a tick either moves one range or puts new data on the curves, and the
        next piece follows shortly after. Doing it all in one tick, as the first redraw of a run would,
        held the GUI thread 13-19 ms with a preview painted in the same beat."""
        if not self.built or not self.isVisible():
            return  # hidden, it is drawn when shown (showEvent builds, then draws)
        changes = self._range_changes()
        if changes:
            plot, key, span = changes[0]
            plot.setRange(**{key: span}, padding=0)
            self._redraw.start(RANGE_CHANGE_INTERVAL_MS)  # the next range, or the data
        else:
            self._set_curves()

    def _shown_values(self) -> dict[str, np.ndarray]:
        """The whole schedule at once; the rest as far as the run got. (Only real values reach
        setData: an all-NaN curve crashed pyqtgraph at interpreter exit.)"""
        return {name: self._values[name][:self._schedule_count if row == 0 else self._count]
                for name, (row, *_) in CURVES.items()}

    def _set_curves(self) -> None:
        for name, values in self._shown_values().items():
            self._curves[name].setData(self._steps[:len(values)], values)
        self._marker.setValue(self._count)

    def _range_changes(self) -> list[tuple[Any, str, tuple[float, float]]]:
        """(plot, "xRange" or "yRange", span) for each range that differs from what the buffers need.
        x: the run's steps (the rows share it); y: see _y_span."""
        shown = self._shown_values()
        wanted = [(self._plots[0], "xRange", (1.0, float(max(len(self._steps), 2))))]
        for row, plot in enumerate(self._plots):
            values = np.concatenate([shown[name] for name in CURVES if CURVES[name][0] == row])
            values = values[np.isfinite(values)]  # a zero-terminal-SNR schedule ends at σ = inf
            if len(values):
                wanted.append((plot, "yRange", _y_span(row, values, plot.viewRange()[1][1])))
        return [(plot, key, span) for plot, key, span in wanted
                if plot.viewRange()[key == "yRange"] != list(span)]

    # ---- read by tests -----------------------------------------------------------------------------
    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """What the named curve shows (x, y); the plots must be built."""
        x, y = self._curves[name].getOriginalDataset()  # before the log axis transforms it
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))

    @property
    def marker_step(self) -> float:
        return float(self._marker.value())


def _y_span(row: int, values: np.ndarray, top: float) -> tuple[float, float]:
    """The schedule row (log scale): the whole decades around it. The others: from 0 to a round
    number above the highest value, kept while values stay under it and above a quarter of it."""
    if row == 0:
        low = float(np.floor(np.log10(max(values.min(), 1e-6))))
        return low, max(float(np.ceil(np.log10(max(values.max(), 1e-6)))), low + 1.0)
    high = float(values.max())
    return (0.0, _round_up(high)) if high > top or high < top / 4 else (0.0, top)


def _round_up(value: float) -> float:
    """The next of 1, 2, 5 x 10^k above value: y limits that stay put while values grow a little."""
    if value <= 0 or not np.isfinite(value):
        return 1.0
    power = 10.0 ** np.floor(np.log10(value))
    return next(step * power for step in (1.0, 2.0, 5.0, 10.0, 20.0) if step * power >= value * 1.05)
