"""Start the desktop app: `python main.py` or `python main.py gui`."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.ui.display_check import display_problem
from studio.ui.main_window import MainWindow
from studio.ui.settings import APPLICATION, ORGANISATION, open_settings


def run_app(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == sys.argv[0]:  # tolerate a program name passed along with the arguments
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="latent-studio gui", description="The Latent Studio painting app")
    parser.add_argument("--settings", help="settings file (default: in the user's config folder)")
    parser.add_argument("--model", help="model to load: a folder, a .safetensors file or a hub id")
    options, qt_arguments = parser.parse_known_args(argv)

    if QApplication.instance() is None and (problem := display_problem(os.environ)):
        print(f"latent-studio: {problem}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_arguments])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(settings=open_settings(options.settings))
    if options.model is not None:
        window.parameters.model = options.model
    window.show()
    # Ctrl+C or a polite kill closes the window properly (settings saved, run cancelled). Python runs
    # signal handlers only between bytecodes, so a slow timer gives it the chance during app.exec().
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _number, _frame: close_without_asking(window))
    signal_timer = QTimer(interval=250)
    signal_timer.timeout.connect(lambda: None)
    signal_timer.start()
    return app.exec()


def close_without_asking(window: MainWindow) -> None:
    """Ctrl+C or SIGTERM: close now, even when the Save/Discard/Cancel question is open."""
    window.ask_before_discarding = False
    dialog = QApplication.activeModalWidget()
    if dialog is not None:
        # The question's own event loop is running inside the window's closeEvent: closing again from
        # in there would leave the dialog up and the app running. Answer Cancel, and close once that
        # loop has returned.
        dialog.reject()
        QTimer.singleShot(0, window.close)
        return
    window.close()


if __name__ == "__main__":
    sys.exit(run_app())
