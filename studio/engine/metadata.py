"""Generation parameters stored in the PNG, so an image remembers how it was made.

Text chunks: "parameters" in the de-facto format of AUTOMATIC1111's web UI (read by most image
tools and model sites), "latent-studio" with the whole request as JSON, and for image-to-image and
inpainting the init image and the mask as PNGs of their own (base64 in compressed text chunks), so
that `main.py generate --from FILE.png` repeats the run from the file alone.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from studio.engine.atomic_file import atomic_write
from studio.engine.request import GenerationRequest, GenerationResult, LoraWeight, Mode, RequestError, Steer
from studio.engine.schedulers import DISPLAY_NAMES, normalise_scheduler_name

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "latent-studio"
INIT_IMAGE_KEY = "latent-studio-init"
MASK_KEY = "latent-studio-mask"
STEER_KEY = "latent-studio-steer"  # + index + "-image" / "-mask"
# Pillow refuses a text chunk that inflates past 1 MiB (its decompression-bomb guard), so pictures
# are split into parts below that: "latent-studio-init.0", "latent-studio-init.1", ...
PICTURE_PART_CHARS = 1_000_000


def parameters_text(
    request: GenerationRequest,
    seed: int,
    width: int,
    height: int,
    model_name: str,
    precision: str = "fp32",
    result: GenerationResult | None = None,
) -> str:
    """AUTOMATIC1111's layout: prompt, 'Negative prompt: ...', then one 'Key: value, ...' line.

    `precision` reads "UNet/decode", e.g. "bf16/fp32". Size is the picture's own; where the model ran
    at another size, "Generated at" says which (and "Refine strength" the full-size second pass)."""
    settings = [
        ("Steps", request.steps),
        ("Sampler", DISPLAY_NAMES[normalise_scheduler_name(request.scheduler)]),
        ("CFG scale", request.guidance_scale),
        ("Seed", seed),
        ("Size", f"{width}x{height}"),
        ("Model", model_name),
        ("Precision", precision),
        ("Resolution", request.resolution.value),
    ]
    if result is not None and result.working_size is not None:
        settings.append(("Generated at", "{}x{}".format(*result.working_size)))
    if result is not None and result.refine_strength:
        settings.append(("Refine strength", result.refine_strength))
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
        PARAMETERS_KEY, parameters_text(request, seed, width, height, result.model_name, precision, result)
    )
    described = request.describe() | {
        "seed": seed,
        "image_seed": seed,
        "batch_count": 1,  # this file holds one image: repeating it makes that one
        "model_name": result.model_name,
        "precision": result.precision,
        "decode_precision": result.decode_precision,
        "precision_asked": f"{request.precision.value}/{request.decode_precision.value}",
        "working_size": list(result.working_size) if result.working_size else None,
        "refine_strength_used": result.refine_strength,
    }
    chunks.add_text(REQUEST_KEY, json.dumps(described))
    pictures = [(INIT_IMAGE_KEY, request.init_image), (MASK_KEY, request.mask)]
    for index, steer in enumerate(request.steers):  # the edits made while paused, in their own chunks
        pictures += [(f"{STEER_KEY}{index}-image", steer.image), (f"{STEER_KEY}{index}-mask", steer.mask)]
    for key, picture in pictures:
        if picture is not None:
            _add_picture(chunks, key, picture)
    write_png(path, image, chunks)


def write_png(path: Path, image: np.ndarray, chunks: PngImagePlugin.PngInfo) -> None:
    """Written atomically (see atomic_file): the gallery never lists half a PNG."""
    with atomic_write(path) as file:
        Image.fromarray(image).save(file, format="PNG", pnginfo=chunks)


def _add_picture(chunks: PngImagePlugin.PngInfo, key: str, picture: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    for index, start in enumerate(range(0, len(encoded), PICTURE_PART_CHARS)):
        chunks.add_text(f"{key}.{index}", encoded[start : start + PICTURE_PART_CHARS], zip=True)


def _read_picture(text: dict[str, str], key: str, mode: str) -> np.ndarray | None:
    parts = []
    while f"{key}.{len(parts)}" in text:
        parts.append(text[f"{key}.{len(parts)}"])
    if not parts:
        return None
    with Image.open(io.BytesIO(base64.b64decode("".join(parts), validate=True))) as picture:
        return np.asarray(picture.convert(mode))


# Pillow reads text stored after the pixels only by decoding them; past this many pixels the text
# before them (where Pillow, and so A1111 and ComfyUI, write it) has to do.
MAX_DECODED_PIXELS = 4096 * 4096


def png_text_chunks(image: Image.Image, after_the_pixels_too: bool = True) -> dict[str, str]:
    """The text chunks of an open PNG. Those before the pixels are in `info` without decoding a pixel
    (where we, AUTOMATIC1111 and ComfyUI write ours); `Image.text` decodes the whole picture to find
    any after them, so that is skipped when asked and for pictures over Pillow's bomb limit. Never
    raises on damaged pixels: the text before them still counts."""
    before_pixels = {key: str(value) for key, value in image.info.items() if isinstance(value, str)}
    if not after_the_pixels_too or image.width * image.height > MAX_DECODED_PIXELS:
        return before_pixels
    try:
        return before_pixels | {key: str(value) for key, value in image.text.items()}
    except Exception:  # damaged pixels (any error Pillow raises there)
        return before_pixels


def _png_text(path: Path) -> dict[str, str]:
    with Image.open(path) as image:
        return png_text_chunks(image)


def read_png_metadata(path: Path) -> dict[str, Any]:
    """{'parameters': str | None, 'request': dict | None} from a PNG written by save_png (or A1111)."""
    text = _png_text(path)
    request = json.loads(text[REQUEST_KEY]) if REQUEST_KEY in text else None
    return {"parameters": text.get(PARAMETERS_KEY), "request": request}


# The request fields a file repeats as written; the rest are rebuilt (images, LoRAs) or are how the
# run is watched (previews), which does not change its pixels.
_REPEATED_FIELDS = (
    "prompt", "negative_prompt", "mode", "seed", "steps", "guidance_scale", "width", "height",
    "resolution", "refine_strength", "strength", "scheduler", "mask_feather_px", "inpaint_only_masked",
    "inpaint_padding_px", "batch_count", "model", "precision", "decode_precision", "tiny_decoder",
)


def _read_steer(text: dict[str, str], index: int, described: dict[str, Any]) -> Steer:
    def optional(name: str, kind: type):
        return None if described.get(name) is None else kind(described[name])

    return Steer(
        at_step=int(described["at_step"]),
        image=_read_picture(text, f"{STEER_KEY}{index}-image", "RGB"),
        mask=_read_picture(text, f"{STEER_KEY}{index}-mask", "L"),
        prompt=optional("prompt", str),
        negative_prompt=optional("negative_prompt", str),
        guidance_scale=optional("guidance_scale", float),
        image_index=optional("image_index", int),
        noise_seed=optional("noise_seed", int),
    )


def read_request(path: Path) -> GenerationRequest:
    """The run a PNG of ours records, ready to run again: same model, seed, precisions, init image
    and mask, so the same pixels come out. Metadata is untrusted: anything that does not make a
    valid request is refused with a RequestError that says so."""
    try:
        text = _png_text(path)
    except FileNotFoundError:
        raise RequestError(f"{path} not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise RequestError(f"{path} is not a PNG Pillow can read ({error})") from None
    if REQUEST_KEY not in text:
        raise RequestError(f"{path} holds no Latent Studio run to repeat (no '{REQUEST_KEY}' metadata)")
    try:
        described = json.loads(text[REQUEST_KEY])
        fields = {name: described[name] for name in _REPEATED_FIELDS if name in described}
        fields["loras"] = tuple(LoraWeight(str(lora["path"]), float(lora["weight"]))
                                for lora in described.get("loras", []))
        fields["steers"] = tuple(_read_steer(text, index, steer)
                                 for index, steer in enumerate(described.get("steers", [])))
        fields["init_image"] = _read_picture(text, INIT_IMAGE_KEY, "RGB")
        fields["mask"] = _read_picture(text, MASK_KEY, "L")
        return GenerationRequest(**fields)
    except (TypeError, ValueError, KeyError, AttributeError, OSError) as error:
        raise RequestError(f"{path}: its recorded run cannot be repeated ({error})") from None
