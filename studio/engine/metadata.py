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

from studio.engine.request import GenerationRequest, Mode
from studio.engine.schedulers import DISPLAY_NAMES, normalise_scheduler_name

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "latent-studio"


def parameters_text(request: GenerationRequest, seed: int, width: int, height: int, model_name: str) -> str:
    """AUTOMATIC1111's layout: prompt, 'Negative prompt: ...', then one 'Key: value, ...' line."""
    settings = [
        ("Steps", request.steps),
        ("Sampler", DISPLAY_NAMES[normalise_scheduler_name(request.scheduler)]),
        ("CFG scale", request.guidance_scale),
        ("Seed", seed),
        ("Size", f"{width}x{height}"),
        ("Model", model_name),
    ]
    if request.mode is not Mode.TEXT_TO_IMAGE:
        settings.append(("Denoising strength", request.strength))
    if request.mode is Mode.INPAINT:
        settings.append(("Mask blur", request.mask_feather_px))
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {value}" for key, value in settings))
    return "\n".join(lines)


def save_png(path: Path, image: np.ndarray, request: GenerationRequest, seed: int, model_name: str) -> None:
    height, width = image.shape[:2]
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text(PARAMETERS_KEY, parameters_text(request, seed, width, height, model_name))
    described = request.describe() | {"seed": seed, "image_seed": seed, "model_name": model_name}
    chunks.add_text(REQUEST_KEY, json.dumps(described))
    Image.fromarray(image).save(path, pnginfo=chunks)


def read_png_metadata(path: Path) -> dict[str, Any]:
    """{'parameters': str | None, 'request': dict | None} from a PNG written by save_png (or A1111)."""
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}))
    request = json.loads(text[REQUEST_KEY]) if REQUEST_KEY in text else None
    return {"parameters": text.get(PARAMETERS_KEY), "request": request}
