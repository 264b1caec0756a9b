"""Turn what is on screen into one frozen GenerationRequest.

The mode follows the canvas: a painted mask means inpainting, a painting with "use canvas as init"
means image-to-image, anything else is text-to-image at the canvas size.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from studio.engine import images
from studio.engine.request import GenerationRequest, Mode, ModelInfo
from studio.ui.layers import Document
from studio.ui.lora_list import loras_from_text
from studio.ui.parameters import GenerationParameters, RefineChoice


def choose_mode(document: Document, parameters: GenerationParameters) -> Mode:
    if not document.mask_is_empty():
        return Mode.INPAINT
    if parameters.use_canvas_as_init and not document.paint_is_blank():
        return Mode.IMAGE_TO_IMAGE
    return Mode.TEXT_TO_IMAGE


def build_request(
    document: Document,
    parameters: GenerationParameters,
    seed: int,
    *,
    mask_feather_px: int = 4,
    live: bool = False,
) -> GenerationRequest:
    """Raises RequestError (a message for the user) when the values cannot make a run."""
    mode = Mode.IMAGE_TO_IMAGE if live else choose_mode(document, parameters)
    if live and not document.mask_is_empty():
        mode = Mode.INPAINT
    size = document.size()
    init_image = document.flattened_rgb() if mode is not Mode.TEXT_TO_IMAGE else None
    return GenerationRequest(
        prompt=parameters.prompt.strip(),
        negative_prompt=parameters.negative_prompt.strip(),
        mode=mode,
        seed=seed,
        steps=parameters.live_steps if live else parameters.steps,
        guidance_scale=parameters.guidance_scale,
        width=size.width(),
        height=size.height(),
        resolution=parameters.resolution,
        # Live runs are about speed: never a second pass.
        refine_strength=0.0 if live else refine_strength(parameters),
        strength=parameters.strength,
        scheduler=parameters.scheduler,
        init_image=init_image,
        mask=document.mask_array() if mode is Mode.INPAINT else None,
        mask_feather_px=mask_feather_px,
        inpaint_only_masked=parameters.inpaint_only_masked,
        inpaint_padding_px=parameters.inpaint_padding_px,
        batch_count=1 if live else parameters.batch_count,
        preview_kind=parameters.preview_kind,
        model=parameters.model,
        precision=parameters.precision,
        decode_precision=parameters.precision,
        loras=loras_from_text(parameters.loras),
        tiny_decoder=parameters.tiny_decoder,
        extra={"live": True} if live else {},
    )


def forward_request(document: Document, parameters: GenerationParameters, seed: int) -> GenerationRequest:
    """What the forward-process explorer noises: the canvas as it is, with the noise of `seed`."""
    return GenerationRequest(
        mode=Mode.IMAGE_TO_IMAGE,
        init_image=document.flattened_rgb(),
        seed=seed,
        resolution=parameters.resolution,
        model=parameters.model,
        precision=parameters.precision,
        decode_precision=parameters.precision,
    )


def refine_strength(parameters: GenerationParameters) -> float | None:
    """The request's refine strength: None lets the engine decide (auto), 0 is off."""
    choice = RefineChoice(parameters.refine)
    if choice is RefineChoice.AUTO:
        return None
    return parameters.refine_strength if choice is RefineChoice.ON else 0.0


def refine_choice(refine_strength: float | None) -> RefineChoice:
    """The panel's refine setting for a request's refine strength: the inverse of refine_strength."""
    if refine_strength is None:
        return RefineChoice.AUTO
    return RefineChoice.ON if refine_strength > 0 else RefineChoice.OFF


def preview_mask(request: GenerationRequest) -> np.ndarray | None:
    """Where an inpainting run may change pixels: the engine's own feathered mask, 0-255."""
    if request.mode is not Mode.INPAINT:
        return None
    feathered = images.feather_mask(request.mask, request.mask_feather_px)
    return np.clip(np.round(feathered * 255), 0, 255).astype(np.uint8)


def preview_region(request: GenerationRequest, model: ModelInfo | None) -> QRect | None:
    """Where on the canvas this run's previews belong: the crop around the mask for an "only masked"
    inpaint (computed by the engine's own pure function, so the two cannot disagree), else all of it."""
    if request.mode is not Mode.INPAINT or not request.inpaint_only_masked or model is None:
        return None
    repaint = images.repaint_region(images.feather_mask(request.mask, request.mask_feather_px))
    box = images.crop_around_mask(repaint, request.inpaint_padding_px, model.width / model.height)
    return QRect(box.left, box.top, box.width, box.height)
