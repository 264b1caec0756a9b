"""Live painting through the whole app: strokes in, results beside the canvas out, per second.

Opens the real main window (offscreen unless a display is set), turns live painting on and paints a
stroke every `--every` ms (each stroke 10 pointer moves over `--stroke-ms`), for `--seconds`. Every
finished stroke (debounced) starts a short image-to-image run that cancels the one going. Reports
results shown per second, and the latency from a stroke's end to the result made from it.

    python benchmarks/live_painting_ui.py [--model PATH] [--seconds 10] [--every 450] [--live-steps 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import EMBEDDED_MODEL, send_mouse, use_offscreen_qt

use_offscreen_qt()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model source (default: the embedded one, else a tiny random model)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--every", type=int, default=450, help="ms from one stroke's start to the next")
    parser.add_argument("--stroke-ms", type=int, default=300)
    parser.add_argument("--live-steps", type=int, default=4)
    parser.add_argument("--strength", type=float, default=0.6)
    options = parser.parse_args()

    from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    app = QApplication([])  # noqa: F841 - widgets need it alive
    work = Path(tempfile.mkdtemp(prefix="latent-studio-live-"))
    model = options.model
    embedded = EMBEDDED_MODEL
    if model is None:
        if embedded.exists():
            model = ""
        else:
            from studio.training.random_models import save_random_model  # this script, not the app

            model = str(save_random_model(work / "tiny", kind="tiny"))
    window = MainWindow(open_settings(work / "settings.ini"), load_model_on_show=False,
                        gallery_folder=work / "gallery")
    window.resize(1200, 800)
    window.show()
    loop = QEventLoop()
    window.service.model_ready.connect(loop.quit)
    window.parameters.model = model
    window.service.request_model_load(model)  # "" is already the default: no change signal loads it
    loop.exec()
    window.parameters.live_steps = options.live_steps
    window.parameters.strength = options.strength
    window.parameters.use_canvas_as_init = True
    # One live run first: the engine's first image-to-image run pays one-off set-up costs.
    warm = QEventLoop()
    window.service.finished.connect(warm.quit)
    window.generation.start_live_run()
    warm.exec()
    window.service.finished.disconnect(warm.quit)

    canvas = window.canvas
    size = window.document.size()
    stroke_ends: list[float] = []  # when each stroke was committed (its undo entry)
    strokes_seen: dict[int, int] = {}  # id(request) -> strokes on the canvas when it was built
    latencies: list[float] = []
    shown = 0
    window.document.undo_stack.indexChanged.connect(lambda _index: stroke_ends.append(time.perf_counter()))
    window.service.run_started.connect(
        lambda request: strokes_seen.__setitem__(id(request), len(stroke_ends))
    )

    def result_shown(result) -> None:
        nonlocal shown
        shown += 1
        strokes = strokes_seen.get(id(result.request), 0)
        if strokes:
            latencies.append(time.perf_counter() - stroke_ends[strokes - 1])

    window.service.finished.connect(result_shown)
    window.parameters.live_painting = True

    stroke_count = 0

    def paint_one_stroke() -> None:
        nonlocal stroke_count
        stroke_count += 1
        row = (stroke_count * 37) % size.height()
        points = [QPointF(size.width() * i / 10, row) for i in range(11)]
        held = Qt.MouseButton.LeftButton
        send_mouse(canvas, QEvent.Type.MouseButtonPress, canvas.to_widget(points[0]), held)
        for index, point in enumerate(points[1:], start=1):
            last = index == len(points) - 1
            QTimer.singleShot(
                options.stroke_ms * index // 10,
                lambda point=point, last=last: (
                    send_mouse(canvas, QEvent.Type.MouseMove, canvas.to_widget(point), held),
                    last and send_mouse(canvas, QEvent.Type.MouseButtonRelease, canvas.to_widget(point),
                                        Qt.MouseButton.NoButton),
                ),
            )

    painter = QTimer(interval=options.every)
    painter.timeout.connect(paint_one_stroke)
    started = time.perf_counter()
    painter.start()
    done = QEventLoop()
    QTimer.singleShot(int(options.seconds * 1000), done.quit)
    done.exec()
    painter.stop()
    settle = QEventLoop()
    QTimer.singleShot(3000, settle.quit)  # let the last run finish
    settle.exec()
    elapsed = options.seconds
    window.ask_before_discarding = False  # a benchmark has no one to answer "save changes?"
    window.close()
    info = window.generation.model_info
    print(f"model {info.name if info else model} {size.width()}x{size.height()}, "
          f"{options.live_steps} live steps at strength {options.strength}, "
          f"a stroke every {options.every} ms for {elapsed:.0f} s, cpus {os.cpu_count()}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| strokes painted | {stroke_count} |")
    print(f"| live results shown | {shown} ({shown / elapsed:.1f} per second) |")
    if latencies:
        print(f"| stroke end -> its result, median | {statistics.median(latencies) * 1000:.0f} ms |")
    print(f"| wall time | {time.perf_counter() - started:.1f} s |")


if __name__ == "__main__":
    main()
