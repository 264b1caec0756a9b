"""Stable Diffusion pipeline folders with random weights, built in code.

Tests use the tiny one (a CPU runs it in milliseconds); the speed benchmark uses the Stable
Diffusion 1.5 architecture, since speed does not depend on the weights. Both are saved with
save_pretrained and so go through exactly the loader a real model goes through.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from studio.training.tokenizer import build_caption_tokenizer

_WORDS = (
    "a sunny clear day daytime sunset dusk evening night starry nighttime with the sun moon on left "
    "right in center middle grey gray rocky snowy snow-capped purple mountains green grass meadow "
    "grassland desert sand dunes ground snowfield snow lake water sea few some pine trees forest many "
    "clouds cloudy sky over and"
)


def _scheduler() -> DDPMScheduler:
    # The Stable Diffusion 1.x noise schedule.
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        steps_offset=1,
    )


def tiny_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """About 0.5M parameters: 8x VAE, cross-attention UNet, 2-layer CLIP text encoder."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        norm_num_groups=8,
        cross_attention_dim=32,
        attention_head_dim=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        sample_size=64,
        layers_per_block=1,
        block_out_channels=(16, 16, 16, 16),
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    tokenizer = build_caption_tokenizer([_WORDS], max_length=16)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def sd15_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """The Stable Diffusion 1.5 architecture (860M UNet, 123M text encoder, 84M VAE), random weights."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        latent_channels=4,
        sample_size=512,
        layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    tokenizer = build_caption_tokenizer([_WORDS], max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_random_model(folder: Path, kind: str = "tiny", seed: int = 0) -> Path:
    builders = {"tiny": tiny_pipeline, "sd15": sd15_pipeline}
    pipeline = builders[kind](seed)
    pipeline.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
