"""The autoencoder: build it, train it on random crops, encode a dataset, measure its PSNR.

Images cross this module as uint8 (N, 3, H, W) tensors and become [-1, 1] floats only per batch,
which keeps a 20k-image dataset at 1 GB instead of 4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import AutoencoderKL

from studio.training.compute import FP32, ComputeSettings
from studio.training.config import VAEConfig

LATENT_DOWNSCALE = 8


def build_vae(config: VAEConfig) -> AutoencoderKL:
    blocks = len(config.block_out_channels)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=config.latent_channels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.norm_num_groups,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        mid_block_add_attention=False,
        sample_size=128,
    )
    with torch.no_grad():  # quant_conv emits (mean, log variance) per latent channel
        vae.quant_conv.bias[config.latent_channels :] = config.initial_log_variance
    return vae


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def psnr(reconstructed: torch.Tensor, original_uint8: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB, on the 8-bit images a user would see."""
    restored = ((reconstructed.clamp(-1, 1) + 1) * 127.5).round()
    mse = ((restored - original_uint8.float()) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-3)
    return 10 * torch.log10(255.0**2 / mse)


@torch.no_grad()
def reconstruction_psnr(vae: AutoencoderKL, images_uint8: torch.Tensor, batch_size: int = 32) -> float:
    """Mean per-image PSNR of encode (mode) -> decode."""
    vae.eval()
    values = []
    for start in range(0, len(images_uint8), batch_size):
        batch = images_uint8[start : start + batch_size].to(vae.device)
        latents = vae.encode(to_unit_range(batch)).latent_dist.mode()
        values.append(psnr(vae.decode(latents).sample, batch).cpu())
    return float(torch.cat(values).mean())


@dataclass
class VAETrainer:
    """One optimisation step at a time, so the caller owns the clock, checkpoints and progress."""

    vae: AutoencoderKL
    config: VAEConfig
    images_uint8: torch.Tensor  # (N, 3, H, W)
    generator: torch.Generator
    optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    # Decoder only: the encoder, and so the latent space a trained UNet lives in, stays as it is; the
    # decoder learns to draw sharper pictures from the same latents (what Stability's ft-MSE VAE did).
    decoder_only: bool = False
    compute: ComputeSettings = FP32
    losses: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.decoder_only:
            self.vae.encoder.requires_grad_(False)
            self.vae.quant_conv.requires_grad_(False)
        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(
                self.trained_parameters(),
                lr=self.config.learning_rate,
                betas=(0.9, 0.99),
                weight_decay=0.0,
                fused=self.vae.device.type == "cpu",  # one kernel for all tensors: measured faster on CPU
            )

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.vae.parameters() if p.requires_grad]

    def use(self, compute: ComputeSettings) -> None:
        self.compute = compute
        self.vae.to(memory_format=compute.memory_format())

    def _batch(self) -> torch.Tensor:
        count, _, height, width = self.images_uint8.shape
        crop = min(self.config.crop, height, width)
        index = torch.randint(0, count, (self.config.batch_size,), generator=self.generator)
        # Crops on the latent grid, so every crop sees the same 8x8 cell alignment the full image has.
        top = int(torch.randint(0, (height - crop) // LATENT_DOWNSCALE + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, (width - crop) // LATENT_DOWNSCALE + 1, (1,), generator=self.generator))
        top, left = top * LATENT_DOWNSCALE, left * LATENT_DOWNSCALE
        batch = self.images_uint8[index, :, top : top + crop, left : left + crop]
        if bool(torch.rand((), generator=self.generator) < 0.5):
            batch = batch.flip(-1)  # the world is left-right symmetric, apart from where things are
        return to_unit_range(batch.to(self.vae.device))

    def train_step(self, learning_rate_scale: float = 1.0) -> float:
        """One optimisation step, counted and its loss recorded; returns the loss."""
        loss = self.optimise(learning_rate_scale)
        self.step += 1
        self.losses.append(loss)
        return loss

    def optimise(self, learning_rate_scale: float) -> float:
        """Forward, backward and optimizer step without bookkeeping (the timed trial runs it at 0)."""
        assert self.optimizer is not None
        self.vae.train()
        if self.decoder_only:
            self.vae.encoder.eval()  # frozen: no dropout or norm statistics drift on that side
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * learning_rate_scale
        batch = self._batch().contiguous(memory_format=self.compute.memory_format())
        with self.compute.autocast(self.vae.device):
            with torch.set_grad_enabled(not self.decoder_only):
                posterior = self.vae.encode(batch).latent_dist
            reconstruction = self.vae.decode(posterior.sample(generator=None)).sample
        error = reconstruction.float() - batch
        # MSE is what PSNR measures; L1 keeps the gradient alive on small errors, which sharpens edges.
        loss = error.abs().mean() + error.pow(2).mean()
        if not self.decoder_only:
            loss = loss + self.config.kl_weight * posterior.kl().mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained_parameters(), 1.0)
        self.optimizer.step()
        return loss.item()

    def checkpoint(self) -> dict[str, Any]:
        """Everything a stopped run needs to go on exactly where it was (see restore)."""
        assert self.optimizer is not None
        return {
            "model": self.vae.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "generator": self.generator.get_state(),
            "losses": self.losses,
        }

    def restore(self, saved: dict[str, Any] | None) -> None:
        """Go on from a `checkpoint()`; None (no checkpoint yet) leaves the trainer as it is."""
        if saved is None:
            return
        assert self.optimizer is not None
        self.vae.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step, self.losses = saved["step"], list(saved["losses"])
        self.generator.set_state(saved["generator"])


@dataclass
class EncodedLatents:
    """Posterior mean and std of every image, unscaled; sampling a latent is then one multiply-add."""

    mean: torch.Tensor  # (N, C, h, w) float16
    std: torch.Tensor

    def sample(self, index: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean, std = self.mean[index].float(), self.std[index].float()
        return mean + std * torch.randn(mean.shape, generator=generator)


@torch.no_grad()
def encode_images(
    vae: AutoencoderKL,
    images_uint8: torch.Tensor,
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
) -> EncodedLatents:
    vae.eval()
    means, stds = [], []
    for start in range(0, len(images_uint8), batch_size):
        posterior = vae.encode(to_unit_range(images_uint8[start : start + batch_size])).latent_dist
        means.append(posterior.mean.half())
        stds.append(posterior.std.half())
        if on_batch is not None:
            on_batch(min(start + batch_size, len(images_uint8)))
    return EncodedLatents(torch.cat(means), torch.cat(stds))


def latent_scaling_factor(latents: EncodedLatents) -> float:
    """1 / std of the latents, so the diffusion model sees unit variance (what SD's 0.18215 does)."""
    return float(1.0 / latents.mean.float().std())
