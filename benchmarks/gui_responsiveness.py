"""Does the GUI thread stay responsive while a generation runs? A 2 ms heartbeat timer, measured.

Opens the real main window (offscreen unless a display is set), loads a model through the real
worker, and runs one generation with previews painted over a 512x512 canvas. The same heartbeat
with the app idle gives the machine's own noise (other processes on a shared CPU) for comparison.
"GUI CPU per beat" is the GUI thread's own CPU time between two beats: what this app costs it.
"GUI CPU in all" is the GUI thread's CPU time over the whole run: on a machine whose cores the run
keeps busy, what the GUI takes from the run (steadier than comparing run times on a shared CPU).

    python benchmarks/gui_responsiveness.py [--model PATH] [--steps 30] [--size 512] [--tab Diffusion]

--tab picks the Result dock's tab shown during the run: "Diffusion" (the inspector's plots drawn
as the steps arrive) or "Steps" (the filmstrip filling), to compare with the default "Last result".
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import use_offscreen_qt

use_offscreen_qt()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model source (default: a tiny random-weight model)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tab", default="Last result", help="the Result dock's tab shown during the run")
    options = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    app = QApplication([])
    work = Path(tempfile.mkdtemp(prefix="latent-studio-bench-"))
    model = options.model
    if model is None:
        from studio.training.random_models import save_random_model  # this script, not the app, imports torch

        model = str(save_random_model(work / "tiny", kind="tiny"))
    window = MainWindow(open_settings(work / "settings.ini"), load_model_on_show=False,
                        gallery_folder=work / "gallery")
    window.show()

    def wait(signal, timeout_s: float = 600) -> list:
        loop, received = QEventLoop(), []
        signal.connect(lambda *args: (received.extend(args), loop.quit()))
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        return received

    window.parameters.model = model
    window.service.request_model_load(model)  # "" is already the default: no change signal loads it
    wait(window.service.model_ready)
    window.parameters.width = window.parameters.height = options.size
    window.parameters.steps = options.steps
    tab_names = [window.info_tabs.tabText(index) for index in range(window.info_tabs.count())]
    if options.tab not in tab_names:
        parser.error(f"--tab: one of {', '.join(tab_names)}")
    window.info_tabs.setCurrentIndex(tab_names.index(options.tab))

    def heartbeat(until_signal=None, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        wall, cpu = [], []
        timer = QTimer(interval=2)
        timer.timeout.connect(lambda: (wall.append(time.perf_counter()), cpu.append(time.thread_time())))
        timer.start()
        if until_signal is not None:
            wait(until_signal)
        else:
            loop = QEventLoop()
            QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec()
        timer.stop()
        return np.diff(wall) * 1000, np.diff(cpu) * 1000

    # A person clicks Generate a while after opening a tab: by then its layout has settled (the docks
    # re-fit to a tab's new content, which would otherwise land in the run's first beats).
    heartbeat(seconds=1.0)
    started = time.perf_counter()
    window.generate_action.trigger()
    run_wall, run_cpu = heartbeat(until_signal=window.service.finished)
    run_seconds = time.perf_counter() - started
    idle_wall, idle_cpu = heartbeat(seconds=min(run_seconds, 10))
    previews = window.generation.preview_count
    window.ask_before_discarding = False  # a benchmark has no one to answer "save changes?"
    window.close()

    print(f"canvas {options.size}x{options.size}, {options.steps} steps, {previews} previews painted, "
          f"run {run_seconds:.2f} s, tab {options.tab!r} open, "
          f"platform {app.platformName()}, cpus {os.cpu_count()}")
    print("| heartbeat (2 ms) | beats | wall max | wall p99 | wall median | GUI CPU per beat, max "
          "| GUI CPU in all |")
    print("|---|---|---|---|---|---|---|")
    for label, wall, cpu in (("during the run", run_wall, run_cpu), ("app idle", idle_wall, idle_cpu)):
        print(f"| {label} | {len(wall)} | {wall.max():.1f} ms | {np.percentile(wall, 99):.1f} ms | "
              f"{np.median(wall):.1f} ms | {cpu.max():.1f} ms | {cpu.sum() / 1000:.2f} s |")


if __name__ == "__main__":
    main()
