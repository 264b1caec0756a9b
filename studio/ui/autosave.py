"""Crash safety: the document is written to an autosave file a moment after each change, in the
background, and the next launch after a crash or a kill restores it by itself.

The file exists only while there is unsaved work: a clean document (just saved, just opened, new)
removes it, and so does a close where the person chose Discard. A close that asks nobody (Ctrl+C,
SIGTERM) keeps it, written up to the last stroke. The pixels are taken on the GUI thread (QImage
copies share their pixels until the canvas changes again, so that costs nothing); encoding and
writing happen on a writer thread. A failed write is reported once until one succeeds again.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from studio.ui.document_file import (
    DocumentFileError,
    DocumentSnapshot,
    read_document,
    snapshot_of,
    write_document,
)
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters

AUTOSAVE_NAME = "autosave.lsdoc"
AUTOSAVE_DELAY_MS = 1000  # after the last change: a stroke in progress is not written half-way


class Autosaver(QObject):
    saved = Signal()  # the autosave file holds the document as it was at the last change
    failed = Signal(str)  # a message for the person, once per run of failures

    def __init__(self, document: Document, parameters: GenerationParameters, folder: Path,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.parameters = document, parameters
        self.path = Path(folder) / AUTOSAVE_NAME
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._pending: Future | None = None
        self._lock = threading.Lock()  # the writer thread's "failing" state, read by both threads
        self._failing = False
        self._timer = QTimer(self, singleShot=True, interval=AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.save_now)
        document.undo_stack.indexChanged.connect(lambda _index: self._timer.start())
        document.undo_stack.cleanChanged.connect(lambda _clean: self._timer.start())
        parameters.prompt_changed.connect(lambda _text: self._timer.start())
        parameters.negative_prompt_changed.connect(lambda _text: self._timer.start())

    def restore(self) -> bool:
        """Puts an autosave left by a crash on the canvas (one undo step, so the work stays unsaved
        until the person saves it); False when there is none or it cannot be read."""
        if not self.path.exists():
            return False
        try:
            snapshot = read_document(self.path)
        except DocumentFileError as error:
            self.failed.emit(f"The autosave could not be restored ({error}); it was kept at {self.path}.")
            return False
        self.document.reset(snapshot.paint.width(), snapshot.paint.height())
        self.document.load_layers(snapshot.paint, snapshot.mask, "Restore autosave")
        for name, value in snapshot.text.items():
            setattr(self.parameters, name, value)
        self._timer.stop()  # what was restored is what is in the file
        return True

    def save_now(self) -> None:
        """Writes (or, for a clean document, removes) the autosave in the background."""
        self._timer.stop()
        clean = self.document.undo_stack.isClean()  # nothing unsaved: the autosave goes
        snapshot = None if clean else snapshot_of(self.document, self.parameters)
        self._pending = self._writer.submit(self._write, snapshot)

    def _write(self, snapshot: DocumentSnapshot | None) -> None:  # on the writer thread
        try:
            if snapshot is None:
                self.path.unlink(missing_ok=True)
            else:
                write_document(self.path, snapshot)
        except (DocumentFileError, OSError) as error:
            with self._lock:
                first, self._failing = not self._failing, True
            if first:  # signals from this thread reach the GUI thread queued
                self.failed.emit(f"Autosave failed: {error}. Your work is still on the canvas.")
            return
        with self._lock:
            self._failing = False
        if snapshot is not None:
            self.saved.emit()

    def flush(self) -> None:
        """Writes any change still waiting for its moment and waits for the writer."""
        if self._timer.isActive():
            self.save_now()
        if self._pending is not None:
            self._pending.result()

    def close(self, keep: bool) -> None:
        """At the window's close: `keep` the autosave (nobody was asked about unsaved work) or
        remove it (saved, clean, or the person chose Discard)."""
        self._timer.stop()
        if keep:
            self.save_now()
        else:
            self._pending = self._writer.submit(self._write, None)
        self._writer.shutdown(wait=True)
