"""Pictures and masks read from files (the command line's --init, --mask and --steer-image).

Pillow reads them; what a plain `convert()` gets wrong for a person's files is handled here:
- alpha: a picture's transparent parts become white, as the app shows them (the canvas is white
  under the paint); a mask's transparent parts are "keep", so white strokes on a transparent sheet
  repaint only the strokes;
- 16-bit and 32-bit grey are scaled to 8 bits (Pillow's convert clips them: a 16-bit grey photo
  would come out white);
- a photo comes upright, as its EXIF orientation says; an animation gives its first frame.
Anything Pillow cannot read, or too large for its decompression-bomb guard, is a RequestError that
names the file and what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.engine.request import RequestError

_WIDE_GREY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def read_picture(path: Path, what: str = "init image") -> np.ndarray:
    """H x W x 3 uint8 RGB; transparency shows white."""
    return np.asarray(_over(_open(path, what), (255, 255, 255)).convert("RGB"))


def read_mask(path: Path, what: str = "mask") -> np.ndarray:
    """H x W uint8, 255 = repaint: the brightness, times the alpha where there is one."""
    return np.asarray(_over(_open(path, what), (0, 0, 0)).convert("L"))


def _over(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """The image composited over a plain background where it has transparency, else as it is."""
    if not _has_alpha(image):
        return image
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (*background, 255)), rgba)


def _open(path: Path, what: str) -> Image.Image:
    """The file's first frame, upright and in an 8-bit mode, fully read (the file is closed)."""
    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            upright.load()
            return _to_8_bits(upright)
    except FileNotFoundError:
        raise RequestError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise RequestError(f"{what} {path} is a folder: give a picture file") from None
    except Image.DecompressionBombError:
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise RequestError(
            f"{what} {path} has more than {2 * limit / 1e6:.0f} million pixels, over Pillow's guard against "
            "decompression bombs: scale it down first"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        # SyntaxError and ValueError are how some of Pillow's decoders report a damaged file.
        raise RequestError(f"{what} {path} is not an image Pillow can read ({error})") from None


def _to_8_bits(image: Image.Image) -> Image.Image:
    if image.mode not in _WIDE_GREY_MODES:
        return image  # 8-bit modes; Pillow already reads 16-bit RGB PNGs as 8-bit RGB
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.max(initial=0) <= 1.0 else 255.0  # floats in 0..1, or already 0..255
    else:
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.rint(np.clip(values, 0, top) * (255 / top)).astype(np.uint8))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
