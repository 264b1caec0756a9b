"""Per-step previews: latents to an RGB image, on the model's device.

Three ways, from cheapest to exact:
- a linear map from the 4 latent channels to RGB (the "latent2RGB" trick of the popular UIs): a 4x3
  matmul at latent resolution, nearly free, but only as true as the latents are linear in colour;
- a tiny decoder trained to imitate the model's VAE decoder (the idea of TAESD), in diffusers'
  AutoencoderTiny format, from the model folder's `preview_decoder/`: true colours at full size for
  a small fraction of a step;
- the full VAE decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

PREVIEW_DECODER_FOLDER = "preview_decoder"

# Published linear factors (as used by ComfyUI and others) for pipeline-space latents, i.e.
# VAE latents times the VAE's scaling factor, mapped to RGB in [-1, 1].
SD1_FACTORS = [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
]
SDXL_FACTORS = [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
]
SDXL_BIAS = [0.1084, -0.0175, -0.0011]
SDXL_SCALING_FACTOR = 0.13025


def is_sdxl_latent_space(vae_scaling_factor: float) -> bool:
    """SDXL's VAE is told apart from SD 1.x/2.x's (0.18215) by its latent scale."""
    return abs(vae_scaling_factor - SDXL_SCALING_FACTOR) < 1e-4


@lru_cache(maxsize=8)
def _on_device(factors: tuple, bias: tuple, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per model and device, not once per step: this runs on the per-step hot path.
    return torch.tensor(factors, device=device), torch.tensor(bias, device=device)


@dataclass(frozen=True)
class LinearPreview:
    """latent (4 channels) -> RGB in [-1, 1] by `rgb = latent @ factors + bias`."""

    factors: tuple[tuple[float, ...], ...]
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_json(cls, data: dict) -> LinearPreview:
        return cls(
            tuple(tuple(float(v) for v in row) for row in data["factors"]),
            tuple(float(v) for v in data.get("bias", (0.0, 0.0, 0.0))),
        )

    @classmethod
    def published_for(cls, latent_channels: int, vae_scaling_factor: float) -> LinearPreview | None:
        if latent_channels != 4:
            return None
        if is_sdxl_latent_space(vae_scaling_factor):
            return cls(tuple(map(tuple, SDXL_FACTORS)), tuple(SDXL_BIAS))
        return cls(tuple(map(tuple, SD1_FACTORS)))

    def to_rgb(self, latents: torch.Tensor) -> np.ndarray:
        """First image of a (B, 4, h, w) batch -> (h, w, 3) uint8, computed where the latents are."""
        latent = latents[0].float().permute(1, 2, 0)
        factors, bias = _on_device(self.factors, self.bias, latent.device)
        rgb = (latent @ factors + bias + 1.0) * 127.5
        return rgb.clamp(0, 255).round().to(torch.uint8).cpu().numpy()


def to_uint8_image(decoded: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8 on the CPU, by diffusers' own postprocess: the pixels
    a pipeline's output_type="pil" gives."""
    picture = _postprocessor().postprocess(decoded[None].float(), output_type="pil")[0]
    return np.asarray(picture)


@lru_cache(maxsize=1)
def _postprocessor():
    from diffusers.image_processor import VaeImageProcessor

    return VaeImageProcessor()


@dataclass
class TinyDecoderPreview:
    """Pipeline-space latents (VAE latents times the scaling factor, as TAESD takes them) -> RGB."""

    decoder: torch.nn.Module  # diffusers' AutoencoderTiny

    @classmethod
    def from_folder(
        cls, model_folder: Path, device: torch.device, dtype: torch.dtype
    ) -> TinyDecoderPreview | None:
        """The model folder's own preview decoder, or None when it ships none."""
        return cls.load(Path(model_folder) / PREVIEW_DECODER_FOLDER, device, dtype)

    @classmethod
    def load(cls, folder: Path, device: torch.device, dtype: torch.dtype) -> TinyDecoderPreview | None:
        """An AutoencoderTiny folder (TAESD and the like), or None when `folder` holds none."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            return None
        from diffusers import AutoencoderTiny  # deferred: only models that ship one pay the import
        from diffusers.utils import logging as diffusers_logging

        # AutoencoderTiny records `block_out_channels` in its own config and then warns, on every
        # load, that its __init__ does not take it; that warning tells the person nothing.
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
        try:
            decoder = AutoencoderTiny.from_pretrained(
                folder, torch_dtype=dtype, local_files_only=True, use_safetensors=True
            )
        finally:
            diffusers_logging.set_verbosity(verbosity)
        return cls(decoder.to(device).eval())

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, 4, h, w) -> (B, 3, 8h, 8w) in [-1, 1]."""
        parameter = next(self.decoder.parameters())
        with torch.inference_mode():
            return self.decoder.decode(latents.to(parameter.device, parameter.dtype), return_dict=False)[0]

    def to_rgb(self, latents: torch.Tensor) -> np.ndarray:
        """First image of a batch -> (H, W, 3) uint8 at full size."""
        return to_uint8_image(self.decode(latents[:1])[0])
