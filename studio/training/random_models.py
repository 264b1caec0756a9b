"""Stable Diffusion pipeline folders with random weights, built in code, for tests, benchmarks and scripts.

Tests use the tiny one (a CPU runs it in milliseconds); the speed benchmark uses the Stable
Diffusion 1.5 architecture, since speed does not depend on the weights. Both are saved with
save_pretrained and so go through exactly the loader a real model goes through. The UNets and text
encoders come from the training builders; the autoencoders do not, because `vae.build_vae` is our
own recipe (no mid-block attention, a narrow posterior) and these stand for the SD checkpoints a
person brings, whose autoencoders have mid-block attention.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from studio.training.config import DiffusionConfig
from studio.training.diffusion import build_scheduler, build_unet, text_encoder_config
from studio.training.export import assemble_pipeline
from studio.training.tokenizer import build_caption_tokenizer

_WORDS = (
    "a sunny clear day daytime sunset dusk evening night starry nighttime with the sun moon on left "
    "right in center middle grey gray rocky snowy snow-capped purple mountains green grass meadow "
    "grassland desert sand dunes ground snowfield snow lake water sea few some pine trees forest many "
    "clouds cloudy sky over and"
)
LATENT_CHANNELS = 4

# A two-level cross-attention UNet on 8x8 latents and a 2-layer CLIP text encoder.
TINY = DiffusionConfig(
    text_hidden_size=32,
    text_layers=2,
    text_heads=4,
    max_length=16,
    unet_block_out_channels=(32, 64),
    unet_down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    unet_layers_per_block=1,
    unet_attention_head_dim=8,
    unet_norm_num_groups=8,
)
TINY_LATENT_SIZE = 8
# Stable Diffusion 1.5: diffusers' UNet2DConditionModel defaults and CLIP ViT-L/14's text tower.
SD15 = DiffusionConfig(
    text_hidden_size=768,
    text_layers=12,
    text_heads=12,
    max_length=77,
    unet_block_out_channels=(320, 640, 1280, 1280),
    unet_down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    unet_layers_per_block=2,
    unet_attention_head_dim=8,
    unet_norm_num_groups=32,
)
SD15_LATENT_SIZE = 64
SD15_VOCABULARY = 49408


def _tiny_vae(scaling_factor: float = 0.18215) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        sample_size=64,
        layers_per_block=1,
        block_out_channels=(16, 16, 16, 16),
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=scaling_factor,
    )


def tiny_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """About 0.5M parameters: 8x VAE, cross-attention UNet, 2-layer CLIP text encoder."""
    torch.manual_seed(seed)
    unet = build_unet(TINY, LATENT_CHANNELS, TINY_LATENT_SIZE)
    vae = _tiny_vae()
    tokenizer = build_caption_tokenizer([_WORDS], max_length=TINY.max_length)
    text_encoder = CLIPTextModel(text_encoder_config(TINY, tokenizer))
    return assemble_pipeline(vae, text_encoder, tokenizer, unet, build_scheduler())


def sd15_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """The Stable Diffusion 1.5 architecture (860M UNet, 123M text encoder, 84M VAE), random weights."""
    torch.manual_seed(seed)
    unet = build_unet(SD15, LATENT_CHANNELS, SD15_LATENT_SIZE)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        latent_channels=LATENT_CHANNELS,
        sample_size=512,
        layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    tokenizer = build_caption_tokenizer([_WORDS], max_length=SD15.max_length)
    text_encoder = CLIPTextModel(text_encoder_config(SD15, tokenizer, vocab_size=SD15_VOCABULARY))
    return assemble_pipeline(vae, text_encoder, tokenizer, unet, build_scheduler())


def tiny_sdxl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """An SDXL-shaped pipeline (two text encoders, pooled text and size embeddings, SDXL's VAE scale)
    small enough for tests, as diffusers' own SDXL tests build it."""
    torch.manual_seed(seed)
    hidden = TINY.text_hidden_size
    unet = build_unet(
        TINY,
        LATENT_CHANNELS,
        TINY_LATENT_SIZE,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + hidden,  # six size ids and the pooled text
        cross_attention_dim=2 * hidden,  # both encoders' states side by side
    )
    vae = _tiny_vae(scaling_factor=0.13025)  # SDXL's latent scale
    tokenizer = build_caption_tokenizer([_WORDS], max_length=TINY.max_length)
    text_encoder = CLIPTextModel(text_encoder_config(TINY, tokenizer))
    text_encoder_2 = CLIPTextModelWithProjection(text_encoder_config(TINY, tokenizer, projection_dim=hidden))
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=build_scheduler(),
        add_watermarker=False,
    )


def save_random_model(folder: Path, kind: str = "tiny", seed: int = 0) -> Path:
    builders = {"tiny": tiny_pipeline, "sd15": sd15_pipeline, "tiny-sdxl": tiny_sdxl_pipeline}
    pipeline = builders[kind](seed)
    pipeline.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def save_random_lora(model_folder: Path, lora_file: Path, seed: int = 0, rank: int = 4) -> Path:
    """A LoRA for the model in `model_folder` (UNet attention layers) with random non-zero weights, in
    the file format diffusers' save_lora_weights writes, as LoRA trainers publish them."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(Path(model_folder) / "unet")
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    # init_lora_weights=False: both LoRA matrices random, so the LoRA visibly changes the picture.
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights=False))
    layers = get_peft_model_state_dict(unet)
    lora_file = Path(lora_file)
    StableDiffusionPipeline.save_lora_weights(
        lora_file.parent, unet_lora_layers=layers, weight_name=lora_file.name, safe_serialization=True
    )
    return lora_file
