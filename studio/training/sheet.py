"""Captioned image grids: the contact sheet of Landscapes renders (for eyeballing the world against the
spec) and a trained model's sample sheet."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.training.dataset import render_dataset

COLUMNS = 6
SCALE = 2  # 128 px renders are too small to judge at 1x
PADDING = 8
LINE_HEIGHT = 12
CAPTION_LINES = 4
WRAP_CHARACTERS = 40  # fits a 128 px render at SCALE in Pillow's default bitmap font


def write_contact_sheet(out_path: Path, count: int = 24, seed: int = 0) -> Path:
    """Render `count` scenes from `seed` into a PNG grid, each captioned underneath; returns the path."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    dataset = render_dataset(count, seed)
    captions = [f"{index}: {caption}" for index, caption in enumerate(dataset.captions)]
    return write_captioned_grid(dataset.images, captions, out_path, COLUMNS)


def write_captioned_grid(
    images: Sequence[np.ndarray], captions: Sequence[str], out_path: Path, columns: int = COLUMNS
) -> Path:
    """Images at 2x (nearest, so the pixels stay honest) in a grid, each with its caption underneath:
    the world's contact sheet and a trained model's sample sheet."""
    size = images[0].shape[0] * SCALE
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    cell_width, cell_height = size + PADDING, size + CAPTION_LINES * LINE_HEIGHT + 2 * PADDING
    sheet = Image.new("RGB", (columns * cell_width + PADDING, rows * cell_height + PADDING), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x = PADDING + (index % columns) * cell_width
        y = PADDING + (index // columns) * cell_height
        sheet.paste(Image.fromarray(image).resize((size, size), Image.NEAREST), (x, y))
        for line_number, line in enumerate(textwrap.wrap(caption, WRAP_CHARACTERS)[:CAPTION_LINES]):
            draw.text((x, y + size + 4 + line_number * LINE_HEIGHT), line, fill="black", font=font)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    return out_path
