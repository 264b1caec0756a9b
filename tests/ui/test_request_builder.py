"""The request follows the canvas: text-to-image, sketch-to-image or inpainting, at the canvas size."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect

from studio.engine.request import Mode, ModelInfo, RequestError
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters
from studio.ui.request_builder import build_request, preview_region
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


def test_only_masked_previews_cover_the_crop_around_the_mask(qapp) -> None:
    document, parameters = Document(256, 256), GenerationParameters()
    document.add_mask_rect(QRect(100, 120, 20, 10))
    request = build_request(document, parameters, seed=1, mask_feather_px=0)
    model = ModelInfo("m", "", "cpu", 64, 64, 20, 7.5, "euler")
    region = preview_region(request, model)
    assert region is not None and region.width() == region.height()  # the model's aspect ratio
    assert region.contains(QRect(100, 120, 20, 10)) and document.rect().contains(region)
    parameters.inpaint_only_masked = False
    assert preview_region(build_request(document, parameters, seed=1), model) is None


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
