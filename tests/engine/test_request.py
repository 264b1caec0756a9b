"""The request refuses bad values with messages a user understands, and never shares arrays."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.request import GenerationRequest, Mode, RequestError


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"steps": 0}, "steps"),
        ({"guidance_scale": -2}, "guidance"),
        ({"strength": 0}, "strength"),
        ({"batch_count": 0}, "batch"),
        ({"width": 3}, "width"),
        ({"mode": Mode.IMAGE_TO_IMAGE}, "init image"),
        ({"mode": Mode.INPAINT, "init_image": np.zeros((8, 8, 3), np.uint8)}, "needs a mask"),
        (
            {
                "mode": Mode.INPAINT,
                "init_image": np.zeros((8, 8, 3), np.uint8),
                "mask": np.zeros((8, 8), np.uint8),
            },
            "mask is empty",
        ),
        (
            {
                "mode": Mode.INPAINT,
                "init_image": np.zeros((8, 8, 3), np.uint8),
                "mask": np.ones((9, 8), np.uint8),
            },
            "mask is 8x9",
        ),
        ({"init_image": np.zeros((8, 8), np.uint8)}, "H x W x 3"),
        ({"init_image": np.zeros((8, 8, 3), np.float32)}, "uint8"),
        ({"mode": "sideways"}, "sideways"),
    ],
)
def test_bad_values_are_refused_with_a_message(fields, message):
    with pytest.raises((RequestError, ValueError), match=message):
        GenerationRequest(**fields)


def test_images_are_copied_and_frozen():
    picture = np.zeros((8, 8, 3), np.uint8)
    request = GenerationRequest(mode=Mode.IMAGE_TO_IMAGE, init_image=picture)
    picture[:] = 255  # the painter keeps painting while the engine works
    assert request.init_image.max() == 0
    with pytest.raises(ValueError):
        request.init_image[0, 0, 0] = 1


def test_boolean_mask_becomes_255():
    request = GenerationRequest(
        mode=Mode.INPAINT, init_image=np.zeros((8, 8, 3), np.uint8), mask=np.eye(8, dtype=bool)
    )
    assert request.mask.dtype == np.uint8 and request.mask.max() == 255


def test_batch_seeds_wrap_around():
    request = GenerationRequest(seed=2**32 - 1, batch_count=2)
    assert [request.seed_of(0), request.seed_of(1)] == [2**32 - 1, 0]


def test_describe_is_plain_data():
    import json

    request = GenerationRequest(mode=Mode.IMAGE_TO_IMAGE, init_image=np.zeros((9, 11, 3), np.uint8))
    described = json.loads(json.dumps(request.describe()))
    assert described["init_image"] == {"width": 11, "height": 9}
    assert described["mode"] == "image-to-image"
