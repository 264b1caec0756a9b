"""File names made from prompts: safe on every common file system, never over an existing file.

A prompt is anything a person (or a PNG from the web) typed: slashes, "..", NUL, names Windows
reserves, thousands of characters. What comes out is letters, digits and "-", short enough for
the 255-byte name limits of ext4 and NTFS once a timestamp, a "-NNN" and a suffix are added.
"""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime
from pathlib import Path

FALLBACK_STEM = "untitled"
# Bytes, not characters, are what file systems count: 180 leaves room for result_file_stem's
# 31-character prefix, "-NNNNN", a suffix and the gallery's ".NAME.partial" temporary.
MAX_STEM_BYTES = 180
MAX_ATTEMPTS = 100_000
# Windows refuses these as a name, in any case and whatever extension follows ("con.png").
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{kind}{digit}" for kind in ("COM", "LPT") for digit in range(1, 10)}
)
# Beyond the separators: what Windows forbids in a name, and NUL everywhere.
_FORBIDDEN_CHARACTERS = frozenset('/\\:*?"<>|\x00')


def safe_stem(prompt: str, max_chars: int = 60) -> str:
    """A slug of `prompt`: NFKC-normalised, lower case, letters (any script), digits and combining
    marks kept, every run of anything else one "-"; never empty, ".", ".." or a reserved name."""
    text = unicodedata.normalize("NFKC", str(prompt)[: max_chars * 8]).lower()
    pieces: list[str] = []
    for character in text:
        if unicodedata.category(character)[0] in "LNM":
            pieces.append(character)
        elif pieces and pieces[-1] != "-":
            pieces.append("-")
    stem = _capped("".join(pieces).strip("-."), max(1, max_chars)).strip("-.")
    if not stem:
        return FALLBACK_STEM
    return f"_{stem}" if is_reserved_name(stem) else stem


def _capped(stem: str, max_chars: int) -> str:
    stem = stem[:max_chars]
    while len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    return stem


def is_reserved_name(name: str) -> bool:
    """True for CON, nul.png, Com1.tar.gz ...: Windows looks at the part before the first dot."""
    return name.split(".")[0].rstrip(" ").upper() in RESERVED_NAMES


def _check_plain_name(stem: str, suffix: str) -> None:
    name = stem + suffix
    if not stem or stem in (".", "..") or _FORBIDDEN_CHARACTERS.intersection(name) or is_reserved_name(name):
        raise ValueError(f"{name!r} is not a plain file name (make the stem with safe_stem)")
    if suffix and (not suffix.startswith(".") or suffix in (".", "..")):
        raise ValueError(f"a suffix starts with '.', got {suffix!r}")


def unique_path(folder: Path, stem: str, suffix: str = ".png") -> Path:
    """folder/stem+suffix, else folder/stem-2+suffix, stem-3 ...: the first that does not exist.

    Between this check and the file's creation another process may take the name: create the file
    with exclusive creation (open(path, "xb")), or call reserve_path, which does and retries."""
    _check_plain_name(stem, suffix)
    for number in range(1, MAX_ATTEMPTS + 1):
        path = folder / (f"{stem}{suffix}" if number == 1 else f"{stem}-{number}{suffix}")
        if not os.path.lexists(path):  # a dangling link counts as taken: "xb" would refuse it too
            return path
    raise FileExistsError(f"{folder / stem}{suffix} and {MAX_ATTEMPTS - 1} numbered names after it exist")


def reserve_path(folder: Path, stem: str, suffix: str = ".png") -> Path:
    """Creates an empty file under a free name (see unique_path) and returns its path. Exclusive
    creation makes a name taken meanwhile fail instead of being overwritten; then the next is tried."""
    for _ in range(MAX_ATTEMPTS):
        path = unique_path(folder, stem, suffix)
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {folder / stem}{suffix} after {MAX_ATTEMPTS} tries")


def result_file_stem(prompt: str, seed: int, when: datetime) -> str:
    """'20261203-141502-seed42-a-sunny-day-with-green-grass': sorts by time, says its seed."""
    return f"{when:%Y%m%d-%H%M%S}-seed{int(seed)}-{safe_stem(prompt)}"
