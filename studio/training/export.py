"""Write the trained parts as a normal diffusers Stable Diffusion folder, plus our own settings file.

The folder loads with `StableDiffusionPipeline.from_pretrained` like any SD 1.x model; the app also
reads `latent_studio.json` (default size, steps, guidance, sampler, and linear latent -> RGB preview
factors fitted on the training images).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from studio.engine.previews import PREVIEW_DECODER_FOLDER, LinearPreview
from studio.engine.schedulers import make_scheduler
from studio.training.run_history import HISTORY_FILE
from studio.training.tokenizer import save_caption_tokenizer
from studio.training.vae import EncodedLatents

MAX_FILE_BYTES = 16 * 1024 * 1024
# Decimal megabytes, as huggingface_hub parses them: 15 MB stays under the 16 MiB limit per file.
MAX_SHARD_SIZE = "15MB"
SAMPLE_SHEET = "samples.png"
SAMPLE_SHEET_COLUMNS = 4


def assemble_pipeline(
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def fit_linear_preview(
    latents: EncodedLatents, images_uint8: torch.Tensor, scaling_factor: float, max_images: int = 2000
) -> LinearPreview:
    """Least-squares map from pipeline-space latents (C values) to RGB in [-1, 1], with a bias.

    The target is each image area-averaged down to the latent grid, the colour a latent cell stands for.
    """
    count = min(max_images, len(images_uint8))
    latent = latents.mean[:count].float() * scaling_factor  # (n, C, h, w)
    height, width = latent.shape[-2:]
    target = torch.nn.functional.adaptive_avg_pool2d(
        images_uint8[:count].float() / 127.5 - 1.0, (height, width)
    )
    inputs = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1])
    inputs = torch.cat([inputs, torch.ones(len(inputs), 1)], dim=1)
    outputs = target.permute(0, 2, 3, 1).reshape(-1, 3)
    solution = torch.linalg.lstsq(inputs.double(), outputs.double()).solution.float()
    return LinearPreview(
        tuple(tuple(round(float(v), 6) for v in row) for row in solution[:-1]),
        tuple(round(float(v), 6) for v in solution[-1]),
    )


def save_pipeline(pipeline: StableDiffusionPipeline, tokenizer: CLIPTokenizer, folder: Path) -> None:
    """fp16 safetensors, sharded under 16 MiB per file (some hosts and installers refuse bigger files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Written over another model (say, the shipped one), the folder keeps nothing that belongs to
    # that model alone: its preview decoder was fitted to the old VAE, its run history is the old one's.
    shutil.rmtree(folder / PREVIEW_DECODER_FOLDER, ignore_errors=True)
    (folder / HISTORY_FILE).unlink(missing_ok=True)
    pipeline.to(dtype=torch.float16)
    try:
        pipeline.save_pretrained(folder, safe_serialization=True, max_shard_size=MAX_SHARD_SIZE)
    finally:
        pipeline.to(dtype=torch.float32)
    save_caption_tokenizer(tokenizer, folder / "tokenizer")
    too_big = [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size >= MAX_FILE_BYTES]
    if too_big:
        raise RuntimeError(f"files over 16 MiB after sharding: {', '.join(map(str, too_big))}")


def save_fp16(model: torch.nn.Module, folder: Path) -> None:
    """fp16 safetensors under 16 MiB a file, replacing whatever the folder held."""
    if folder.exists():
        shutil.rmtree(folder)
    model.to(torch.float16)
    try:
        model.save_pretrained(folder, safe_serialization=True, max_shard_size=MAX_SHARD_SIZE)
    finally:
        model.to(torch.float32)


def weight_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*.safetensors"))


@torch.no_grad()
def generate_samples(
    pipeline: StableDiffusionPipeline,
    prompts: Sequence[str],
    steps: int,
    guidance_scale: float,
    scheduler_name: str,
    seed: int = 0,
) -> list[np.ndarray]:
    """One image per prompt, seed + i each, with the sampler the app will use by default."""
    original = pipeline.scheduler
    pipeline.scheduler = make_scheduler(scheduler_name, dict(original.config))
    pipeline.set_progress_bar_config(disable=True)
    try:
        images = []
        for index, prompt in enumerate(prompts):
            generator = torch.Generator().manual_seed(seed + index)
            output = pipeline(
                prompt,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                generator=generator,
                output_type="np",
                height=128,
                width=128,
            )
            images.append((output.images[0] * 255).round().astype(np.uint8))
        return images
    finally:
        pipeline.scheduler = original
