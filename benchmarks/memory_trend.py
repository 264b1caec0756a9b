"""Does the app's memory stay flat over many generations? RSS measured over 1,000 runs.

Opens the real main window (offscreen unless a display is set) on the real engine and its worker
thread, with a tiny random-weight model, and presses Generate again and again: text-to-image and
inpainting in turn (the mask brushed anew each time), each result landing on the canvas, in the
undo history and in the gallery, as a person's runs do. The process's resident memory is read after
every run; the trend is the least-squares slope over the runs after the warm-up. --engine-only runs
the same requests through the engine alone, to tell its share from the window's; --trace names
where Python's own heap grew (tracemalloc; slow).

    python benchmarks/memory_trend.py [--runs 1000] [--size 256] [--steps 4] [--warm-up 200]
        [--engine-only] [--trace]
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _common import use_offscreen_qt

use_offscreen_qt()


def resident_mb() -> float:
    """VmRSS from /proc (Linux): the memory the process holds now, not its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256, help="canvas side in pixels")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warm-up", type=int, default=200, help="runs left out of the trend")
    parser.add_argument("--trace", action="store_true",
                        help="after the warm-up, trace Python's allocations and print where memory grew")
    parser.add_argument("--engine-only", action="store_true",
                        help="the engine alone, no window: tells the engine's share from the app's")
    options = parser.parse_args()

    from studio.training.random_models import save_random_model  # this script, not the app, imports torch

    work = Path(tempfile.mkdtemp(prefix="latent-studio-memory-"))
    model = str(save_random_model(work / "tiny", kind="tiny"))
    started = time.perf_counter()
    runs = engine_runs if options.engine_only else window_runs
    rss, failures = runs(options, model, work)
    report(options, rss, failures, time.perf_counter() - started)


def engine_runs(options: argparse.Namespace, model: str, work: Path) -> tuple[list[float], list[str]]:
    from studio.engine.engine import Engine
    from studio.engine.request import GenerationRequest, Mode

    engine = Engine()
    side = options.size // 4
    canvas = np.full((options.size, options.size, 3), 255, np.uint8)
    rss: list[float] = []
    for run in range(options.runs):
        trace_from_here(options, run)
        request = GenerationRequest(prompt="a lake", seed=run, steps=options.steps, model=model,
                                    width=options.size, height=options.size)
        if run % 2:
            mask = np.zeros(canvas.shape[:2], np.uint8)
            left = (run * 7) % (options.size - side)
            mask[side : 2 * side, left : left + side] = 255
            request = request.replace(mode=Mode.INPAINT, init_image=canvas, mask=mask)
        canvas = engine.generate(request).images[0]
        note_progress(rss, run)
    print_traced_growth()
    return rss, []


def window_runs(options: argparse.Namespace, model: str, work: Path) -> tuple[list[float], list[str]]:
    from PySide6.QtCore import QEventLoop, QRect, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import open_settings

    app = QApplication([])
    window = MainWindow(settings=open_settings(work / "settings.ini"), gallery_folder=work / "gallery",
                        load_model_on_show=False)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.show()

    def wait_for(signal, timeout_s: float = 300) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    window.parameters.model = model
    wait_for(window.service.model_ready)
    window.document.reset(options.size, options.size)
    window.parameters.steps = options.steps
    window.seed_state.after_run = "random"
    failures: list[str] = []
    window.service.failed.connect(failures.append)
    rss: list[float] = []
    for run in range(options.runs):
        trace_from_here(options, run)
        if run % 2:  # inpaint: a mask brushed anew (the result's undo step holds only its box)
            side = options.size // 4
            window.document.add_mask_rect(QRect((run * 7) % (options.size - side), side, side, side))
        else:
            window.document.clear_mask()
        window.generate_action.trigger()
        wait_for(window.service.finished)
        while window.service.busy:  # busy clears at job_done, just after `finished`
            app.processEvents()
        note_progress(rss, run)
    print_traced_growth()
    window.close()
    return rss, failures


_started = time.perf_counter()
_traced_from: list[tracemalloc.Snapshot] = []


def trace_from_here(options: argparse.Namespace, run: int) -> None:
    if options.trace and run == options.warm_up:
        tracemalloc.start(8)
        _traced_from.append(tracemalloc.take_snapshot())


def note_progress(rss: list[float], run: int) -> None:
    rss.append(resident_mb())
    if (run + 1) % 100 == 0:
        print(f"run {run + 1:5d}: RSS {rss[-1]:7.1f} MB, {time.perf_counter() - _started:6.0f} s", flush=True)


def print_traced_growth() -> None:
    if not _traced_from:
        return
    grown = tracemalloc.take_snapshot().compare_to(_traced_from[0], "traceback")
    print("\nwhere Python's memory grew after the warm-up (top 6):")
    for stat in grown[:6]:
        print(f"  {stat.size_diff / 1e6:+.2f} MB in {stat.count_diff:+d} blocks, allocated at:")
        for frame in list(stat.traceback)[-4:]:
            print(f"      {frame.filename}:{frame.lineno}")


def report(options: argparse.Namespace, rss: list[float], failures: list[str], seconds: float) -> None:
    runs = np.arange(len(rss))
    kept = slice(min(options.warm_up, len(rss) - 2), None)
    slope_per_run = np.polyfit(runs[kept], np.asarray(rss)[kept], 1)[0]
    what = "the engine alone" if options.engine_only else "the app"
    print(f"\n{options.runs} runs of {what} at {options.size}x{options.size}, {options.steps} steps, "
          f"{len(failures)} failed, {seconds:.0f} s")
    print(f"RSS after run 1: {rss[0]:.1f} MB; after run {options.warm_up}: {rss[kept][0]:.1f} MB; "
          f"at the end: {rss[-1]:.1f} MB (peak {max(rss):.1f} MB)")
    print(f"trend after the warm-up: {slope_per_run * 100:+.2f} MB per 100 runs")
    # What of it is memory freed but kept by C's allocator (fragmentation), not a leak: given back now.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(f"RSS after malloc_trim(0): {resident_mb():.1f} MB")


if __name__ == "__main__":
    main()
