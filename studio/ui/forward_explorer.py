"""The forward process on the person's own canvas: a slider over t shows x_t next to x_0 and the noise.

The destruction half of the story that a run undoes: x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar)
noise, made by the engine (engine.forward_process) as a handful of stops from x_0 to pure noise.
The tab asks for them when it is shown and the canvas or the seed changed since, a moment after
the last change, so painting never waits on it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap, QShowEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from studio.engine.request import ForwardFrame
from studio.ui.image_convert import qimage_from_rgb
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters
from studio.ui.request_builder import forward_request
from studio.ui.seed_panel import SeedState
from studio.ui.worker import EngineService

PICTURE_PX = 128  # each picture's box; frames are kept at this size, so memory is small at any canvas size
REFRESH_DELAY_MS = 400


class ForwardExplorer(QWidget):
    explore_requested = Signal()  # the canvas (as it is now) should be noised anew

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Slide towards pure noise: how the forward process destroys the picture")
        self.clean_view, self.noise_view, self.noisy_view = (self._picture_box() for _ in range(3))
        self.clean_caption = QLabel("x₀: the canvas")
        self.clean_caption.setToolTip("The canvas encoded by the VAE and decoded again: where noising starts")
        self.noise_caption = QLabel("ε: the noise")
        self.noisy_caption = QLabel("x_t")
        self.formula = QLabel()
        self.formula.setWordWrap(True)
        self.status = QLabel("Shows the canvas as the forward process noises it.")
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Noise the canvas again")
        self.refresh_button.setToolTip("Take the canvas and the seed as they are now")
        pictures = QGridLayout()
        for column, (view, caption) in enumerate(
            ((self.clean_view, self.clean_caption), (self.noise_view, self.noise_caption),
             (self.noisy_view, self.noisy_caption))
        ):
            pictures.addWidget(view, 0, column)
            pictures.addWidget(caption, 1, column, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addLayout(pictures)
        layout.addWidget(self.slider)
        layout.addWidget(self.formula)
        layout.addStretch(1)
        layout.addWidget(self.refresh_button)
        self.frames: dict[int, ForwardFrame] = {}
        self._pixmaps: dict[int, QPixmap] = {}
        self._stale = True  # the frames shown are not of the canvas and seed as they are now
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self._request_if_stale)
        self.slider.valueChanged.connect(self._show_stop)
        self.refresh_button.clicked.connect(self.refresh)

    @staticmethod
    def _picture_box() -> QLabel:
        label = QLabel()
        label.setFixedSize(PICTURE_PX, PICTURE_PX)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("background: #202020;")
        return label

    # ---- when to ask --------------------------------------------------------------------------------
    def mark_stale(self) -> None:
        """The canvas or the seed changed: ask again, a moment after the last change, if on screen."""
        self._stale = True
        if self.isVisible():
            self._refresh_timer.start()

    def refresh(self) -> None:
        self._stale = True
        self._request_if_stale()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._refresh_timer.start(0)

    def _request_if_stale(self) -> None:
        if self._stale and self.isVisible():
            self._stale = False
            self.explore_requested.emit()

    # ---- what comes back ----------------------------------------------------------------------------
    def start(self, seed: int, waits_for_run: bool) -> None:
        """A new exploration of the canvas with the noise of `seed` is on its way."""
        self.frames.clear()
        self._pixmaps.clear()
        self.noise_caption.setText(f"ε: noise of seed {seed}")
        self.noise_caption.setToolTip(
            f"The noise a text-to-image run of seed {seed} starts from: the latent's 4 channels as colour"
        )
        self.status.setText("Waits for the run to end…" if waits_for_run else "Noising the canvas…")

    def add_frame(self, frame: ForwardFrame) -> None:
        self.frames[frame.index] = frame
        self._pixmaps[frame.index] = self._pixmap(frame.picture, Qt.TransformationMode.SmoothTransformation)
        if frame.index == 0:
            self.clean_view.setPixmap(self._pixmaps[0])
            # Nearest: each latent cell stays a visible block, which is what the noise is.
            self.noise_view.setPixmap(self._pixmap(frame.noise, Qt.TransformationMode.FastTransformation))
            self.slider.setRange(0, frame.count - 1)
            self.slider.setEnabled(True)
        if frame.index == frame.count - 1:
            self.status.setText("Slide from x₀ (left) to pure noise (right).")
        if frame.index <= self.slider.value():
            self._show_stop(self.slider.value())

    def failed(self) -> None:
        self._stale = True  # the next show or change tries again
        self.status.setText("Could not noise the canvas (the message says why).")

    @staticmethod
    def _pixmap(picture, transformation: Qt.TransformationMode) -> QPixmap:
        return QPixmap.fromImage(qimage_from_rgb(picture)).scaled(
            PICTURE_PX, PICTURE_PX, Qt.AspectRatioMode.KeepAspectRatio, transformation
        )

    def _show_stop(self, index: int) -> None:
        """The stop picked, or the last one that has arrived before it."""
        arrived = [stop for stop in self._pixmaps if stop <= index]
        if not arrived:
            return
        frame = self.frames[max(arrived)]
        self.noisy_view.setPixmap(self._pixmaps[frame.index])
        if frame.timestep is None:
            self.noisy_caption.setText("x_t at t = 0: x₀ itself")
            self.formula.setText("x_t = x₀: no noise yet\nᾱ = 1 · σ = 0")
            return
        signal, noise = frame.alpha_bar ** 0.5, (1.0 - frame.alpha_bar) ** 0.5
        self.noisy_caption.setText(f"x_t at t = {frame.timestep}")
        self.formula.setText(
            f"x_t = {signal:.3f}·x₀ + {noise:.3f}·ε\nᾱ = {frame.alpha_bar:.4f} · σ = {frame.sigma:.3g} · "
            f"latent mean {frame.latent_mean:+.2f}, spread {frame.latent_std:.2f}"
        )


def connect_forward_explorer(
    explorer: ForwardExplorer,
    service: EngineService,
    document: Document,
    parameters: GenerationParameters,
    seed_state: SeedState,
    show_error: Callable[[str], None],
) -> None:
    """The explorer noises the canvas with the seed panel's seed, anew after either changes."""

    def explore() -> None:
        request = forward_request(document, parameters, seed_state.seed)
        explorer.start(request.seed, waits_for_run=service.busy)
        service.explore_forward(request)

    def failed(message: str) -> None:
        explorer.failed()
        show_error(message)

    explorer.explore_requested.connect(explore)
    service.forward_frame.connect(explorer.add_frame)
    service.exploration_failed.connect(failed)
    document.undo_stack.indexChanged.connect(lambda _index: explorer.mark_stale())
    document.size_changed.connect(lambda _size: explorer.mark_stale())
    seed_state.seed_changed.connect(lambda _seed: explorer.mark_stale())
    parameters.model_changed.connect(lambda _model: explorer.mark_stale())
