"""Every kind of picture file through the command line's --init and --mask, from the arguments to the
request the engine gets (tests/picture_corpus.py makes the files): converted as the app converts
them, or refused in one line that names the file and what to do. A mask's alpha means "keep"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import build_parser
from studio.engine.request import GenerationRequest, Mode, ModelInfo, RequestError
from studio.generate_command import build_request
from tests.picture_corpus import OPENS, RED, REFUSED, write_kind

DEFAULTS = ModelInfo("m", "m", "cpu", 64, 64, 20, 7.0, "euler", "fp32", "fp32", "")
TRANSPARENT_RIGHT_HALF = ("rgba png: transparent shows white", "palette png with transparency")
TOO_SMALL = "1x1 png"  # a picture made at 1x1: refused with the size to ask for, tried on its own below


def _request(*arguments: str | Path) -> GenerationRequest:
    parsed = build_parser().parse_args(["generate", "--prompt", "x", *map(str, arguments)])
    return build_request(parsed, DEFAULTS)


def _brightness(colour: tuple) -> int:
    return Image.new("RGB", (1, 1), colour).convert("L").getpixel((0, 0))


def _edges(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    middle = picture.shape[0] // 2
    return picture[middle, 0].astype(int), picture[middle, -1].astype(int)


@pytest.mark.parametrize("kind", [kind for kind in OPENS if kind != TOO_SMALL])
def test_an_init_image_of_any_kind_comes_as_the_app_shows_it(tmp_path, kind) -> None:
    name, make, size, left, right = OPENS[kind]
    request = _request("--init", write_kind(tmp_path, name, make))
    picture = request.init_image
    assert request.mode is Mode.IMAGE_TO_IMAGE and (picture.shape[1], picture.shape[0]) == size
    for colour, edge in zip((left, right), _edges(picture), strict=True):
        if colour is not None:
            assert np.abs(edge - colour).max() <= 40, (kind, edge)
    if kind.startswith("exif"):  # rotated clockwise: the red left half is now the top
        assert picture[0, 15, 0] > 150 and picture[-1, 15, 2] > 150


@pytest.mark.parametrize("kind", [kind for kind in OPENS if kind != TOO_SMALL])
def test_a_mask_of_any_kind_repaints_by_its_brightness_and_keeps_where_it_is_transparent(
    tmp_path, kind
) -> None:
    name, make, size, left, right = OPENS[kind]
    Image.new("RGB", size, "white").save(tmp_path / "init.png")
    mask = _request("--init", tmp_path / "init.png", "--mask", write_kind(tmp_path, name, make)).mask
    assert mask.shape == (size[1], size[0]) and mask.dtype == np.uint8
    for colour, edge in zip((left, right), _edges(mask), strict=True):
        if colour is not None and not (kind in TRANSPARENT_RIGHT_HALF and colour == (255, 255, 255)):
            assert abs(int(edge) - _brightness(colour)) <= 40, (kind, edge)
    if kind in TRANSPARENT_RIGHT_HALF:
        assert _edges(mask)[1] == 0  # transparent: kept, not repainted


@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("option", ["--init", "--mask"])
def test_a_file_that_is_no_picture_is_refused_in_one_line_naming_it(tmp_path, kind, option) -> None:
    name, make, _word = REFUSED[kind]
    Image.new("RGB", (40, 30), "white").save(tmp_path / "init.png")
    path = write_kind(tmp_path, name, make)
    arguments = ("--init", path) if option == "--init" else ("--init", tmp_path / "init.png", "--mask", path)
    with pytest.raises(RequestError) as refused:
        _request(*arguments)
    message = str(refused.value)
    assert str(path) in message and "\n" not in message
    assert "scale it down first" in message or "not an image Pillow can read" in message


def test_a_missing_file_a_folder_and_a_picture_too_small_or_too_large_are_refused(tmp_path) -> None:
    cases = [
        (tmp_path / "gone.png", "init image file not found"),
        (tmp_path, "is a folder"),
        (write_kind(tmp_path, "tiny.png", OPENS[TOO_SMALL][1]), "made at 1x1, outside 8-4096"),
    ]
    Image.new("RGB", (5000, 100), RED).save(tmp_path / "wide.png")
    cases.append((tmp_path / "wide.png", "made at 5000x100, outside 8-4096"))
    for path, message in cases:
        with pytest.raises(RequestError, match=message):
            _request("--init", path)
    # Asked for a size in range, the too-small picture is scaled to it.
    assert _request("--init", cases[2][0], "--size", "64x64").width == 64


def test_a_16_bit_mask_and_white_strokes_on_a_transparent_sheet_repaint_only_what_they_say(tmp_path) -> None:
    Image.new("RGB", (40, 30), "white").save(tmp_path / "init.png")
    strokes = Image.new("RGBA", (40, 30), (255, 255, 255, 0))  # white, but transparent
    strokes.paste((255, 255, 255, 255), (0, 0, 10, 30))
    strokes.save(tmp_path / "strokes.png")
    mask = _request("--init", tmp_path / "init.png", "--mask", tmp_path / "strokes.png").mask
    assert (mask[:, :10] == 255).all() and (mask[:, 10:] == 0).all()
    deep = np.zeros((30, 40), np.uint16)
    deep[:, :20] = 65535  # 16-bit white on the left
    deep[:, 20:] = 32896  # mid-grey
    Image.fromarray(deep).save(tmp_path / "deep.png")
    mask = _request("--init", tmp_path / "init.png", "--mask", tmp_path / "deep.png").mask
    assert (mask[:, :20] == 255).all() and (np.abs(mask[:, 20:].astype(int) - 128) <= 1).all()

