"""A contact sheet of Landscapes renders with their captions, for eyeballing the world against the spec."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from studio.training.dataset import render_dataset
from studio.training.world import SIZE

COLUMNS = 6
SCALE = 2  # 128 px renders are too small to judge at 1x
PADDING = 8
LINE_HEIGHT = 12
CAPTION_LINES = 4
WRAP_CHARACTERS = 40  # fits SIZE * SCALE pixels in Pillow's default bitmap font


def write_contact_sheet(out_path: Path, count: int = 24, seed: int = 0) -> Path:
    """Render `count` scenes from `seed` into a PNG grid, each captioned underneath; returns the path."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    dataset = render_dataset(count, seed)
    cell_width = SIZE * SCALE + PADDING
    cell_height = SIZE * SCALE + CAPTION_LINES * LINE_HEIGHT + 2 * PADDING
    columns = min(COLUMNS, count)
    rows = math.ceil(count / columns)
    sheet = Image.new("RGB", (columns * cell_width + PADDING, rows * cell_height + PADDING), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (image, caption) in enumerate(zip(dataset.images, dataset.captions, strict=True)):
        x = PADDING + (index % columns) * cell_width
        y = PADDING + (index // columns) * cell_height
        sheet.paste(Image.fromarray(image).resize((SIZE * SCALE, SIZE * SCALE), Image.NEAREST), (x, y))
        lines = textwrap.wrap(f"{index}: {caption}", WRAP_CHARACTERS)[:CAPTION_LINES]
        for line_number, line in enumerate(lines):
            draw.text((x, y + SIZE * SCALE + 4 + line_number * LINE_HEIGHT), line, fill="black", font=font)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    return out_path
