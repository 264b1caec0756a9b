"""One denoising pass through a diffusers pipeline: its arguments, the per-step events, and the steers
(planned ones and those made while paused) applied between steps."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from studio.engine import decoding, images, steering
from studio.engine.control import RunControl
from studio.engine.loading import LoadedModel
from studio.engine.precision import PrecisionChoice, unet_autocast
from studio.engine.request import GenerationRequest, Mode, PausedEvent, RepaintArea, Steer, StepEvent
from studio.engine.schedulers import make_scheduler
from studio.engine.step_probes import PredictionRecorder, noise_level_after, schedule_of

StepCallback = Callable[[StepEvent], None]
StopCheck = Callable[[], bool]
PauseCallback = Callable[[PausedEvent], None]


@dataclass(frozen=True)
class Stage:
    """One pipeline run over one image (the first pass, or the refine pass), as the pipeline sees it."""

    mode: Mode
    place: images.Placement  # the stage's size and where its picture goes in the output
    init_image: np.ndarray | None
    repaint_mask: np.ndarray | None
    strength: float
    refining: bool = False  # the second pass at the output size

    @property
    def width(self) -> int:
        return self.place.width

    @property
    def height(self) -> int:
        return self.place.height


@dataclass
class ImageRun:
    """One image of a request being made, and who hears about it."""

    model: LoadedModel
    request: GenerationRequest
    image_index: int
    precision: PrecisionChoice  # what the UNet and the decode run in (fp32 after a NaN retry)
    on_step: StepCallback | None
    should_stop: StopCheck
    control: RunControl | None
    on_pause: PauseCallback | None
    applied: list[Steer]  # steers made while paused, shared by the batch
    notes: list[str]  # faults survived (a retry in fp32, out of memory), shared by the batch
    repaint_area: RepaintArea | None  # an inpaint's, told on the first step of each pass
    # What the rest of the run uses: the request's until a steer changes them.
    prompt: str = ""
    negative_prompt: str = ""
    guidance_scale: float = 0.0
    noise: torch.Generator | None = None  # the pass's seeded noise

    def __post_init__(self) -> None:
        self.prompt, self.negative_prompt = self.request.prompt, self.request.negative_prompt
        self.guidance_scale = float(self.request.guidance_scale)

    def conditioning(self) -> tuple[str, str, float]:
        """What a steer may have changed, to start a pass over from where it began."""
        return self.prompt, self.negative_prompt, self.guidance_scale

    def restore(self, conditioning: tuple[str, str, float]) -> None:
        self.prompt, self.negative_prompt, self.guidance_scale = conditioning


def denoise(run: ImageRun, stage: Stage) -> torch.Tensor:
    """The stage's final latents; torch.OutOfMemoryError goes to the caller, which may retry."""
    model, request = run.model, run.request
    # Noise comes from a CPU generator: the same request gives the same pixels on this machine,
    # whatever the device. A branch's steer reseeds it for the steps still to come.
    run.noise = torch.Generator("cpu").manual_seed(request.seed_of(run.image_index))
    pipeline = model.pipelines[stage.mode]
    pipeline.scheduler = make_scheduler(request.scheduler, model.scheduler_config)
    recorder = PredictionRecorder(pipeline.scheduler)
    step_started = time.perf_counter()

    def on_step_end(pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
        if run.should_stop():
            pipe._interrupt = True  # diffusers skips the remaining steps
            return callback_kwargs
        if run.on_step is not None:
            latents = callback_kwargs["latents"]
            run.on_step(
                StepEvent(
                    image_index=run.image_index,
                    batch_count=request.batch_count,
                    step=step_index + 1,
                    total_steps=pipe.num_timesteps,
                    timestep=float(timestep),
                    noise_level=noise_level_after(pipe.scheduler, timestep),
                    preview=decoding.preview(model, request, latents, recorder, run.precision),
                    elapsed_s=time.perf_counter() - step_started,
                    refining=stage.refining,
                    latent_std=float(latents.float().std()),
                    predicted_noise_std=recorder.model_output_std,
                    schedule=schedule_of(pipe) if step_index == 0 else None,
                    repaint_area=run.repaint_area if step_index == 0 else None,
                )
            )
        if not stage.refining:  # steers belong to the first pass, whose steps the person watched
            _steer(run, stage, pipe, step_index, callback_kwargs, recorder)
        return callback_kwargs

    with torch.inference_mode(), unet_autocast(pipeline.unet, run.precision.unet_autocast):
        output = pipeline(**_pipeline_arguments(run, stage), callback_on_step_end=on_step_end)
    return output.images


def _pipeline_arguments(run: ImageRun, stage: Stage) -> dict:
    grid = run.model.vae_scale_factor
    padded_width, padded_height = images.round_up(stage.width, grid), images.round_up(stage.height, grid)
    arguments: dict = {
        "prompt": run.prompt,
        "negative_prompt": run.negative_prompt or None,
        "num_inference_steps": steps_for(run.request.steps, stage),
        "guidance_scale": run.guidance_scale,
        "generator": run.noise,
        "output_type": "latent",
        "callback_on_step_end_tensor_inputs": ["latents", "prompt_embeds"],  # what a steer may change
    }
    if stage.mode is Mode.TEXT_TO_IMAGE:
        arguments.update(height=padded_height, width=padded_width)
    else:  # the pipeline takes the size from the (padded) image
        arguments["image"] = Image.fromarray(images.pad_to_multiple(stage.init_image, grid))
        arguments["strength"] = stage.strength
    if stage.mode is Mode.INPAINT:
        arguments["mask_image"] = Image.fromarray(images.pad_to_multiple(stage.repaint_mask, grid, False))
        arguments.update(height=padded_height, width=padded_width)
    return arguments


def steps_for(steps: int, stage: Stage) -> int:
    """The schedule length that gives at least one denoising step at the stage's strength.

    diffusers runs int(steps * strength) of the steps from an init image, which is 0 for a low
    strength and few steps (a refine pass at 0.35 of a 2-step run): it would return no latents.
    """
    if stage.mode is Mode.TEXT_TO_IMAGE:
        return steps
    while int(steps * stage.strength) < 1:
        steps += 1
    return steps


# -- steering: planned steers and pauses -----------------------------------------------------------


def _steer(run: ImageRun, stage: Stage, pipe, step_index: int, callback_kwargs: dict, recorder) -> None:
    """Applies the request's steers for this step, then pauses if the control asks to."""
    step = step_index + 1
    planned = [
        steer for steer in (*run.request.steers, *run.applied)
        if steer.at_step == step and steer.image_index in (None, run.image_index)
    ]
    pausing = run.control is not None and run.control.pause_requested()
    if not planned and not pausing:
        return
    predicted = recorder.predicted_clean
    predicted = callback_kwargs["latents"] if predicted is None else predicted
    guess = decoding.decode(run.model, predicted[:1], run.precision)[: stage.height, : stage.width]
    shown = stage.place.to_output(guess)  # the model's guess of the finished picture, as it will land
    for steer in planned:
        shown = _apply_steer(run, stage, pipe, step_index, callback_kwargs, steer, shown)
    if not pausing:
        return
    if run.on_pause is not None:
        run.on_pause(PausedEvent(run.image_index, step, pipe.num_timesteps, shown))
    steer = run.control.wait_for_resume()
    if run.control.is_cancelled():
        pipe._interrupt = True
        return
    if steer is not None:  # the app sends everything back: keep what differs
        steer = steering.what_changed(steer, shown, run.prompt, run.negative_prompt, run.guidance_scale)
    if steer is not None:  # recorded only when it changes something: a plain resume repeats as none
        steer = dataclasses.replace(steer, at_step=step, image_index=run.image_index)
        _apply_steer(run, stage, pipe, step_index, callback_kwargs, steer, shown)
        run.applied.append(steer)


def _apply_steer(
    run: ImageRun, stage: Stage, pipe, step_index: int, callback_kwargs: dict, steer: Steer, shown: np.ndarray
) -> np.ndarray:
    """Changes the latents and the conditioning; returns the picture the steer leaves."""
    if steer.noise_seed is not None:
        run.noise.manual_seed(int(steer.noise_seed))
    if steer.guidance_scale is not None:
        steering.check_guidance(pipe, float(steer.guidance_scale))
        pipe._guidance_scale = run.guidance_scale = float(steer.guidance_scale)
    if steer.prompt is not None or steer.negative_prompt is not None:
        if steer.prompt is not None:
            run.prompt = steer.prompt
        if steer.negative_prompt is not None:
            run.negative_prompt = steer.negative_prompt
        callback_kwargs["prompt_embeds"] = steering.prompt_embeddings(pipe, run.prompt, run.negative_prompt)
    if steer.image is None:
        return shown
    timesteps = pipe.scheduler.timesteps
    following = step_index + 1
    next_timestep = timesteps[following] if following < len(timesteps) else None
    region = steering.changed_region(steer, shown)
    callback_kwargs["latents"] = steering.move_latents(
        pipe, callback_kwargs["latents"], steer, shown, region, stage.place, run.model.vae_scale_factor,
        next_timestep,
    )
    return np.where(region[..., None] > 0, steer.image, shown)
