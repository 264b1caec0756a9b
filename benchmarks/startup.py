"""How long until the window is on screen, and is torch still unimported then?

Each sample is a fresh `python` process started by this script; the clock starts just before the
process is spawned (interpreter start-up included) and stops after the window's first full paint.
Prints a table; run under Xvfb (`xvfb-run -a python benchmarks/startup.py`) or any desktop.
It uses a temporary settings file and does not load a model, so it measures only the UI.

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)

TARGET_S = 1.5


def child(spawned_at: float) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    work = Path(tempfile.mkdtemp())
    window = MainWindow(open_settings(work / "startup.ini"), load_model_on_show=False,
                        gallery_folder=work / "gallery")
    window.show()

    def shown() -> None:
        window.repaint()  # make sure one whole frame has been painted
        seconds = time.time() - spawned_at
        heavy = [name for name in ("torch", "diffusers") if name in sys.modules]
        print(json.dumps({"shown_s": seconds, "heavy_modules": heavy, "platform": app.platformName()}))
        window.close()
        app.quit()

    QTimer.singleShot(0, shown)
    app.exec()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        child(options.child)
        return
    samples = []
    for _ in range(options.runs):
        spawned_at = time.time()
        completed = subprocess.run(
            [sys.executable, __file__, "--child", repr(spawned_at)],
            capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=True,
        )
        line = next(line for line in completed.stdout.splitlines() if line.startswith("{"))
        samples.append(json.loads(line))
    times = [sample["shown_s"] for sample in samples]
    print(f"platform: {samples[0]['platform']}, cpus: {os.cpu_count()}, runs: {len(times)}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| window shown, median | {statistics.median(times):.2f} s (target < {TARGET_S} s) |")
    print(f"| window shown, min / max | {min(times):.2f} s / {max(times):.2f} s |")
    heavy = sorted({name for sample in samples for name in sample["heavy_modules"]})
    print(f"| torch/diffusers imported when shown | {'yes: ' + ', '.join(heavy) if heavy else 'no'} |")


if __name__ == "__main__":
    main()
