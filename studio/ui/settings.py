"""Persist the prompt, parameters, seed, tools, model and window layout between launches.

QSettings in IniFormat, in the user's config directory; tests pass a file under tmp_path instead.
Each model's observable properties are saved under its own group, so a new property needs no code here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMainWindow, QTabWidget

from studio.ui.observable import observable_names

ORGANISATION, APPLICATION = "LatentStudio", "Latent Studio"


def default_settings_path() -> Path:
    config_dir = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(config_dir or Path.home() / ".config") / "latent-studio" / "latent-studio.ini"


def open_settings(path: Path | str | None = None) -> QSettings:
    return QSettings(str(path or default_settings_path()), QSettings.Format.IniFormat)


def save_model(settings: QSettings, group: str, model: QObject) -> None:
    settings.beginGroup(group)
    for name in observable_names(model):
        value = getattr(model, name)
        settings.setValue(name, value.name(QColor.NameFormat.HexArgb) if isinstance(value, QColor) else value)
    settings.endGroup()


def restore_model(settings: QSettings, group: str, model: QObject) -> None:
    """Values that are missing or unreadable keep the model's default: a bad file never stops the app."""
    settings.beginGroup(group)
    try:
        for name in observable_names(model):
            if not settings.contains(name):
                continue
            current = getattr(model, name)
            raw = settings.value(name)
            try:
                setattr(model, name, convert_like(raw, current))
            except (TypeError, ValueError):
                continue
    finally:
        settings.endGroup()


def save_window_layout(settings: QSettings, window: QMainWindow, tabs: QTabWidget) -> None:
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/info_tab", tabs.tabText(tabs.currentIndex()))


def restore_window_layout(settings: QSettings, window: QMainWindow, tabs: QTabWidget) -> None:
    """Size, docks and the tab the Result dock was left on (by name: tabs may be added or reordered)."""
    geometry = settings.value("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = settings.value("window/state")
    if state is not None:
        window.restoreState(state)
    names = [tabs.tabText(index) for index in range(tabs.count())]
    tab = str(settings.value("window/info_tab", ""))
    if tab in names:
        tabs.setCurrentIndex(names.index(tab))


def convert_like(raw: object, like: object) -> object:
    if isinstance(like, QColor):
        colour = QColor(str(raw))
        if not colour.isValid():
            raise ValueError(raw)
        return colour
    if isinstance(like, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, tuple):
        items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        return tuple(int(item) for item in items)
    if isinstance(raw, list):  # an unquoted comma in a hand-edited file makes QSettings split the text
        return ", ".join(str(item) for item in raw)
    return "" if raw is None else str(raw)
