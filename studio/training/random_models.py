"""Stable Diffusion pipeline folders with random weights, built in code.

Tests use the tiny one (a CPU runs it in milliseconds); the speed benchmark uses the Stable
Diffusion 1.5 architecture, since speed does not depend on the weights. Both are saved with
save_pretrained and so go through exactly the loader a real model goes through.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from studio.training.diffusion import build_scheduler
from studio.training.export import assemble_pipeline
from studio.training.tokenizer import build_caption_tokenizer

_WORDS = (
    "a sunny clear day daytime sunset dusk evening night starry nighttime with the sun moon on left "
    "right in center middle grey gray rocky snowy snow-capped purple mountains green grass meadow "
    "grassland desert sand dunes ground snowfield snow lake water sea few some pine trees forest many "
    "clouds cloudy sky over and"
)


def _text_config(
    vocab_size: int, hidden: int, layers: int, heads: int, positions: int, **extra
) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=positions,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        **extra,
    )


def _text_encoder(vocab_size: int, hidden: int, layers: int, heads: int, positions: int) -> CLIPTextModel:
    return CLIPTextModel(_text_config(vocab_size, hidden, layers, heads, positions))


def _tiny_unet(**extra) -> UNet2DConditionModel:
    """A two-level cross-attention UNet on 8x8 latents; `extra` adds the conditioning it takes."""
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **extra,
    )


def _tiny_vae(scaling_factor: float = 0.18215) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
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
    unet = _tiny_unet(cross_attention_dim=32, attention_head_dim=8)
    vae = _tiny_vae()
    tokenizer = build_caption_tokenizer([_WORDS], max_length=16)
    text_encoder = _text_encoder(len(tokenizer), hidden=32, layers=2, heads=4, positions=16)
    return assemble_pipeline(vae, text_encoder, tokenizer, unet, build_scheduler())


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
    text_encoder = _text_encoder(49408, hidden=768, layers=12, heads=12, positions=77)
    return assemble_pipeline(vae, text_encoder, tokenizer, unet, build_scheduler())


def tiny_sdxl_pipeline(seed: int = 0):
    """An SDXL-shaped pipeline (two text encoders, pooled text and size embeddings, SDXL's VAE scale)
    small enough for tests, as diffusers' own SDXL tests build it."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    hidden = 32
    unet = _tiny_unet(
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + hidden,  # six size ids and the pooled text
        cross_attention_dim=2 * hidden,  # both encoders' states side by side
    )
    vae = _tiny_vae(scaling_factor=0.13025)  # SDXL's latent scale
    tokenizer = build_caption_tokenizer([_WORDS], max_length=16)
    text_encoder = _text_encoder(len(tokenizer), hidden=hidden, layers=2, heads=4, positions=16)
    text_encoder_2 = CLIPTextModelWithProjection(
        _text_config(len(tokenizer), hidden=hidden, layers=2, heads=4, positions=16, projection_dim=hidden)
    )
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
