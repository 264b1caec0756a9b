"""Latents to pixels: the VAE decode (redone in fp32 where a reduced one overflows) and step previews."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from studio.engine.loading import LoadedModel
from studio.engine.precision import PrecisionChoice, apply_memory_format, decode_autocast
from studio.engine.previews import to_uint8_image
from studio.engine.request import EngineError, GenerationRequest, Mode, PreviewKind, PreviewMethod
from studio.engine.step_probes import PredictionRecorder


def decode(model: LoadedModel, latents: torch.Tensor, precision: PrecisionChoice) -> np.ndarray:
    """The first latent of `latents` as an (H, W, 3) uint8 picture; never NaN (EngineError instead)."""
    vae = model.pipelines[Mode.TEXT_TO_IMAGE].vae
    scaled = latents / vae.config.scaling_factor
    if getattr(vae.config, "shift_factor", None):
        scaled = scaled + vae.config.shift_factor
    with torch.inference_mode():
        with decode_autocast(precision.vae_autocast):
            decoded = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]
        reduced = vae.dtype != torch.float32 or precision.vae_autocast is not None
        if reduced and not torch.isfinite(decoded).all():
            # Half-precision VAEs overflow on some latents; decoding in fp32 fixes it at some memory
            # cost. The VAE goes back to its dtype after, since the pipelines encode init images with it.
            half_dtype = vae.dtype
            # The default layout too: exactly the pixels a plain fp32 decode gives.
            vae.to(torch.float32, memory_format=torch.contiguous_format)
            try:
                decoded = vae.decode(scaled.float(), return_dict=False)[0]
            finally:
                vae.to(half_dtype)
                apply_memory_format(model.pipelines[Mode.TEXT_TO_IMAGE], precision, model.tiny_preview)
    if not torch.isfinite(decoded).all():
        raise EngineError("The model produced NaN pixels; try another scheduler, fewer steps or fp32.")
    return to_uint8_image(decoded[0])


def preview(
    model: LoadedModel,
    request: GenerationRequest,
    latents: torch.Tensor,
    recorder: PredictionRecorder,
    precision: PrecisionChoice,
) -> np.ndarray | None:
    """The picture a step shows, as the request's preview kind and method ask; None when off."""
    if request.preview_kind is PreviewKind.OFF:
        return None
    source = latents
    if request.preview_kind is PreviewKind.PREDICTED_CLEAN and recorder.predicted_clean is not None:
        source = recorder.predicted_clean
    method = request.preview_method
    if method is PreviewMethod.TINY and model.tiny_preview is None:
        # Shown once per run by the default warning filter, not once per step.
        warnings.warn(f"{model.info.name} ships no tiny preview decoder; previews are linear", stacklevel=2)
    if method in (PreviewMethod.AUTO, PreviewMethod.TINY) and model.tiny_preview is not None:
        # The tiny decoder is a small VAE decoder: it gains from bf16 just as the VAE decode does.
        with decode_autocast(precision.vae_autocast):
            return model.tiny_preview.to_rgb(source)
    if method is not PreviewMethod.VAE and model.linear_preview is not None:
        return model.linear_preview.to_rgb(source)
    return decode(model, source[:1], precision)
