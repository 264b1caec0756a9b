"""The gallery's files: every finished result as a lossless PNG with its parameters, in a folder of
plain files under the user's data directory.

Nothing here runs on the GUI thread's time but the bookkeeping: results are encoded and written on a
writer thread, the folder is listed and its PNGs' prompts read on a scanner thread, thumbnails are
decoded on their own threads (QImage, unlike QPixmap, may be made off the GUI thread). What the
threads find comes back by queued signals. The folder stays the truth: a file deleted by hand or a
PNG copied in from elsewhere is picked up at the next scan, which a QFileSystemWatcher starts.

A small index (prompt and seed per file name, size and time) spares the scanner reading 10,000 PNGs
again at each launch; it is a cache beside the folder, rebuilt when missing or unreadable.
"""

from __future__ import annotations

import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from PySide6.QtCore import QFileSystemWatcher, QObject, QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader

from studio.engine.atomic_file import atomic_write
from studio.engine.file_names import reserve_path, result_file_stem
from studio.engine.metadata import png_text_chunks, save_png
from studio.engine.metadata_import import settings_from_text_chunks
from studio.engine.request import GenerationResult

INDEX_NAME = "gallery-index.json"  # beside the folder, not in it: the folder holds only pictures
RESCAN_DELAY_MS = 300  # a burst of changes (a batch written, a folder copied in) is scanned once
THUMBNAIL_PX = 96


def default_gallery_folder() -> Path:
    """<the user's data directory>/gallery: on Linux ~/.local/share/LatentStudio/Latent Studio/gallery."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".latent-studio") / "gallery"


@dataclass(frozen=True)
class GalleryEntry:
    path: Path
    modified_ns: int
    size: int
    prompt: str  # "" when the file says nothing of how it was made
    seed: int | None
    # Worked out once, on the scanner thread: the GUI thread's search and lookups only read them.
    name: str = field(init=False, compare=False)  # path.name
    search_text: str = field(init=False, compare=False)  # the prompt, casefolded

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.path.name)
        object.__setattr__(self, "search_text", self.prompt.casefold())


def read_entry(path: Path, modified_ns: int, size: int) -> GalleryEntry:
    """The prompt and seed a PNG records (ours, AUTOMATIC1111's or ComfyUI's), from the text chunks
    before its pixels, where all three write them: `info` holds those without decoding a pixel
    (`Image.text` would decode the whole picture to look for more after it)."""
    try:
        with Image.open(path) as image:
            text = png_text_chunks(image, after_the_pixels_too=False)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        text = {}
    values = settings_from_text_chunks(text).values
    seed = values.get("seed")
    prompt = str(values.get("prompt", ""))
    return GalleryEntry(path, modified_ns, size, prompt, None if seed is None else int(seed))


def scan_folder(folder: Path, known: dict[str, GalleryEntry]) -> list[GalleryEntry]:
    """Every non-empty PNG in `folder`, newest first; files unchanged since `known` are not read again.
    (An empty file is one being written: the next scan lists it.)"""
    entries = []
    try:
        listing = list(os.scandir(folder))
    except OSError:
        return []
    for item in listing:
        if not item.name.lower().endswith(".png") or item.name.startswith("."):
            continue
        try:
            stat = item.stat()
        except OSError:
            continue  # deleted while we looked
        if stat.st_size == 0 or not item.is_file():
            continue
        entry = known.get(item.name)
        if entry is None or entry.modified_ns != stat.st_mtime_ns or entry.size != stat.st_size:
            entry = read_entry(Path(item.path), stat.st_mtime_ns, stat.st_size)
        entries.append(entry)
    entries.sort(key=lambda entry: (entry.modified_ns, entry.name), reverse=True)
    return entries


def load_index(path: Path, folder: Path) -> dict[str, GalleryEntry]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(row["name"]): GalleryEntry(
                folder / str(row["name"]), int(row["modified_ns"]), int(row["size"]), str(row["prompt"]),
                None if row.get("seed") is None else int(row["seed"]),
            )
            for row in rows
            if "/" not in str(row["name"]) and "\\" not in str(row["name"])  # a cache, but still a file
        }
    except (OSError, ValueError, TypeError, KeyError):
        return {}  # missing or damaged: the scan reads the files instead


def save_index(path: Path, entries: list[GalleryEntry]) -> None:
    rows = [{"name": entry.name, "modified_ns": entry.modified_ns, "size": entry.size,
             "prompt": entry.prompt, "seed": entry.seed} for entry in entries]
    with atomic_write(path) as file:
        file.write(json.dumps(rows).encode("utf-8"))


def write_result(folder: Path, image: np.ndarray, seed: int, result: GenerationResult) -> Path:
    """One result image as a PNG with its parameters, under a name made from its prompt. The name is
    reserved by exclusive creation (an existing file is never overwritten); save_png writes a hidden
    temporary file and renames it over the reservation, so the gallery never lists half a PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    path = reserve_path(folder, result_file_stem(result.request.prompt, seed, datetime.now()), ".png")
    try:
        save_png(path, image, result.request, seed, result)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


