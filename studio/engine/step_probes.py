"""What the engine reads off each denoising step for the person watching: the scheduler's x0
prediction and the size of the UNet's output (by wrapping the run's own scheduler), the noise level
left, and the schedule a pass walks. Torch only; no Qt.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from studio.engine.request import Schedule


class PredictionRecorder:
    """Keeps the scheduler's latest prediction of the clean latent x0 for the x0 preview.

    diffusers' pipelines hand only x_t to step callbacks, so we wrap this run's own scheduler
    instance (a fresh one per request) and read x0 from its step output: DDIM, DDPM, Euler and
    LCM return it; DPM-Solver++ keeps it as its latest converted model output.
    """

    def __init__(self, scheduler) -> None:
        self.predicted_clean: torch.Tensor | None = None
        self.model_output_std = 0.0  # the size of the (guided) UNet prediction of the latest step
        original_step = scheduler.step

        # functools.wraps keeps step's signature visible: the pipelines pass `generator` (the seeded
        # noise of DDPM and Euler a) only to a step whose signature names it.
        @functools.wraps(original_step)
        def recording_step(*args, **kwargs):
            model_output = kwargs.get("model_output", args[0] if args else None)
            if isinstance(model_output, torch.Tensor):
                self.model_output_std = float(model_output.float().std())
            output = original_step(*args, **kwargs)
            values = output if isinstance(output, tuple) else tuple(output.values())
            if len(values) > 1 and isinstance(values[1], torch.Tensor):
                self.predicted_clean = values[1]
            elif getattr(scheduler, "model_outputs", None) and scheduler.model_outputs[-1] is not None:
                self.predicted_clean = scheduler.model_outputs[-1]
            return output

        scheduler.step = recording_step


def schedule_of(pipe) -> Schedule | None:
    """The timesteps this pass runs (the last num_timesteps of the scheduler's: a strength cut drops
    the first ones) with their alpha-bar, sigma and SNR from the scheduler's own alphas_cumprod."""
    alphas_cumprod = getattr(pipe.scheduler, "alphas_cumprod", None)
    if alphas_cumprod is None:
        return None
    timesteps = pipe.scheduler.timesteps[-pipe.num_timesteps :].cpu()
    alpha_bar = alphas_cumprod.cpu()[timesteps.long()].double().numpy()
    return Schedule(
        timesteps=timesteps.double().numpy(),
        alpha_bar=alpha_bar,
        sigma=np.sqrt((1.0 - alpha_bar) / alpha_bar),
        snr=alpha_bar / (1.0 - alpha_bar),
    )


def noise_level_after(scheduler, timestep) -> float:
    """sigma = sqrt((1 - alpha_bar) / alpha_bar) at the next timestep: how much noise is left.

    Found from the step's own timestep, not the callback's step count: image-to-image and
    inpainting start part-way down the schedule (the strength cut) and count their steps from there,
    and not every scheduler records where the cut is (DDIM has no begin index).
    """
    timesteps = scheduler.timesteps
    matches = (timesteps == timestep).nonzero()
    following = int(matches[-1]) + 1 if len(matches) else len(timesteps)
    if following >= len(timesteps):
        return 0.0
    alpha_bar = float(scheduler.alphas_cumprod[int(timesteps[following])])
    return float(np.sqrt((1.0 - alpha_bar) / alpha_bar))
