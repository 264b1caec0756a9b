"""The main window's furniture: the message bar above the canvas, the three docks, the menus and
the status bar's permanent fields. Building them is all this module does; what they show is bound
by the window."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenuBar,
    QPushButton,
    QScrollArea,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

# A menu's title and its actions in order; None is a separator.
MenuLayout = Sequence[tuple[str, Sequence[QAction | None]]]


class MessageBar(QFrame):
    """An error or notice above the canvas that stays until dismissed; nothing modal blocks painting."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setStyleSheet(
            "#messageBar { background: #5a1f24; border: 1px solid #a33; border-radius: 4px; }"
            "#messageBar QLabel { color: #ffdede; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close_button = QPushButton("Dismiss")
        close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close_button)
        self.hide()

    def show_message(self, message: str) -> None:
        self.label.setText(message)
        self.show()

    @property
    def message(self) -> str:
        return self.label.text() if self.isVisible() else ""


def central_widget(message_bar: MessageBar, canvas: QWidget) -> QWidget:
    """The message bar over the canvas."""
    central = QWidget()
    layout = QVBoxLayout(central)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addWidget(message_bar)
    layout.addWidget(canvas, 1)
    return central


def _dock(window: QMainWindow, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)  # saveState / restoreState find the dock by it
    dock.setWidget(widget)
    window.addDockWidget(area, dock)


def build_docks(
    window: QMainWindow,
    tools: QWidget,
    generate_widgets: Sequence[QWidget],
    info_tabs: Sequence[tuple[QWidget, str]],
) -> QTabWidget:
    """Tools and the Result tabs on the left, the Generate column (scrolling) on the right; returns
    the Result dock's tabs."""
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    _dock(window, "Tools", "toolsDock", tools, left)

    generate_widget = QWidget()
    generate_layout = QVBoxLayout(generate_widget)
    for widget in generate_widgets:
        generate_layout.addWidget(widget)
    generate_layout.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(generate_widget)
    scroll.setMinimumWidth(360)
    _dock(window, "Generate", "generateDock", scroll, right)

    tabs = QTabWidget()
    for widget, title in info_tabs:
        tabs.addTab(widget, title)
    tabs.setMinimumHeight(260)
    _dock(window, "Result", "resultDock", tabs, left)
    return tabs


def build_menus(menu_bar: QMenuBar, menus: MenuLayout) -> None:
    for title, actions in menus:
        menu = menu_bar.addMenu(title)
        for action in actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)


def add_status_fields(bar: QStatusBar, count: int) -> list[QLabel]:
    """`count` permanent fields at the status bar's right end, in order from left to right."""
    labels = [QLabel() for _ in range(count)]
    for label in labels:
        bar.addPermanentWidget(label)
    return labels
