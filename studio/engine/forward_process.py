"""The forward process on the person's own picture: q(x_t | x_0) at stops over t, for the explorer.

The canvas is encoded once (x_0, the VAE's mean latent), one seeded noise tensor is drawn, and the
model's training scheduler mixes the two at each stop with its own `add_noise`:
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise. The training scheduler, not the sampler
the person picked, because this is the process the model learnt to undo; the sigma-scaled samplers
(Euler) only rescale it. The noise is drawn as a text-to-image run of the same seed draws its first
latent, so the explorer shows the very noise that run starts from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from diffusers import DDPMScheduler

from studio.engine.request import ForwardFrame

FORWARD_STOPS = 20  # noised stops after x_0, evenly over the training timesteps, the last at T - 1


def stop_timesteps(train_timesteps: int, stops: int = FORWARD_STOPS) -> list[int]:
    """Timesteps t_k = k T / stops - 1 for k = 1..stops: from lightly noised to the last, pure noise."""
    return [round(k * train_timesteps / stops) - 1 for k in range(1, stops + 1)]


def forward_frames(
    clean: torch.Tensor,
    seed: int,
    scheduler_config: dict,
    decode: Callable[[torch.Tensor], np.ndarray],
    noise_to_rgb: Callable[[torch.Tensor], np.ndarray],
) -> Iterator[ForwardFrame]:
    """x_0 itself, then x_t at each stop: `clean` is the encoded picture (1 x C x h x w, scaled as
    the pipelines scale latents), `decode` turns a latent into the picture, `noise_to_rgb` shows the
    noise's channels as colour."""
    scheduler = DDPMScheduler.from_config(scheduler_config)
    # As the pipelines draw a first latent: randn of its shape from a CPU generator of the seed.
    noise = torch.randn(clean.shape, generator=torch.Generator("cpu").manual_seed(int(seed)))
    noise = noise.to(device=clean.device, dtype=clean.dtype)
    noise_picture = noise_to_rgb(noise)
    timesteps = stop_timesteps(scheduler.config.num_train_timesteps)
    count = len(timesteps) + 1

    def frame(index: int, timestep: int | None, alpha_bar: float, latent: torch.Tensor) -> ForwardFrame:
        return ForwardFrame(
            index, count, timestep, alpha_bar, decode(latent), noise_picture,
            float(latent.float().mean()), float(latent.float().std()),
        )

    yield frame(0, None, 1.0, clean)
    for index, timestep in enumerate(timesteps, start=1):
        at = torch.tensor([timestep], dtype=torch.long)
        noisy = scheduler.add_noise(clean, noise, at)
        yield frame(index, timestep, float(scheduler.alphas_cumprod[timestep]), noisy)
