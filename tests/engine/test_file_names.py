"""File names made from prompts stay inside their folder and never replace an existing file."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.engine.file_names import reserve_path, result_file_stem, safe_stem, unique_path

# Written out here rather than imported, so that a mistake in the module's own list shows.
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                    *(f"LPT{n}" for n in range(1, 10))}
AWKWARD_PROMPTS = [
    "..", ".", "", "////", "\\\\server\\share", "../../etc/passwd", "C:\\Windows\\system32", "CON",
    "nul.txt", "com1", "LPT9.png", "a\x00b", "\u202egnp.exe", "Ｃｏｎ", "COM¹", "-rf --all", "...hidden...",
    "日本語" * 40,
]
pieces = st.sampled_from(["..", "/", "\\", ".", "con", " ", "\x00", "a", "é", "𝔘"])
hostile_prompts = st.text() | st.sampled_from(AWKWARD_PROMPTS) | st.lists(pieces, max_size=40).map("".join)


def assert_plain_name(path: Path, folder: Path) -> None:
    assert path.parent == folder and path.resolve().parent == folder.resolve()
    name = path.name
    assert not {"/", "\\", "\x00"} & set(name)
    assert len(name) <= 60 + len("-NNN.png")
    assert name.split(".")[0].upper() not in WINDOWS_RESERVED
    assert name not in (".", "..") and not name.startswith(("-", "."))


@settings(max_examples=200, deadline=None)
@given(hostile_prompts)
def test_any_prompt_makes_a_plain_name_inside_the_folder_that_can_be_created(prompt):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = unique_path(folder, safe_stem(prompt))
        assert_plain_name(path, folder)
        created = reserve_path(folder, safe_stem(prompt))
        assert created == path and created.read_bytes() == b""
        created.write_bytes(b"first")
        again = reserve_path(folder, safe_stem(prompt))  # the same prompt again: a new file beside it
        assert again.name == path.name.removesuffix(".png") + "-2.png"
        assert created.read_bytes() == b"first"
        assert_plain_name(again, folder)
        assert sorted(entry.name for entry in folder.iterdir()) == sorted([path.name, again.name])


@settings(max_examples=200, deadline=None)
@given(hostile_prompts, st.integers(0, 2**32 - 1))
def test_gallery_names_fit_the_file_systems_byte_limit(prompt, seed):
    stem = result_file_stem(prompt, seed, datetime(2026, 12, 3, 14, 15, 2))
    # the gallery's hidden temporary file is the longest name made from it
    assert len(f".{stem}-99999.png.partial".encode()) <= 255
    with tempfile.TemporaryDirectory() as name:
        assert reserve_path(Path(name), stem).parent == Path(name)


@pytest.mark.parametrize(("prompt", "stem"), [
    ("", "untitled"), ("..", "untitled"), (".", "untitled"), ("////", "untitled"), ("\\\\", "untitled"),
    ("CON", "_con"), ("nul", "_nul"), ("Com1", "_com1"), ("LPT9", "_lpt9"), ("COM¹", "_com1"),
    ("con.txt", "con-txt"), ("../../etc/passwd", "etc-passwd"), ("C:\\Windows\\x", "c-windows-x"),
    ("A sunny day, with green grass!", "a-sunny-day-with-green-grass"),
    ("Ｆｕｌｌ／ｗｉｄｔｈ", "full-width"), ("Café au lait", "café-au-lait"), ("नमस्ते", "नमस्ते"),
    ("-rf --all", "rf-all"), ("a\x00b", "a-b"),
])
def test_awkward_prompts_make_these_stems(prompt, stem):
    assert safe_stem(prompt) == stem


def test_stems_are_capped_at_max_chars_without_a_trailing_dash():
    assert safe_stem("word " * 40) == "-".join(["word"] * 12)  # 59: the cut fell on a dash
    assert len(safe_stem("x" * 500)) == 60
    assert safe_stem("ab cd", max_chars=3) == "ab"


def test_an_existing_file_is_never_overwritten(tmp_path):
    (tmp_path / "a-lake.png").write_bytes(b"keep")
    assert unique_path(tmp_path, "a-lake") == tmp_path / "a-lake-2.png"
    (tmp_path / "a-lake-2.png").symlink_to(tmp_path / "missing")  # a dangling link is taken too
    reserved = reserve_path(tmp_path, "a-lake")
    assert reserved == tmp_path / "a-lake-3.png" and reserved.read_bytes() == b""
    assert (tmp_path / "a-lake.png").read_bytes() == b"keep"


@pytest.mark.parametrize("stem", ["", ".", "..", "../x", "a/b", "a\\b", "a\x00b", "con", "NUL.tar"])
def test_unique_path_refuses_stems_that_are_not_plain_names(tmp_path, stem):
    with pytest.raises(ValueError, match="not a plain file name"):
        unique_path(tmp_path, stem)


def test_result_file_stem_starts_with_time_and_seed():
    when = datetime(2026, 12, 3, 14, 15, 2)
    assert result_file_stem("A sunny day with green grass", 42, when) == (
        "20261203-141502-seed42-a-sunny-day-with-green-grass")
    assert result_file_stem("", 7, when) == "20261203-141502-seed7-untitled"
