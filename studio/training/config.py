"""Sizes and hyper-parameters of the default model and of its training run, in one place.

`TrainConfig.default()` is the shipped recipe; `TrainConfig.tiny()` is the same code path shrunk so
that tests run it in seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VAEConfig:
    """AutoencoderKL: 8x downsampling (four blocks), 4 latent channels, no mid-block attention."""

    # Narrow at full resolution, where every channel costs most: on a CPU the steps per minute matter
    # (measured: a third of the time per step of (32, 64, 128, 128)).
    block_out_channels: tuple[int, ...] = (16, 32, 64, 128)
    layers_per_block: int = 1
    # Few groups: with one channel per group, GroupNorm erases each channel's mean over a crop, and
    # a flat sky's colour is exactly that mean (measured: 4 groups reached 21 dB where 16 reached 17).
    norm_num_groups: int = 4
    latent_channels: int = 4
    # Whole images, not crops: GroupNorm normalises over the whole picture, so an autoencoder trained
    # on 64-px crops meets other statistics on a 128-px image (measured: day skies came back orange).
    # Two whole images cost what eight 64-px crops cost, and small batches give more updates per minute.
    crop: int = 128
    batch_size: int = 2
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.02
    min_learning_rate_fraction: float = 0.02
    kl_weight: float = 1e-6  # just enough to keep the latent distribution bounded
    # Start the posterior narrow (std ~0.05): at the default std of 1 the sampled latent is mostly
    # noise and the decoder first has to wait for the encoder to learn to shrink it.
    initial_log_variance: float = -6.0


@dataclass(frozen=True)
class DiffusionConfig:
    """CLIPTextModel + UNet2DConditionModel, trained together on cached latents."""

    text_hidden_size: int = 128
    text_layers: int = 3
    text_heads: int = 4
    max_length: int = 32
    unet_block_out_channels: tuple[int, ...] = (64, 128, 192)
    # Cross-attention where layout is decided (8x8 and 4x4 latents); none at 16x16, which costs
    # most and the attribute layout does not need.
    unet_down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    unet_layers_per_block: int = 1
    unet_attention_head_dim: int = 32
    unet_norm_num_groups: int = 16  # at least 4 channels per group, for the reason given in VAEConfig
    batch_size: int = 64
    learning_rate: float = 6e-4
    # The schedules run on the clock (fractions of the stage's minutes): steps per minute vary by machine.
    warmup_fraction: float = 0.05
    min_learning_rate_fraction: float = 0.05
    ema_decay: float = 0.999
    min_snr_gamma: float = 5.0
    empty_caption_fraction: float = 0.1
    prediction_type: str = "epsilon"
    # "uniform" over the 1000 training timesteps, or "high_noise": t = T * (1 - u^2), which puts half
    # the draws in the noisiest quarter, where the layout (and so the sun's third) is decided.
    timestep_sampling: str = "uniform"


@dataclass(frozen=True)
class TrainConfig:
    """A whole run: data, both models and how the time budget is split between the stages."""

    dataset_size: int = 12000
    held_out_size: int = 256
    vae: VAEConfig = field(default_factory=VAEConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    vae_budget_fraction: float = 0.27  # of the minutes left after rendering
    export_reserve_minutes: float = 1.0  # samples, preview fit, saving
    checkpoint_minutes: float = 3.0
    sample_prompts: tuple[str, ...] = (
        "a sunny day with the sun on the left over grey mountains and green grass with a few trees",
        "a sunset with the sun in the middle over purple mountains and a lake",
        "a starry night, a moon on the right, snowy mountains, a snowfield with a pine forest",
        "daytime over a desert with clouds",
        "dusk over snow-capped mountains and sand dunes, the sun on the right",
        "nighttime over a meadow with many trees, the moon on the left",
        "a clear day with the sun in the center over the sea",
        "an evening sunset over rocky mountains and snowy ground with some pine trees",
    )
    sample_guidance_scale: float = 4.0
    sample_steps: int = 25
    sample_scheduler: str = "dpm++ 2m"

    @classmethod
    def default(cls) -> TrainConfig:
        return cls()

    @classmethod
    def for_device(cls, device: str) -> TrainConfig:
        """The default recipe, with batches sized for the device.

        The CPU numbers were measured in this project; the GPU batches follow the earlier GPU trial
        (batch 256 for the UNet) and were not re-measured when this recipe was written.
        """
        config = cls.default()
        if not device.startswith("cuda"):
            return config
        return dataclasses.replace(
            config,
            dataset_size=20000,
            vae=dataclasses.replace(config.vae, batch_size=16, learning_rate=2e-3),
            diffusion=dataclasses.replace(config.diffusion, batch_size=256, learning_rate=1e-3),
        )

    @classmethod
    def tiny(cls) -> TrainConfig:
        """Seconds on a CPU: for tests of the whole path, not for pictures."""
        return cls(
            dataset_size=48,
            held_out_size=8,
            vae=VAEConfig(
                block_out_channels=(8, 8, 16, 16), norm_num_groups=2, batch_size=8, warmup_fraction=0.1
            ),
            diffusion=DiffusionConfig(
                text_hidden_size=32,
                text_layers=1,
                text_heads=2,
                max_length=32,
                unet_block_out_channels=(16, 32),
                unet_down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                unet_attention_head_dim=8,
                unet_norm_num_groups=4,
                batch_size=16,
                warmup_fraction=0.1,
                learning_rate=2e-3,
                ema_decay=0.9,
            ),
            export_reserve_minutes=0.0,
            sample_prompts=("a sunny day with the sun on the left over a lake", "night over a desert"),
            sample_steps=4,
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PreviewDecoderConfig:
    """The tiny preview decoder (preview_decoder.py): AutoencoderTiny's decoder, 16 channels throughout.

    One block at 16, 32 and 64 px and none at 128, where each 3x3 convolution costs four times as
    much as at 64: about 29k parameters and a few milliseconds a preview on one CPU core.
    """

    block_out_channels: tuple[int, ...] = (16, 16, 16, 16)
    blocks: tuple[int, ...] = (1, 1, 1, 0)
    dataset_size: int = 4096
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.02
    min_learning_rate_fraction: float = 0.05


@dataclass(frozen=True)
class ContinuationConfig:
    """One `train --continue` run from the shipped weights (see continuation.py).

    The diffusion numbers are those of the continuation that moved the body's third from 32.9% to
    93.7% in 50 minutes on an idle Xeon: 16,000 fresh renders, batch 64, peak 4e-4, 3% warm-up,
    cosine to 5%. The decoder starts from trained weights, so its peak rate is a quarter of the
    from-scratch recipe's, with a short warm-up; bigger batches of whole images than from scratch,
    since a fine-tune wants steadier gradients more than many updates.
    """

    dataset_size: int = 16000
    diffusion: DiffusionConfig = field(
        default_factory=lambda: DiffusionConfig(
            learning_rate=4e-4, warmup_fraction=0.03, min_learning_rate_fraction=0.05
        )
    )
    vae: VAEConfig = field(
        default_factory=lambda: VAEConfig(
            batch_size=8, learning_rate=2.5e-4, warmup_fraction=0.02, min_learning_rate_fraction=0.05
        )
    )
    preview: PreviewDecoderConfig = field(default_factory=PreviewDecoderConfig)
    checkpoint_minutes: float = 3.0
    sample_prompts: tuple[str, ...] = TrainConfig.sample_prompts
