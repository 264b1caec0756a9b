"""Steering a run part-way: the edited picture enters the latent at the current noise level, and a
new prompt or guidance holds for the remaining steps.

No library does this: diffusers lets a step callback replace the latents and the prompt embeddings
(`callback_on_step_end`), and this module computes what to put there. Where the person changed the
model's current guess of the finished picture (x0), x_t moves by the encoded change, scaled as the
forward process scales x0 at this step (`scheduler.add_noise` with zero noise gives that factor);
where nothing changed, x_t is untouched.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image

from studio.engine import images
from studio.engine.request import RequestError, Steer

# DPM-Solver++ extrapolates from its last x0 predictions; they move with the edit so that the next
# step does not pull the picture back towards the unedited guess (or overshoot past the edit).
_X0_HISTORY_ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++")


def changed_region(steer: Steer, shown: np.ndarray) -> np.ndarray:
    """Where the steer image differs from the picture the run showed (inside its mask), as 0/255."""
    if steer.image.shape != shown.shape:
        raise RequestError(
            f"the steer image is {steer.image.shape[1]}x{steer.image.shape[0]} but the run's picture is "
            f"{shown.shape[1]}x{shown.shape[0]}: steer with a picture of the output size"
        )
    changed = np.any(steer.image != shown, axis=2)
    if steer.mask is not None:
        changed &= steer.mask > 127
    return np.where(changed, 255, 0).astype(np.uint8)


def encode(pipe, picture: np.ndarray, grid: int) -> torch.Tensor:
    """The VAE's mean latent of an RGB picture (padded to the grid), scaled as the pipelines scale it."""
    vae = pipe.vae
    # As a PIL image: the processor scales those to [-1, 1] (a uint8 array it would not divide by 255).
    tensor = pipe.image_processor.preprocess(Image.fromarray(images.pad_to_multiple(picture, grid)))
    tensor = tensor.to(device=vae.device, dtype=vae.dtype)
    mean = vae.encode(tensor).latent_dist.mean
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((mean - shift) * vae.config.scaling_factor).float()


def signal_scale(scheduler, next_timestep: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """How much of x0 the latents hold now: sqrt(alpha_bar) for DDPM-type schedules, 1 for the
    sigma-scaled ones (Euler), 1 once the last step is done (the latents are x0 then)."""
    if next_timestep is None:
        return torch.ones((), dtype=like.dtype)
    ones = torch.ones_like(like[:1, :1, :1, :1])
    return scheduler.add_noise(ones, torch.zeros_like(ones), next_timestep.reshape(1)).flatten()[0]


def move_latents(
    pipe,
    latents: torch.Tensor,
    steer: Steer,
    shown: np.ndarray,
    region: np.ndarray,
    place: images.Placement,
    grid: int,
    next_timestep: torch.Tensor | None,
) -> torch.Tensor:
    """x_t moved by the encoded change between `shown` (the output-size picture the run showed)
    and the steer image, in the latent cells that `region` (changed_region's) touches."""
    if not region.any():
        return latents
    latent_height, latent_width = latents.shape[-2:]
    stage_region = images.pad_to_multiple(place.region_to_stage(region), grid, False)
    cells = images.resize_mask(stage_region, latent_width, latent_height)
    cell_mask = torch.from_numpy(cells > 0).to(latents.device, latents.dtype)[None, None]
    change = encode(pipe, place.to_stage(steer.image), grid) - encode(pipe, place.to_stage(shown), grid)
    change = change.to(latents.device, latents.dtype) * cell_mask
    scheduler = pipe.scheduler
    if getattr(scheduler.config, "algorithm_type", None) in _X0_HISTORY_ALGORITHMS:
        scheduler.model_outputs = [
            None if output is None else output + change.to(output.dtype) for output in scheduler.model_outputs
        ]
    return latents + signal_scale(scheduler, next_timestep, latents).to(latents.dtype) * change


def prompt_embeddings(pipe, prompt: str, negative_prompt: str) -> torch.Tensor:
    """What the pipelines pass the UNet: [negative, positive] under guidance, else the positive."""
    if "add_text_embeds" in pipe._callback_tensor_inputs:
        raise RequestError("changing the prompt part-way is not supported for SDXL models yet")
    guided = pipe.do_classifier_free_guidance
    positive, negative = pipe.encode_prompt(
        prompt, pipe._execution_device, 1, guided, negative_prompt or None
    )
    return torch.cat([negative, positive]) if guided else positive


def check_guidance(pipe, guidance_scale: float) -> None:
    """A run that started with guidance (scale > 1) runs its UNet on a doubled batch: it can change
    the scale but not switch guidance off or on."""
    if (guidance_scale > 1) != (pipe.guidance_scale > 1):
        started = "with" if pipe.guidance_scale > 1 else "without"
        raise RequestError(
            f"this run started {started} guidance (scale {pipe.guidance_scale:g}); a steer can change the "
            f"scale but keep it {'above' if pipe.guidance_scale > 1 else 'at or below'} 1"
        )


def what_changed(
    steer: Steer, shown: np.ndarray, prompt: str, negative_prompt: str, guidance_scale: float
) -> Steer | None:
    """The steer with what it leaves as it was taken out (the app sends the whole canvas and all
    the parameters back on resume); None when nothing is left."""
    image = steer.image
    if image is not None and image.shape == shown.shape and not changed_region(steer, shown).any():
        image = None
    changes = {
        "image": image,
        "mask": steer.mask if image is not None else None,
        "prompt": steer.prompt if steer.prompt != prompt else None,
        "negative_prompt": steer.negative_prompt if steer.negative_prompt != negative_prompt else None,
        "guidance_scale": (
            steer.guidance_scale if steer.guidance_scale not in (None, guidance_scale) else None
        ),
        "noise_seed": steer.noise_seed,
    }
    trimmed = dataclasses.replace(steer, **changes)
    return trimmed if trimmed.changes_anything else None
