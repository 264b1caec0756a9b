"""Python's cycle collector runs only in the GUI thread while the app has an engine thread.

The automatic collector runs in whichever thread happens to allocate when a threshold is crossed.
When that is the engine thread (it allocates a lot, loading a model or denoising) and the garbage
holds a Qt object, say a widget of a closed dialog caught in a reference cycle, Qt destroys that
object outside its own thread and the process dies with a segfault; CI saw exactly that while a
model loaded. pyqtgraph's GarbageCollector is the well-known remedy: automatic collection off, and a
GUI-thread timer that collects each generation once the same thresholds are crossed.
"""

from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_garbage_in_gui_thread() -> None:
    """Installs the one collector for this process; later calls do nothing. Call from the GUI thread."""
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=1.0)
