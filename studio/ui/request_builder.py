"""Turn what is on screen into one frozen GenerationRequest.

The mode follows the canvas: a painted mask means inpainting, a painting with "use canvas as init"
means image-to-image, anything else is text-to-image at the canvas size.
"""

from __future__ import annotations

from studio.engine.request import GenerationRequest, Mode
from studio.ui.layers import Document
from studio.ui.lora_list import loras_from_text
from studio.ui.parameters import GenerationParameters, RefineChoice


def choose_mode(
    document: Document, parameters: GenerationParameters, masked: bool, live: bool = False
) -> Mode:
    """`masked`: the mask has a pixel painted (the caller has read the mask already)."""
    if masked:
        return Mode.INPAINT
    if live or (parameters.use_canvas_as_init and not document.paint_is_blank()):
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
    """Raises RequestError (a message for the user) when the values cannot make a run.

    The canvas is flattened once and the mask read once, in place: the request makes its own frozen
    copies of both, so copying them here first would only do it twice.
    """
    mask = document.mask_view()
    mode = choose_mode(document, parameters, masked=bool(mask.any()), live=live)
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
        mask=mask if mode is Mode.INPAINT else None,
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
        live=live,
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
