"""Generation parameters stored in the PNG, so an image remembers how it was made.

Two text chunks: "parameters" in the de-facto format of AUTOMATIC1111's web UI (read by most
image tools and model sites), and "latent-studio" with the whole request as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from studio.engine.request import GenerationRequest, GenerationResult, Mode
from studio.engine.schedulers import DISPLAY_NAMES, normalise_scheduler_name

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "latent-studio"


def parameters_text(
    request: GenerationRequest, seed: int, width: int, height: int, model_name: str, precision: str = "fp32"
) -> str:
    """AUTOMATIC1111's layout: prompt, 'Negative prompt: ...', then one 'Key: value, ...' line.

    `precision` reads "UNet/decode", e.g. "bf16/fp32"."""
    settings = [
        ("Steps", request.steps),
        ("Sampler", DISPLAY_NAMES[normalise_scheduler_name(request.scheduler)]),
        ("CFG scale", request.guidance_scale),
        ("Seed", seed),
        ("Size", f"{width}x{height}"),
        ("Model", model_name),
        ("Precision", precision),
    ]
    if request.mode is not Mode.TEXT_TO_IMAGE:
        settings.append(("Denoising strength", request.strength))
    if request.mode is Mode.INPAINT:
        settings.append(("Mask blur", request.mask_feather_px))
    # LoRAs as AUTOMATIC1111 writes them, in the prompt: <lora:NAME:WEIGHT>.
    lora_tags = [f"<lora:{Path(lora.path).stem}:{lora.weight:g}>" for lora in request.loras]
    lines = [" ".join([request.prompt, *lora_tags])]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {value}" for key, value in settings))
    return "\n".join(lines)


def save_png(
    path: Path, image: np.ndarray, request: GenerationRequest, seed: int, result: GenerationResult
) -> None:
    """The JSON keeps the precisions the run used in place of "auto", so that repeating the run asks
    for the same precisions and gets the same pixels; "precision_asked" keeps what was asked."""
    height, width = image.shape[:2]
    precision = f"{result.precision}/{result.decode_precision}"
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text(
        PARAMETERS_KEY, parameters_text(request, seed, width, height, result.model_name, precision)
    )
    described = request.describe() | {
        "seed": seed,
        "image_seed": seed,
        "model_name": result.model_name,
        "precision": result.precision,
        "decode_precision": result.decode_precision,
        "precision_asked": f"{request.precision.value}/{request.decode_precision.value}",
    }
    chunks.add_text(REQUEST_KEY, json.dumps(described))
    Image.fromarray(image).save(path, pnginfo=chunks)


def read_png_metadata(path: Path) -> dict[str, Any]:
    """{'parameters': str | None, 'request': dict | None} from a PNG written by save_png (or A1111)."""
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}))
    request = json.loads(text[REQUEST_KEY]) if REQUEST_KEY in text else None
    return {"parameters": text.get(PARAMETERS_KEY), "request": request}
