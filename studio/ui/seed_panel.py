"""Seed controls as people know them from the popular web UIs: the value, a dice, a lock, reuse the
last seed, and what happens after each run. The seeds of the last result are shown and copyable."""

from __future__ import annotations

import random
from enum import StrEnum

from PySide6.QtCore import QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QGuiApplication, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from studio.engine.request import MAX_SEED
from studio.ui.observable import Observable


class AfterRun(StrEnum):
    KEEP = "keep"
    INCREMENT = "increment"
    RANDOM = "random"


AFTER_RUN_LABELS = {AfterRun.KEEP: "Keep", AfterRun.INCREMENT: "Increment", AfterRun.RANDOM: "Random"}


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


class SeedState(QObject):
    """The seed the next run will use, and the seeds the last run used."""

    seed_changed = Signal(object)  # int: seeds go past the 32-bit signed range of Signal(int)
    locked_changed = Signal(bool)
    after_run_changed = Signal(str)
    last_seeds_changed = Signal(object)

    seed = Observable(0)
    locked = Observable(False)  # while locked, nothing but the user changes the seed
    after_run = Observable(AfterRun.RANDOM.value)
    last_seeds: Observable[tuple[int, ...]] = Observable(())

    def roll(self) -> None:
        self.seed = random_seed()

    def set_seed(self, value: int) -> None:
        self.seed = max(0, min(MAX_SEED, int(value)))

    def reuse_last(self) -> None:
        if self.last_seeds:
            self.seed = self.last_seeds[0]

    def run_finished(self, seeds: tuple[int, ...]) -> None:
        """Record the result's seeds, then move on as `after_run` says (unless locked)."""
        self.last_seeds = tuple(seeds)
        if self.locked or not seeds:
            return
        if self.after_run == AfterRun.INCREMENT:
            # Past the whole batch, so the next run repeats none of this one's images.
            self.seed = (max(seeds) + 1) % (MAX_SEED + 1)
        elif self.after_run == AfterRun.RANDOM:
            self.roll()


class SeedPanel(QWidget):
    """Binds to a SeedState; holds no state of its own."""

    def __init__(self, state: SeedState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.seed_edit = QLineEdit()
        self.seed_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,10}")))
        self.seed_edit.setToolTip(f"The seed of the next run (0 to {MAX_SEED})")
        self.dice_button = QToolButton(text="Dice")
        self.dice_button.setToolTip("A new random seed")
        self.lock_button = QToolButton(text="Lock", checkable=True)
        self.lock_button.setToolTip("Keep this seed: runs do not change it")
        self.reuse_button = QToolButton(text="Last")
        self.reuse_button.setToolTip("Reuse the seed of the last result")
        self.after_run_combo = QComboBox()
        for value, label in AFTER_RUN_LABELS.items():
            self.after_run_combo.addItem(label, value.value)
        self.after_run_combo.setToolTip("What happens to the seed after each run")
        self.result_seeds_label = QLabel("—")
        self.result_seeds_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_seeds_label.setToolTip("The seeds of the last result; select or copy them")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the last result's seed")

        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.seed_edit, self.dice_button, self.lock_button, self.reuse_button):
            seed_row.addWidget(widget)
        seed_row.setStretch(0, 1)
        result_row = QHBoxLayout()
        result_row.setContentsMargins(0, 0, 0, 0)
        result_row.addWidget(self.result_seeds_label, 1)
        result_row.addWidget(self.copy_button)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Seed", seed_row)
        form.addRow("After run", self.after_run_combo)
        form.addRow("Result seed", result_row)

        self.seed_edit.editingFinished.connect(self._seed_edited)
        self.dice_button.clicked.connect(state.roll)
        self.lock_button.toggled.connect(lambda checked: setattr(state, "locked", checked))
        self.reuse_button.clicked.connect(state.reuse_last)
        self.after_run_combo.currentIndexChanged.connect(
            lambda index: setattr(state, "after_run", self.after_run_combo.itemData(index))
        )
        self.copy_button.clicked.connect(self.copy_last_seed)
        state.seed_changed.connect(self._show_seed)
        state.locked_changed.connect(self._show_locked)
        state.after_run_changed.connect(self._show_after_run)
        state.last_seeds_changed.connect(self._show_last_seeds)
        self._show_seed(state.seed)
        self._show_locked(state.locked)
        self._show_after_run(state.after_run)
        self._show_last_seeds(state.last_seeds)

    def copy_last_seed(self) -> None:
        if self.state.last_seeds:
            QGuiApplication.clipboard().setText(", ".join(str(seed) for seed in self.state.last_seeds))

    def _seed_edited(self) -> None:
        text = self.seed_edit.text().strip()
        if text:
            self.state.set_seed(int(text))
        self._show_seed(self.state.seed)  # shows the clamped value, or restores an emptied box

    def _show_seed(self, seed: int) -> None:
        self.seed_edit.setText(str(seed))

    def _show_locked(self, locked: bool) -> None:
        self.lock_button.setChecked(locked)
        self.after_run_combo.setEnabled(not locked)

    def _show_after_run(self, value: str) -> None:
        self.after_run_combo.setCurrentIndex(max(0, self.after_run_combo.findData(value)))

    def _show_last_seeds(self, seeds: tuple[int, ...]) -> None:
        self.result_seeds_label.setText(", ".join(str(seed) for seed in seeds) if seeds else "—")
        self.reuse_button.setEnabled(bool(seeds))
        self.copy_button.setEnabled(bool(seeds))