class GalleryStore(QObject):
    """The gallery folder: lists it, keeps it listed, writes results into it, makes thumbnails."""

    listed = Signal(object)  # list[GalleryEntry], newest first: the whole folder as last scanned
    written = Signal(object)  # Path of a result just written
    write_failed = Signal(str)
    thumbnail_ready = Signal(object, QImage)  # Path, a THUMBNAIL_PX picture

    def __init__(self, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.index_path = self.folder.parent / INDEX_NAME
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-write")
        self._scanner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-scan")
        self._thumbnailer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gallery-thumbnails")
        self._known: dict[str, GalleryEntry] | None = None  # the scanner thread's, once loaded
        self._closed = False
        self._rescan = QTimer(self, singleShot=True, interval=RESCAN_DELAY_MS)
        self._rescan.timeout.connect(self.scan)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _path: self.rescan_soon())

    def scan(self) -> None:
        """Lists the folder in the background; `listed` brings the result."""
        if not self._closed:
            self._scanner.submit(self._scan)

    def _scan(self) -> None:  # on the scanner thread
        if self._known is None:
            self._known = load_index(self.index_path, self.folder)
        entries = scan_folder(self.folder, self._known)
        listed = {entry.name: entry for entry in entries}
        changed, self._known = listed != self._known, listed
        if changed:
            with contextlib.suppress(OSError):  # only a cache: the next launch reads the files again
                save_index(self.index_path, entries)
        self.listed.emit(entries)

    def rescan_soon(self) -> None:
        """Scans once the burst of changes is over (a batch written, a folder copied in)."""
        if not self._closed:
            self._rescan.start()

    def watch(self) -> None:
        """Scans now and again whenever the folder changes (made first, so there is one to watch)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.write_failed.emit(f"The gallery folder {self.folder} cannot be made: {error}")
            return
        if str(self.folder) not in self._watcher.directories():
            self._watcher.addPath(str(self.folder))
        self.scan()

    def save_result(self, result: GenerationResult, indices: list[int] | None = None) -> None:
        """Writes the result's images (all, or those at `indices`) in the background."""
        for index in range(len(result.images)) if indices is None else indices:
            self._writer.submit(self._write, result.images[index], result.seeds[index], result)

    def _write(self, image: np.ndarray, seed: int, result: GenerationResult) -> None:  # writer thread
        try:
            path = write_result(self.folder, image, seed, result)
        except (OSError, ValueError) as error:
            self.write_failed.emit(f"The result could not be kept in the gallery ({error}); it is still "
                                   "in the Last result tab, where Apply puts it on the canvas.")
            return
        self.written.emit(path)

    def request_thumbnail(self, path: Path) -> None:
        if not self._closed:
            self._thumbnailer.submit(self._thumbnail, path)

    def _thumbnail(self, path: Path) -> None:  # on a thumbnail thread
        reader = QImageReader(str(path))
        size = reader.size()
        if size.isValid():  # scaled while decoding: a large PNG is never held at full size here
            size.scale(QSize(THUMBNAIL_PX, THUMBNAIL_PX), Qt.AspectRatioMode.KeepAspectRatio)
            reader.setScaledSize(size)
        image = reader.read()
        if not image.isNull():
            self.thumbnail_ready.emit(path, image)

    def flush(self) -> None:
        """Waits for the writes and scans already asked for (tests, and closing)."""
        for pool in (self._writer, self._scanner):
            pool.submit(lambda: None).result()

    def close(self) -> None:
        self._closed = True
        self._rescan.stop()
        for pool in (self._writer, self._scanner, self._thumbnailer):
            pool.shutdown(wait=True, cancel_futures=pool is not self._writer)  # results are never dropped
