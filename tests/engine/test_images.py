"""Pixel bookkeeping: padding, feathering, paste-back and the "only masked" crop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.engine.images import crop_around_mask, feather_mask, pad_to_multiple, paste_back, repaint_region


@given(st.integers(1, 40), st.integers(1, 40))
def test_padding_reaches_the_grid_and_keeps_the_picture(height, width):
    picture = np.arange(height * width * 3, dtype=np.uint32).reshape(height, width, 3).astype(np.uint8)
    padded = pad_to_multiple(picture, 8)
    assert padded.shape[0] % 8 == 0 and padded.shape[1] % 8 == 0
    assert np.array_equal(padded[:height, :width], picture)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 8), st.integers(0, 30), st.integers(0, 30))
def test_paste_back_is_exact_outside_and_blends_inside(feather, top, left):
    rng = np.random.default_rng(feather)
    original = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    mask = np.zeros((48, 48), np.uint8)
    mask[top : top + 10, left : left + 10] = 255
    weights = feather_mask(mask, feather)
    result = paste_back(original, generated, weights)
    assert np.array_equal(result[weights == 0], original[weights == 0])
    assert np.array_equal(result[weights == 1], generated[weights == 1])
    assert (repaint_region(weights) > 0).sum() >= (mask > 0).sum()


def test_feather_band_is_a_smooth_ramp():
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    row = feather_mask(mask, 4)[32]
    assert row[0] == 0 and row[-1] == 1
    assert np.all(np.diff(row) >= 0) and 0.3 < row[32] < 0.7


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 90),
    st.integers(0, 50),
    st.integers(1, 30),
    st.integers(1, 30),
    st.integers(0, 20),
    st.sampled_from([1.0, 1.5, 0.75]),
)
def test_only_masked_crop_holds_the_mask_inside_the_image(left, top, width, height, padding, aspect):
    region = np.zeros((80, 120), np.uint8)
    region[top : top + height, left : left + width] = 255
    box = crop_around_mask(region, padding, aspect)
    assert 0 <= box.left < box.right <= 120 and 0 <= box.top < box.bottom <= 80
    assert region[box.top : box.bottom, box.left : box.right].sum() == region.sum()
