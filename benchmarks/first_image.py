"""One app launch that presses Generate as soon as the embedded model is ready and quits when the
result is on the canvas: benchmarks/cpu_speed.py times this process from spawn to exit.

    QT_QPA_PLATFORM=offscreen python benchmarks/first_image.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)

STARTED = time.perf_counter()


def main() -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    work = Path(tempfile.mkdtemp())
    window = MainWindow(open_settings(work / "first-image.ini"), gallery_folder=work / "gallery")
    marks: dict[str, float] = {}

    def model_ready(_info) -> None:
        marks["model ready"] = time.perf_counter() - STARTED
        window.generate_action.trigger()

    def finished(_result) -> None:
        marks["image on canvas"] = time.perf_counter() - STARTED
        window.ask_before_discarding = False  # a benchmark has no work to keep
        window.close()
        app.quit()

    window.service.model_ready.connect(model_ready)
    window.service.finished.connect(finished)
    window.show()
    marks["window shown"] = time.perf_counter() - STARTED
    app.exec()
    print(", ".join(f"{name} {seconds:.2f} s" for name, seconds in marks.items()))


if __name__ == "__main__":
    main()
