"""Every kind of file a person may open or drop: converted correctly, or refused in words with the
canvas, the model and the settings untouched. The corpus is made here, by the test."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

RED, BLUE = (220, 30, 30), (30, 60, 220)


def _png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.pop("format", "PNG"), **options)
    return buffer.getvalue()


def _half_red_half_blue(mode: str = "RGB", size=(40, 30)) -> Image.Image:
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image.convert(mode)


def _exif_rotated() -> bytes:
    """A 40x30 photo whose EXIF says "rotate 90° clockwise to show" (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _png_bytes(_half_red_half_blue(), format="JPEG", exif=exif.tobytes(), quality=95)


def _animation(format: str) -> bytes:
    frames = [Image.new("RGB", (20, 20), colour) for colour in (RED, BLUE, (0, 200, 0))]
    return _png_bytes(frames[0], format=format, save_all=True, append_images=frames[1:], duration=100)


def _palette_with_transparency() -> bytes:
    image = _half_red_half_blue().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent = image.getpixel((39, 0))  # the blue half's palette index
    return _png_bytes(image, transparency=transparent)


def _rgba_half_transparent() -> bytes:
    image = _half_red_half_blue("RGBA")
    image.paste((0, 0, 0, 0), (20, 0, 40, 30))
    return _png_bytes(image)


# name: (file name, bytes maker, expected (width, height) and the colour at the left and right, or
# None for a refusal, with a word the message must hold)
OPENS: dict[str, tuple[str, Callable[[], bytes], tuple[int, int], tuple, tuple]] = {
    "rgb png": ("a.png", lambda: _png_bytes(_half_red_half_blue()), (40, 30), RED, BLUE),
    "rgba png: transparent shows white": ("a.png", _rgba_half_transparent, (40, 30), RED, (255, 255, 255)),
    "la png": ("a.png", lambda: _png_bytes(_half_red_half_blue("LA")), (40, 30), None, None),
    "palette png with transparency": ("a.png", _palette_with_transparency, (40, 30), RED, (255, 255, 255)),
    "16-bit grey png": ("a.png", lambda: _png_bytes(_half_red_half_blue("L").convert("I;16")), (40, 30),
                        None, None),
    "1-bit png": ("a.png", lambda: _png_bytes(_half_red_half_blue("1")), (40, 30), None, None),
    "1x1 png": ("a.png", lambda: _png_bytes(Image.new("RGB", (1, 1), RED)), (1, 1), RED, RED),
    "large png (4000x3000)": ("a.png", lambda: _png_bytes(Image.new("RGB", (4000, 3000), BLUE)), (4000, 3000),
                              BLUE, BLUE),
    "jpeg": ("a.jpg", lambda: _png_bytes(_half_red_half_blue(), format="JPEG", quality=95), (40, 30),
             RED, BLUE),
    "cmyk jpeg": ("a.jpg", lambda: _png_bytes(_half_red_half_blue("CMYK"), format="JPEG", quality=95),
                  (40, 30), RED, BLUE),
    "grey jpeg": ("a.jpg", lambda: _png_bytes(_half_red_half_blue("L"), format="JPEG"), (40, 30), None, None),
    "exif-rotated jpeg: shown upright": ("a.jpg", _exif_rotated, (30, 40), None, None),
    "animated gif: first frame": ("a.gif", lambda: _animation("GIF"), (20, 20), RED, RED),
    "animated webp: first frame": ("a.webp", lambda: _animation("WEBP"), (20, 20), RED, RED),
    "webp": ("a.webp", lambda: _png_bytes(_half_red_half_blue(), format="WEBP", lossless=True), (40, 30),
             RED, BLUE),
    "bmp": ("a.bmp", lambda: _png_bytes(_half_red_half_blue(), format="BMP"), (40, 30), RED, BLUE),
    "tiff": ("a.tif", lambda: _png_bytes(_half_red_half_blue(), format="TIFF"), (40, 30), RED, BLUE),
    "png named .jpg": ("a.jpg", lambda: _png_bytes(_half_red_half_blue()), (40, 30), RED, BLUE),
}
REFUSED: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "zero bytes": ("a.png", lambda: b"", "not a picture"),
    "text named .png": ("a.png", lambda: b"a shopping list, not a picture\n", "not a picture"),
    "random bytes named .jpg": ("a.jpg", lambda: np.random.default_rng(0).bytes(5000), "not a picture"),
    "png signature only": ("a.png", lambda: b"\x89PNG\r\n\x1a\n", "not a picture"),
    "png cut after its header": ("a.png", lambda: _png_bytes(_half_red_half_blue())[:40], "not a picture"),
    "decompression bomb (20000x20000)": ("a.png", lambda: _png_bytes(Image.new("1", (20_000, 20_000))),
                                         "too large"),
    "document that is not a zip": ("a.lsdoc", lambda: b"PK\x03\x04 broken", "a.lsdoc"),
    "zip that is not a document": ("a.lsdoc", lambda: _zip({"hello.txt": b"hi"}), "a.lsdoc"),
    "document claiming a giant canvas": ("a.lsdoc", lambda: _zip({"document.json": (
        b'{"format": "latent-studio-document", "version": 1, "width": 99999, "height": 99999}')}),
        "99999x99999"),
}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _write(tmp_path: Path, name: str, make: Callable[[], bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(make())
    return path


@pytest.mark.parametrize("kind", list(OPENS))
def test_a_picture_of_any_kind_opens_as_a_person_would_expect(window, tmp_path, kind) -> None:
    name, make, size, left, right = OPENS[kind]
    assert window.open_image(_write(tmp_path, name, make)), window.message_bar.message
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
    assert not window.open_image(_write(tmp_path, name, make))
    assert word in window.message_bar.message and "Traceback" not in window.message_bar.message
    assert np.array_equal(window.document.flattened_rgb(), before)
    assert window.document.undo_stack.count() == history
    assert (window.parameters.prompt, window.parameters.steps) == ("kept", 11)


def test_a_missing_file_and_a_folder_are_refused_too(window, tmp_path) -> None:
    assert not window.open_image(tmp_path / "gone.png")
    assert "not there" in window.message_bar.message
    assert not window.open_image(tmp_path)
    assert "Could not open" in window.message_bar.message
