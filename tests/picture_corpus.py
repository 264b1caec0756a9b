"""Every kind of picture file a person may give the app or the command line, made here in code:
those that should open (with the size and the colours at the left and right edge they should give)
and those that should be refused (with a word the message must hold). The app's tests and the
command line's both go through it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE = (220, 30, 30), (30, 60, 220)
RED_GREY, BLUE_GREY = (87, 87, 87), (69, 69, 69)  # their brightness, as Pillow's "L" weighs it


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.pop("format", "PNG"), **options)
    return buffer.getvalue()


def half_red_half_blue(mode: str = "RGB", size=(40, 30)) -> Image.Image:
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image.convert(mode)


def _sixteen_bit_grey() -> bytes:
    """The picture's grey values spread over 16 bits, as a scanner or a raw converter writes them."""
    grey = np.asarray(half_red_half_blue("L"), dtype=np.uint16) * 257
    return png_bytes(Image.fromarray(grey))


def _noise_png() -> bytes:
    return png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 200, 3), np.uint8)))


def _photo_jpeg() -> bytes:
    return png_bytes(half_red_half_blue(size=(200, 150)), format="JPEG", quality=95)


def _cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _exif_rotated() -> bytes:
    """A 40x30 photo whose EXIF says "rotate 90° clockwise to show" (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return png_bytes(half_red_half_blue(), format="JPEG", exif=exif.tobytes(), quality=95)


def _animation(format: str) -> bytes:
    frames = [Image.new("RGB", (20, 20), colour) for colour in (RED, BLUE, (0, 200, 0))]
    return png_bytes(frames[0], format=format, save_all=True, append_images=frames[1:], duration=100)


def _palette_with_transparency() -> bytes:
    image = half_red_half_blue().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent = image.getpixel((39, 0))  # the blue half's palette index
    return png_bytes(image, transparency=transparent)


def _rgba_half_transparent() -> bytes:
    image = half_red_half_blue("RGBA")
    image.paste((0, 0, 0, 0), (20, 0, 40, 30))
    return png_bytes(image)


# name: (file name, bytes maker, expected (width, height) and the colour at the left and right, or
# None for a refusal, with a word the message must hold)
OPENS: dict[str, tuple[str, Callable[[], bytes], tuple[int, int], tuple, tuple]] = {
    "rgb png": ("a.png", lambda: png_bytes(half_red_half_blue()), (40, 30), RED, BLUE),
    "rgba png: transparent shows white": ("a.png", _rgba_half_transparent, (40, 30), RED, (255, 255, 255)),
    "la png": ("a.png", lambda: png_bytes(half_red_half_blue("LA")), (40, 30), RED_GREY, BLUE_GREY),
    "palette png with transparency": ("a.png", _palette_with_transparency, (40, 30), RED, (255, 255, 255)),
    "16-bit grey png: scaled, not clipped": ("a.png", _sixteen_bit_grey, (40, 30), RED_GREY, BLUE_GREY),
    "1-bit png": ("a.png", lambda: png_bytes(half_red_half_blue("1")), (40, 30), None, None),
    "1x1 png": ("a.png", lambda: png_bytes(Image.new("RGB", (1, 1), RED)), (1, 1), RED, RED),
    "large png (4000x3000)": ("a.png", lambda: png_bytes(Image.new("RGB", (4000, 3000), BLUE)), (4000, 3000),
                              BLUE, BLUE),
    "jpeg": ("a.jpg", lambda: png_bytes(half_red_half_blue(), format="JPEG", quality=95), (40, 30),
             RED, BLUE),
    "cmyk jpeg": ("a.jpg", lambda: png_bytes(half_red_half_blue("CMYK"), format="JPEG", quality=95),
                  (40, 30), RED, BLUE),
    "grey jpeg": ("a.jpg", lambda: png_bytes(half_red_half_blue("L"), format="JPEG"), (40, 30),
                  RED_GREY, BLUE_GREY),
    "exif-rotated jpeg: shown upright": ("a.jpg", _exif_rotated, (30, 40), None, None),
    "animated gif: first frame": ("a.gif", lambda: _animation("GIF"), (20, 20), RED, RED),
    "animated webp: first frame": ("a.webp", lambda: _animation("WEBP"), (20, 20), RED, RED),
    "webp": ("a.webp", lambda: png_bytes(half_red_half_blue(), format="WEBP", lossless=True), (40, 30),
             RED, BLUE),
    "bmp": ("a.bmp", lambda: png_bytes(half_red_half_blue(), format="BMP"), (40, 30), RED, BLUE),
    "tiff": ("a.tif", lambda: png_bytes(half_red_half_blue(), format="TIFF"), (40, 30), RED, BLUE),
    "png named .jpg": ("a.jpg", lambda: png_bytes(half_red_half_blue()), (40, 30), RED, BLUE),
}
REFUSED: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "zero bytes": ("a.png", lambda: b"", "not a picture"),
    "text named .png": ("a.png", lambda: b"a shopping list, not a picture\n", "not a picture"),
    "random bytes named .jpg": ("a.jpg", lambda: np.random.default_rng(0).bytes(5000), "not a picture"),
    "png signature only": ("a.png", lambda: b"\x89PNG\r\n\x1a\n", "not a picture"),
    "png cut after its header": ("a.png", lambda: png_bytes(half_red_half_blue())[:40], "not a picture"),
    "png cut in half": ("a.png", lambda: _cut_in_half(_noise_png()), "not a picture"),
    "jpeg cut in half": ("a.jpg", lambda: _cut_in_half(_photo_jpeg()), "damaged"),
    "decompression bomb (20000x20000)": ("a.png", lambda: png_bytes(Image.new("1", (20_000, 20_000))),
                                         "too large"),
}


def write_kind(folder: Path, name: str, make: Callable[[], bytes]) -> Path:
    path = folder / name
    path.write_bytes(make())
    return path
