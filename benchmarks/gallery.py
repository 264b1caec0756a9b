"""Does the gallery stay responsive with 10,000 results? A 2 ms heartbeat on the GUI thread, measured.

Writes COUNT result PNGs (small pictures with our full metadata, as the app writes them) into a
temporary gallery and opens the real main window on its Gallery tab twice: the time until all are
listed without the index (every PNG's prompt read) and with it. Then, each with the heartbeat
running: listing them all anew (what a launch's listing costs the GUI thread, without the window's
own first paint), typing a search word, clearing it, and scrolling the whole list.
"GUI CPU per beat" is the GUI thread's own CPU time between two beats: what the gallery costs it.

    python benchmarks/gallery.py [--count 10000]
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

WORDS = ("sunny", "night", "lake", "mountain", "forest", "snow", "desert", "sunset", "clouds", "moon")


def write_gallery(folder: Path, count: int) -> float:
    from studio.engine.request import GenerationRequest, GenerationResult
    from studio.ui.gallery_store import write_result

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    for index in range(count):
        prompt = " ".join(rng.choice(WORDS, size=4))
        request = GenerationRequest(prompt=f"{prompt} {index}", seed=index, steps=25, width=64, height=64)
        image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        path = write_result(folder, image, index, GenerationResult(request, (image,), (index,), "bench", 1.0))
        os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    options = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    app = QApplication([])
    work = Path(tempfile.mkdtemp(prefix="latent-studio-gallery-"))
    gallery = work / "gallery"
    written_s = write_gallery(gallery, options.count)
    print(f"{options.count} PNGs written in {written_s:.1f} s; platform {app.platformName()}, "
          f"cpus {os.cpu_count()}")

    def beats_while(action, done) -> tuple[float, float, float]:
        """(seconds until done(), GUI CPU per beat max ms, wall max ms) with a 2 ms heartbeat running
        from the end of action() (which opens a window, or types: the gallery's work comes after)."""
        started = time.perf_counter()
        action()
        wall, cpu = [time.perf_counter()], [time.thread_time()]
        timer = QTimer(interval=2)
        timer.timeout.connect(lambda: (wall.append(time.perf_counter()), cpu.append(time.thread_time())))
        timer.start()
        loop = QEventLoop()
        poll = QTimer(interval=5)
        poll.timeout.connect(lambda: done() and loop.quit())
        poll.start()
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        elapsed = time.perf_counter() - started
        settle = QEventLoop()  # what follows done() (thumbnails painting) counts too
        QTimer.singleShot(300, settle.quit)
        settle.exec()
        timer.stop()
        poll.stop()
        return elapsed, float(np.diff(cpu).max() * 1000), float(np.diff(wall).max() * 1000)

    rows = []

    def open_window() -> MainWindow:
        settings = open_settings(work / "settings.ini")
        window = MainWindow(settings, load_model_on_show=False, gallery_folder=gallery)
        window.info_tabs.setCurrentWidget(window.gallery)
        window.ask_before_discarding = False  # a benchmark has no one to answer "save changes?"
        window.show()
        return window

    holder: dict[str, MainWindow] = {}
    listed = lambda: holder["window"].gallery.model.total == options.count  # noqa: E731
    launches = []
    for _ in range(2):  # the first finds no index and reads every PNG's prompt; the second has one
        started = time.perf_counter()
        holder["window"] = open_window()
        beats_while(lambda: None, listed)
        launches.append(time.perf_counter() - started)
        if len(launches) == 1:
            holder.pop("window").close()
    print(f"launch until all {options.count:,} are listed: {launches[0]:.2f} s without the index, "
          f"{launches[1]:.2f} s with it (the window's own start included, see startup.py)")
    panel = holder["window"].gallery
    store = panel.store

    def relist_from_scratch() -> None:
        """What a launch's listing costs the GUI thread, without the window's own first paint: the
        model emptied, the index forgotten, and the folder scanned as new."""
        panel.model.set_entries([])
        store.index_path.unlink(missing_ok=True)
        store._scanner.submit(lambda: setattr(store, "_known", None)).result()
        store.scan()

    rows.append(("list 10,000 new entries (scan without index, model reset, first paint)",
                 *beats_while(relist_from_scratch, lambda: panel.model.total == options.count)))
    rows.append(("type a search word ('lake')", *beats_while(
        lambda: panel.search.setText("lake"),
        lambda: 0 < panel.model.rowCount() < options.count)))
    rows.append(("clear the search", *beats_while(
        lambda: panel.search.setText(""), lambda: panel.model.rowCount() == options.count)))
    bar = panel.view.verticalScrollBar()
    steps = iter(range(0, bar.maximum() + 1, max(1, bar.pageStep())))

    def scroll_on() -> bool:
        position = next(steps, None)
        if position is None:
            return True
        bar.setValue(position)
        return False

    pages = bar.maximum() // max(1, bar.pageStep()) + 1
    scrolled = beats_while(lambda: None, scroll_on)
    rows.append((f"scroll the whole list, a page per 5 ms ({pages} pages)", *scrolled))
    holder["window"].close()

    print(f"| gallery of {options.count:,} | seconds | GUI CPU per beat, max | heartbeat wall max |")
    print("|---|---|---|---|")
    for label, seconds, cpu_max, wall_max in rows:
        print(f"| {label} | {seconds:.2f} s | {cpu_max:.1f} ms | {wall_max:.1f} ms |")


if __name__ == "__main__":
    main()
