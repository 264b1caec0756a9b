from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from studio.training.dataset import render_dataset
from studio.training.sheet import PADDING, SCALE, write_contact_sheet


def test_contact_sheet_shows_the_renders_with_captions(tmp_path: Path) -> None:
    out = write_contact_sheet(tmp_path / "sheets" / "sheet.png", count=3, seed=5)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    renders = render_dataset(3, seed=5).images
    first = sheet[PADDING : PADDING + 128 * SCALE : SCALE, PADDING : PADDING + 128 * SCALE : SCALE]
    assert np.array_equal(first, renders[0])
    # Caption text sits under the image: dark pixels on the white strip.
    strip = sheet[PADDING + 128 * SCALE + 2 : PADDING + 128 * SCALE + 30, PADDING : PADDING + 128 * SCALE]
    assert (strip.min(axis=-1) < 100).sum() > 50
    assert sheet.shape[1] > 3 * 128 * SCALE
