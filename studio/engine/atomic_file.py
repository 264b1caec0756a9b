"""Writing a file so that a crash, a full disk or an error mid-write never leaves half of it under its
final name: the old file or the new one, nothing in between."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def partial_path(path: Path) -> Path:
    """The hidden name a file is written under first (the gallery lists no hidden file)."""
    return path.with_name(f".{path.name}.partial")


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[BinaryIO]:
    """Yields a binary file to write `path`'s new contents into; when the block ends without an error
    they are flushed to the disk and renamed to `path` in one step, and on any error they are deleted.

    Written by hand: the standard library has no atomic replace of a file's contents (tempfile makes
    the file, os.replace renames it; this joins the two with the fsync between them)."""
    path = Path(path)
    temporary = partial_path(path)
    try:
        with open(temporary, "wb") as file:  # open(), not mkstemp: the file gets the umask's permissions
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
