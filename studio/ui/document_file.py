"""The document as one file of our own: a zip of the paint and mask layers as PNGs plus a JSON page
(size, prompt), written atomically (temporary file, fsync, replace), so a crash or a full disk mid-write
never damages the last good file. The autosave and File > Save use it.

Plain zip and PNG rather than a custom container: any archive tool opens it, and Qt writes and reads
PNG losslessly with the alpha of both layers.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from studio.engine.atomic_file import atomic_write
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters

FORMAT = "latent-studio-document"
VERSION = 1
MAX_SIDE_PX = 16384  # a damaged or hostile file cannot make us allocate a giant image


class DocumentFileError(ValueError):
    """A document file that cannot be read or written; the message is meant for the person."""


@dataclass
class DocumentSnapshot:
    """What a document file holds. QImages are implicitly shared: taking one costs no pixel copy."""

    paint: QImage
    mask: QImage
    text: dict[str, str] = field(default_factory=dict)  # prompt, negative_prompt
    # The panels' other settings by name (steps, guidance_scale, seed, ...): plain JSON scalars only.
    settings: dict[str, str | int | float | bool] = field(default_factory=dict)


def snapshot_of(document: Document, parameters: GenerationParameters,
                settings: dict[str, str | int | float | bool] | None = None) -> DocumentSnapshot:
    """The canvas's layers (shared QImage copies) and the prompt, plus `settings` if given."""
    paint, mask = (layer.image.copy() for layer in document.layers)
    text = {"prompt": parameters.prompt, "negative_prompt": parameters.negative_prompt}
    return DocumentSnapshot(paint, mask, text, dict(settings or {}))


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise DocumentFileError("could not encode a layer as PNG")
    buffer.close()
    return bytes(data.data())


def write_document(path: Path, snapshot: DocumentSnapshot) -> None:
    """Writes atomically: the file at `path` is the old one or the new one, never half of either."""
    path = Path(path)
    page = {
        "format": FORMAT, "version": VERSION,
        "width": snapshot.paint.width(), "height": snapshot.paint.height(), **snapshot.text,
        "settings": snapshot.settings,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("document.json", json.dumps(page, indent=1))  # ZIP_STORED: PNGs are compressed
            archive.writestr("paint.png", _png_bytes(snapshot.paint))
            archive.writestr("mask.png", _png_bytes(snapshot.mask))
    except OSError as error:
        raise DocumentFileError(f"Could not write {path}: {error.strerror or error}") from error


def read_document(path: Path) -> DocumentSnapshot:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            page: dict[str, Any] = json.loads(archive.read("document.json"))
            if page.get("format") != FORMAT:
                raise DocumentFileError(f"{path.name} is not a Latent Studio document")
            width, height = int(page["width"]), int(page["height"])
            if not (1 <= width <= MAX_SIDE_PX and 1 <= height <= MAX_SIDE_PX):
                raise DocumentFileError(f"{path.name} claims a {width}x{height} canvas")
            layers = {}
            for name in ("paint", "mask"):
                image = QImage.fromData(archive.read(f"{name}.png"), "PNG")
                if image.isNull() or (image.width(), image.height()) != (width, height):
                    raise DocumentFileError(f"the {name} layer of {path.name} is damaged")
                layers[name] = image
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
        if isinstance(error, DocumentFileError):
            raise
        raise DocumentFileError(f"Could not read {path.name}: {error}") from error
    text = {key: str(page[key]) for key in ("prompt", "negative_prompt") if isinstance(page.get(key), str)}
    return DocumentSnapshot(layers["paint"], layers["mask"], text, _plain_settings(page.get("settings")))


def _plain_settings(raw: object) -> dict[str, str | int | float | bool]:
    """Only names with scalar values survive: the file is untrusted, and the panels check the values."""
    if not isinstance(raw, dict):
        return {}
    return {str(name): value for name, value in list(raw.items())[:200]
            if isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 20_000)}
