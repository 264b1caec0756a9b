"""Cancel, pause and resume a run from another thread (the UI's), read by the engine between steps.

Plain threading, no torch and no Qt: the UI creates one per run and hands it to the engine.
"""

from __future__ import annotations

import queue
import threading

from studio.engine.request import Steer


class RunControl:
    """One run's controls. Pausing takes effect after the current step: the engine then reports the
    picture and waits in `wait_for_resume` until `resume` (with the person's steer, or none) or
    `cancel`. All methods may be called from any thread."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._pause_requested = threading.Event()
        self._resumes: queue.SimpleQueue[Steer | None] = queue.SimpleQueue()

    # ---- the UI's side --------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()
        self._resumes.put(None)  # wakes a paused run, which then sees the cancel

    def pause(self) -> None:
        self._pause_requested.set()

    def resume(self, steer: Steer | None = None) -> None:
        self._pause_requested.clear()
        self._resumes.put(steer)

    # ---- the engine's side ----------------------------------------------------------------------
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pause_requested(self) -> bool:
        return self._pause_requested.is_set() and not self._cancelled.is_set()

    def wait_for_resume(self) -> Steer | None:
        """Blocks until resumed or cancelled; the steer to apply (None: carry on unchanged)."""
        steer = self._resumes.get()
        return None if self._cancelled.is_set() else steer
