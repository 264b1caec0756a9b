"""Every kind of file a person may open or drop: converted correctly, or refused in words with the
canvas, the model and the settings untouched. The pictures come from tests/picture_corpus.py (made in
code, shared with the command line's tests); the documents are made here."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.picture_corpus import OPENS, write_kind
from tests.picture_corpus import REFUSED as PICTURES_REFUSED

APP_ONLY_REFUSED = {
    "document that is not a zip": ("a.lsdoc", lambda: b"PK\x03\x04 broken", "a.lsdoc"),
    "zip that is not a document": ("a.lsdoc", lambda: _zip({"hello.txt": b"hi"}), "a.lsdoc"),
    "document claiming a giant canvas": ("a.lsdoc", lambda: _zip({"document.json": (
        b'{"format": "latent-studio-document", "version": 1, "width": 99999, "height": 99999}')}),
        "99999x99999"),
}
REFUSED = {**PICTURES_REFUSED, **APP_ONLY_REFUSED}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", list(OPENS))
def test_a_picture_of_any_kind_opens_as_a_person_would_expect(window, tmp_path, kind) -> None:
    name, make, size, left, right = OPENS[kind]
    assert window.open_image(write_kind(tmp_path, name, make)), window.message_bar.message
    picture = window.document.flattened_rgb()
    assert (picture.shape[1], picture.shape[0]) == size
    for colour, column in ((left, 0), (right, -1)):
        if colour is not None:
            assert np.abs(picture[picture.shape[0] // 2, column].astype(int) - colour).max() <= 40, kind
    if kind.startswith("exif"):  # rotated clockwise: the red left half is now the top
        assert picture[0, 15, 0] > 150 and picture[-1, 15, 2] > 150


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_file_that_is_no_picture_is_refused_in_words_and_nothing_changes(window, tmp_path, kind) -> None:
    name, make, word = REFUSED[kind]
    window.parameters.prompt, window.parameters.steps = "kept", 11
    before, history = window.document.flattened_rgb(), window.document.undo_stack.count()
    assert not window.open_image(write_kind(tmp_path, name, make))
    assert word in window.message_bar.message and "Traceback" not in window.message_bar.message
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert window.document.undo_stack.count() == history
    assert (window.parameters.prompt, window.parameters.steps) == ("kept", 11)


def test_a_missing_file_and_a_folder_are_refused_too(window, tmp_path) -> None:
    assert not window.open_image(tmp_path / "gone.png")
    assert "not there" in window.message_bar.message
    assert not window.open_image(tmp_path)
    assert "Could not open" in window.message_bar.message
