"""The request follows the canvas: text-to-image, sketch-to-image or inpainting, at the canvas size."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect

from studio.engine import images
from studio.engine.request import GenerationRequest, Mode, RequestError
from studio.ui.generation import QtRepaintArea
from studio.ui.image_convert import alpha_from_qimage
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters
from studio.ui.request_builder import build_request
from studio.ui.tools import ToolName, ToolSettings, make_tool


def paint(document: Document, tool: ToolName = ToolName.BRUSH) -> None:
    settings = ToolSettings()
    settings.brush_size = settings.mask_size = 8
    brush = make_tool(tool, document, settings)
    brush.press(QPointF(10, 30), 1.0)
    brush.move(QPointF(50, 30), 1.0)
    brush.release(QPointF(50, 30))


def test_blank_canvas_is_text_to_image_at_the_canvas_size(qapp) -> None:
    document, parameters = Document(96, 64), GenerationParameters()
    parameters.use_canvas_as_init = True
    request = build_request(document, parameters, seed=5)
    assert request.mode is Mode.TEXT_TO_IMAGE and request.init_image is None
    assert (request.width, request.height, request.seed) == (96, 64, 5)


def test_painting_is_init_image_only_when_asked(qapp) -> None:
    document, parameters = Document(64, 64), GenerationParameters()
    paint(document)
    assert build_request(document, parameters, seed=1).mode is Mode.TEXT_TO_IMAGE
    parameters.use_canvas_as_init = True
    request = build_request(document, parameters, seed=1)
    assert request.mode is Mode.IMAGE_TO_IMAGE
    assert np.array_equal(request.init_image, document.flattened_rgb())


def test_a_painted_mask_means_inpainting_with_the_mask_settings(qapp) -> None:
    document, parameters = Document(64, 64), GenerationParameters()
    paint(document, ToolName.MASK_BRUSH)
    parameters.inpaint_padding_px = 12
    request = build_request(document, parameters, seed=1, mask_feather_px=3)
    assert request.mode is Mode.INPAINT
    assert request.mask[30, 30] == 255 and request.mask[5, 5] == 0
    assert (request.mask_feather_px, request.inpaint_padding_px, request.inpaint_only_masked) == (3, 12, True)


def test_values_the_engine_refuses_come_back_as_a_user_message(qapp) -> None:
    document, parameters = Document(64, 64), GenerationParameters()
    parameters.guidance_scale = 99.0
    with pytest.raises(RequestError, match="guidance"):
        build_request(document, parameters, seed=1)


def told_area(request: GenerationRequest, aspect: float) -> QtRepaintArea:
    """What the engine tells the UI on an inpaint's first step, in the UI's types."""
    mask = images.inpaint_mask(request.mask, request.mask_feather_px, request.inpaint_only_masked,
                               request.inpaint_padding_px, aspect)
    return QtRepaintArea.from_engine(mask.area)


def test_only_masked_previews_cover_the_crop_around_the_mask(qapp) -> None:
    document, parameters = Document(256, 256), GenerationParameters()
    document.add_mask_rect(QRect(100, 120, 20, 10))
    area = told_area(build_request(document, parameters, seed=1, mask_feather_px=0), aspect=1.0)
    region = area.preview_region
    assert region is not None and region.width() == region.height()  # the model's aspect ratio
    assert region.contains(QRect(100, 120, 20, 10)) and document.rect().contains(region)
    assert area.changed == QRect(100, 120, 20, 10)  # unfeathered: the result can change the mask alone
    parameters.inpaint_only_masked = False
    assert told_area(build_request(document, parameters, seed=1), aspect=1.0).preview_region is None


def test_the_feathered_mask_reaches_as_far_as_the_box_a_result_may_change(qapp) -> None:
    document, parameters = Document(128, 96), GenerationParameters()
    document.add_mask_rect(QRect(40, 30, 16, 12))
    area = told_area(build_request(document, parameters, seed=1, mask_feather_px=3), aspect=1.0)
    alpha = alpha_from_qimage(area.preview_mask)
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    box = area.changed
    assert alpha[36, 48] > 200 and alpha[5, 5] == 0
    # The box holds every pixel the blend may take from, and nothing more; the feather widens it.
    assert (box.left(), box.top(), box.right(), box.bottom()) == (cols[0], rows[0], cols[-1], rows[-1])
    assert box.contains(QRect(37, 27, 22, 18)) and document.rect().contains(box) and box != document.rect()


def test_testing_the_paint_and_the_mask_for_blankness_copies_neither(qapp) -> None:
    document = Document(1024, 1024)
    tracemalloc.start()
    try:
        assert document.paint_is_blank() and document.mask_is_empty()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024  # a copy of either layer would be a megabyte
    paint(document)
    assert not document.paint_is_blank() and document.mask_is_empty()


def test_a_request_copies_the_canvas_and_the_mask_no_more_than_it_must(qapp) -> None:
    """The request owns frozen copies of the flattened canvas and the mask; building it may make the
    flattened canvas once besides, and nothing else canvas-sized (the mask read once, in place)."""
    document, parameters = Document(1001, 700), GenerationParameters()  # rows padded in the mask layer
    paint(document)
    document.add_mask_rect(QRect(300, 200, 50, 40))
    tracemalloc.start()
    try:
        request = build_request(document, parameters, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert request.mode is Mode.INPAINT
    assert peak < 2 * request.init_image.nbytes + request.mask.nbytes + 256 * 1024
    assert np.array_equal(request.mask, document.mask_array())
    assert np.array_equal(request.init_image, document.flattened_rgb())


def test_resolution_and_refine_reach_the_request_and_live_runs_never_refine(qapp) -> None:
    document, parameters = Document(96, 64), GenerationParameters()
    request = build_request(document, parameters, seed=1)
    assert request.resolution.value == "native" and request.refine_strength is None  # auto
    parameters.resolution, parameters.refine, parameters.refine_strength = "exact", "on", 0.4
    assert (build_request(document, parameters, seed=1).resolution.value,
            build_request(document, parameters, seed=1).refine_strength) == ("exact", 0.4)
    parameters.refine = "off"
    assert build_request(document, parameters, seed=1).refine_strength == 0.0
    parameters.refine = "on"
    paint(document)
    assert build_request(document, parameters, seed=1, live=True).refine_strength == 0.0
