"""The tiny preview decoder: draws what the model's VAE decoder would draw, at a fraction of the cost.

The idea of TAESD (madebyollin), sized for the embedded model and a CPU: diffusers' AutoencoderTiny
with 16 channels throughout and one block at each of 16, 32 and 64 px. It takes pipeline-space
latents (VAE latents times the scaling factor, as TAESD does) and returns RGB in [-1, 1] at full size.
Only its decoder is used (the app never encodes with it), so its encoder is the smallest the class
allows and is not trained.

Training pairs are made once: renders are encoded by the shipped VAE, one posterior sample is drawn
per image, and the VAE decoder's picture of that sample is the target. The decoder is judged on the
evaluation's held-out renders by PSNR against the full VAE decode, the same picture the final image is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from studio.engine.model_defaults import MODEL_DEFAULTS_FILE, ModelDefaults
from studio.engine.previews import PREVIEW_DECODER_FOLDER, LinearPreview, TinyDecoderPreview
from studio.training.checkpoint import load_checkpoint, save_checkpoint
from studio.training.compute import FP32, ComputeSettings, trial_for
from studio.training.config import PreviewDecoderConfig
from studio.training.dataset import render_dataset
from studio.training.progress import ProgressBar
from studio.training.vae import psnr, to_unit_range

if TYPE_CHECKING:
    from studio.training.continuation import PartRun

PSNR_SEED = 424_242  # the evaluation's held-out renders
PSNR_IMAGES = 256


def build_preview_decoder(config: PreviewDecoderConfig, latent_channels: int = 4) -> AutoencoderTiny:
    blocks = len(config.block_out_channels)
    return AutoencoderTiny(
        latent_channels=latent_channels,
        decoder_block_out_channels=config.block_out_channels,
        num_decoder_blocks=config.blocks,
        encoder_block_out_channels=(4,) * blocks,  # unused: previews only decode
        num_encoder_blocks=(1,) * blocks,
        scaling_factor=1.0,  # it takes latents already scaled, as the UNet sees them
    )


@torch.no_grad()
def teacher_pairs(
    vae: AutoencoderKL, images_uint8: torch.Tensor, generator: torch.Generator, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pipeline-space latents fp16, the VAE decoder's pictures of them as uint8) for every image."""
    vae.eval()
    scaling = float(vae.config.scaling_factor)
    latents, pictures = [], []
    bar = ProgressBar("teacher", len(images_uint8), unit="images")
    for start in range(0, len(images_uint8), batch_size):
        posterior = vae.encode(to_unit_range(images_uint8[start : start + batch_size])).latent_dist
        sample = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        decoded = vae.decode(sample).sample
        latents.append((sample * scaling).half())
        pictures.append(((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
        bar.update(min(start + batch_size, len(images_uint8)))
    bar.close(len(images_uint8))
    return torch.cat(latents), torch.cat(pictures)


@dataclass
class PreviewDecoderTrainer:
    decoder: AutoencoderTiny
    config: PreviewDecoderConfig
    latents: torch.Tensor  # (N, 4, h, w) fp16, pipeline space
    pictures: torch.Tensor  # (N, 3, H, W) uint8
    generator: torch.Generator
    optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    compute: ComputeSettings = FP32

    def __post_init__(self) -> None:
        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(
                self.decoder.decoder.parameters(), lr=self.config.learning_rate, weight_decay=0.0
            )

    def use(self, compute: ComputeSettings) -> None:
        self.compute = compute
        self.decoder.to(memory_format=compute.memory_format())

    def train_step(self, learning_rate_scale: float = 1.0) -> float:
        """One optimisation step, counted; returns the loss."""
        loss = self.optimise(learning_rate_scale)
        self.step += 1
        return loss

    def optimise(self, learning_rate_scale: float) -> float:
        """Forward, backward and optimizer step without bookkeeping (the timed trial runs it at 0)."""
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * learning_rate_scale
        index = torch.randint(0, len(self.latents), (self.config.batch_size,), generator=self.generator)
        latents = self.latents[index].float().contiguous(memory_format=self.compute.memory_format())
        target = to_unit_range(self.pictures[index])
        with self.compute.autocast(latents.device):
            output = self.decoder.decode(latents).sample
        error = output.float() - target
        loss = error.abs().mean() + error.pow(2).mean()  # as the VAE: MSE for PSNR, L1 for edges
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def checkpoint(self) -> dict[str, Any]:
        """Everything a stopped run needs to go on exactly where it was (see restore)."""
        assert self.optimizer is not None
        return {
            "model": self.decoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "generator": self.generator.get_state(),
        }

    def restore(self, saved: dict[str, Any] | None) -> None:
        """Go on from a `checkpoint()`; None (no checkpoint yet) leaves the trainer as it is."""
        if saved is None:
            return
        assert self.optimizer is not None
        self.decoder.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step = saved["step"]
        self.generator.set_state(saved["generator"])


def train_preview_decoder(run: PartRun) -> dict[str, Any]:
    """Train a preview decoder for the VAE in `run.candidate` and save it there (continuation.py's part)."""
    candidate, minutes, seed, device, work, state, config = run.fields()
    from studio.training.train import train_for  # deferred: train imports this module's neighbours

    vae = AutoencoderKL.from_pretrained(candidate / "vae", torch_dtype=torch.float32).to(device)
    saved = load_checkpoint(work / "teacher.pt")
    if saved is None:
        images = render_dataset(config.preview.dataset_size, seed).images
        images_uint8 = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        pairs = teacher_pairs(vae, images_uint8, torch.Generator().manual_seed(seed))
        save_checkpoint(work / "teacher.pt", {"latents": pairs[0], "pictures": pairs[1]})
    else:
        pairs = (saved["latents"], saved["pictures"])
    torch.manual_seed(seed)
    decoder = build_preview_decoder(config.preview, int(vae.config.latent_channels)).to(device)
    trainer = PreviewDecoderTrainer(decoder, config.preview, *pairs, torch.Generator().manual_seed(seed + 1))
    trainer.restore(load_checkpoint(work / "preview.pt"))
    trial = trial_for(trainer, device, trainer.optimise)
    train_for("preview", trainer, state, minutes * 60, work / "preview.pt", config.checkpoint_minutes * 60)
    decoder.to(memory_format=torch.contiguous_format)
    # fp32 on disk: it is a few hundred kilobytes, and previews must not pay for fp16 conversions on a CPU.
    decoder.save_pretrained(candidate / PREVIEW_DECODER_FOLDER, safe_serialization=True)
    return {
        "train_seconds": state.seconds["preview"],
        "steps": trainer.step,
        "compute": trial.describe(),
        "changed": [PREVIEW_DECODER_FOLDER],
    }


@torch.no_grad()
def preview_fidelity(model_folder: Path, images: int = PSNR_IMAGES) -> dict[str, Any]:
    """PSNR of the folder's default preview against the full VAE decode, both at full size.

    The preview is what the app shows: the tiny decoder when the folder has one, else the linear map
    (its 16x16 picture upscaled bilinearly, as the canvas shows it).
    """
    model_folder = Path(model_folder)
    vae = AutoencoderKL.from_pretrained(model_folder / "vae", torch_dtype=torch.float32).eval()
    renders = torch.from_numpy(render_dataset(images, PSNR_SEED).images).permute(0, 3, 1, 2).contiguous()
    tiny = TinyDecoderPreview.from_folder(model_folder, torch.device("cpu"), torch.float32)
    defaults = ModelDefaults.read(model_folder)
    if defaults is None or defaults.preview is None:
        raise ValueError(f"{model_folder} has no fitted linear preview (in its {MODEL_DEFAULTS_FILE})")
    linear = defaults.preview
    scaling = float(vae.config.scaling_factor)
    values = []
    for start in range(0, len(renders), 32):
        latents = vae.encode(to_unit_range(renders[start : start + 32])).latent_dist.mode()
        reference = ((vae.decode(latents).sample.clamp(-1, 1) + 1) * 127.5).round()
        if tiny is not None:
            preview = tiny.decode(latents * scaling)
        else:
            preview = torch.stack([_linear_full_size(linear, latent * scaling) for latent in latents])
        values.append(psnr(preview, reference))
    return {
        "preview_psnr_db": round(float(torch.cat(values).mean()), 2),
        "method": "tiny decoder" if tiny is not None else "linear",
    }


def _linear_full_size(linear: LinearPreview, latent: torch.Tensor) -> torch.Tensor:
    small = torch.from_numpy(np.ascontiguousarray(linear.to_rgb(latent[None]))).permute(2, 0, 1).float()
    size = (latent.shape[-2] * 8, latent.shape[-1] * 8)
    full = torch.nn.functional.interpolate(small[None], size=size, mode="bilinear", align_corners=False)[0]
    return full / 127.5 - 1.0
