"""The engine: runs one GenerationRequest through diffusers, reporting every step. Never imports Qt."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
import transformers
from PIL import Image

from studio.engine import images, steering
from studio.engine.control import RunControl
from studio.engine.forward_process import forward_frames
from studio.engine.loading import LoadedModel, find_tiny_preview, load_model
from studio.engine.loras import LoraSet
from studio.engine.precision import (
    PrecisionChoice,
    apply_memory_format,
    decode_autocast,
    remembered_choice,
    unet_autocast,
    weights_dtype,
)
from studio.engine.previews import to_uint8_image
from studio.engine.request import (
    Cancelled,
    EngineError,
    ForwardFrame,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    PausedEvent,
    Precision,
    PreviewKind,
    PreviewMethod,
    RequestError,
    Steer,
    StepEvent,
)
from studio.engine.resolution import SizePlan, plan_sizes
from studio.engine.schedulers import make_scheduler
from studio.engine.step_probes import PredictionRecorder, noise_level_after, schedule_of

StepCallback = Callable[[StepEvent], None]
StopCheck = Callable[[], bool]
PauseCallback = Callable[[PausedEvent], None]
FrameCallback = Callable[[ForwardFrame], None]


def pick_device(preferred: str | None = None) -> torch.device:
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class _Stage:
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
class _Run:
    """One image of a request being made, and who hears about it."""

    model: LoadedModel
    request: GenerationRequest
    image_index: int
    on_step: StepCallback | None
    should_stop: StopCheck
    control: RunControl | None
    on_pause: PauseCallback | None
    applied: list[Steer]  # steers made while paused, shared by the batch
    # What the rest of the run uses: the request's until a steer changes them.
    prompt: str = ""
    negative_prompt: str = ""
    guidance_scale: float = 0.0
    noise: torch.Generator | None = None  # the pass's seeded noise

    def __post_init__(self) -> None:
        self.prompt, self.negative_prompt = self.request.prompt, self.request.negative_prompt
        self.guidance_scale = float(self.request.guidance_scale)


class Engine:
    """Owns the loaded model; `generate` runs requests one at a time on the calling thread."""

    def __init__(
        self,
        device: str | None = None,
        attention_slicing: bool = False,
        vae_tiling: bool = False,
        single_file_config: str | None = None,
        allow_pickled_weights: bool = False,
    ) -> None:
        self.device = pick_device(device)
        self.attention_slicing = attention_slicing
        self.vae_tiling = vae_tiling
        self.single_file_config = single_file_config
        self.allow_pickled_weights = allow_pickled_weights
        self._model: LoadedModel | None = None
        self._loaded_config: str | None = None  # the single_file_config the model was loaded with
        self._precision_asked: tuple[Precision, Precision] | None = None  # (UNet, VAE decode)
        self._precision = PrecisionChoice(Precision.FP32, Precision.FP32, "no model loaded")
        # Choices measured for the loaded model, by what was asked: switching back costs no new trial.
        self._measured_choices: dict[tuple[Precision, Precision], PrecisionChoice] = {}
        self._loras = LoraSet()
        # The app and the CLI show their own progress; the libraries' loading bars are noise there.
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()

    @property
    def model_info(self) -> ModelInfo | None:
        return self._model.info if self._model else None

    def load_model(
        self,
        source: str,
        precision: Precision | str = Precision.AUTO,
        decode_precision: Precision | str = Precision.AUTO,
    ) -> ModelInfo:
        """Loads `source` unless it is loaded, and resolves the precisions (measuring where "auto")."""
        precision = Precision(precision)
        asked = (precision, Precision(decode_precision))
        dtype = weights_dtype(precision, self.device)
        model = self._model
        # A checkpoint file takes its config from single_file_config: another config is another model.
        config_changed = self._loaded_config != self.single_file_config and Path(source).is_file()
        if model is None or model.info.source != source or model.weights_dtype != dtype or config_changed:
            self._model = None  # free the old weights before loading new ones
            self._measured_choices.clear()
            self._loras = LoraSet()
            model = load_model(
                source, self.device, dtype, self.single_file_config, self.allow_pickled_weights
            )
            self._loaded_config = self.single_file_config
            if self.attention_slicing:
                model.pipelines[Mode.TEXT_TO_IMAGE].enable_attention_slicing()
            if self.vae_tiling:
                model.pipelines[Mode.TEXT_TO_IMAGE].vae.enable_tiling()
            self._model = model
            self._precision_asked = None
        if asked != self._precision_asked:
            self._use_precision(model, asked)
        return model.info

    def _use_tiny_decoder(self, model: LoadedModel, folder: str) -> None:
        pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
        model.tiny_preview = find_tiny_preview(
            model.info.source, pipeline.vae.config, self.device, pipeline.vae.dtype, folder
        )
        model.tiny_decoder_named = folder
        apply_memory_format(pipeline, self._precision, model.tiny_preview)

    def _use_precision(self, model: LoadedModel, asked: tuple[Precision, Precision]) -> None:
        pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
        if asked not in self._measured_choices:
            self._measured_choices[asked] = remembered_choice(
                model.info.source, *asked, self.device, pipeline
            )
        choice = self._measured_choices[asked]
        apply_memory_format(pipeline, choice, model.tiny_preview)
        self._precision, self._precision_asked = choice, asked
        model.info = dataclasses.replace(
            model.info,
            precision=choice.unet.value,
            decode_precision=choice.decode.value,
            precision_reason=choice.describe,
        )

    def generate(
        self,
        request: GenerationRequest,
        on_step: StepCallback | None = None,
        should_stop: StopCheck | None = None,
        control: RunControl | None = None,
        on_pause: PauseCallback | None = None,
    ) -> GenerationResult:
        """Make request.batch_count images; raises Cancelled if should_stop() turns true (or the
        control is cancelled). With `control`, a pause stops after the current step, reports the
        picture to `on_pause` and waits for the control's resume; the steer it brings is applied and
        recorded in the result's request, so the result's file repeats the steered run."""
        started = time.perf_counter()
        if should_stop is None:
            should_stop = control.is_cancelled if control is not None else (lambda: False)
        self.load_model(request.model, request.precision, request.decode_precision)
        model = self._model
        assert model is not None
        self._loras.use(model.pipelines[Mode.TEXT_TO_IMAGE], request.loras)
        if request.tiny_decoder != model.tiny_decoder_named:
            self._use_tiny_decoder(model, request.tiny_decoder)
        info = model.info
        plan = plan_sizes(request, info.width, info.height, info.refine_by_default)
        applied: list[Steer] = []  # the steers made while paused, for the result's request
        results = []
        for image_index in range(request.batch_count):
            if should_stop():
                raise Cancelled()
            run = _Run(model, request, image_index, on_step, should_stop, control, on_pause, applied)
            results.append(self._generate_one(run, plan))
        seeds = tuple(request.seed_of(i) for i in range(request.batch_count))
        return GenerationResult(
            request.replace(steers=request.steers + tuple(applied)) if applied else request,
            tuple(results),
            seeds,
            model.info.name,
            time.perf_counter() - started,
            precision=self._precision.unet.value,
            decode_precision=self._precision.decode.value,
            working_size=(plan.working_width, plan.working_height) if plan.scaled else None,
            refine_strength=plan.refine_strength,
        )

    def explore_forward(
        self, request: GenerationRequest, on_frame: FrameCallback, should_stop: StopCheck | None = None
    ) -> None:
        """The forward-process explorer: request.init_image noised with the noise of request.seed at
        stops over t (see engine.forward_process), each stop sent to `on_frame` as it is made."""
        if request.init_image is None:
            raise RequestError("the forward process needs a picture: paint on the canvas first")
        self.load_model(request.model, request.precision, request.decode_precision)
        model = self._model
        assert model is not None
        # At the size a run of it works at (the model's own pixel count, unless exact): what the model sees.
        plan = plan_sizes(request, model.info.width, model.info.height, model.info.refine_by_default)
        width, height = plan.working_width, plan.working_height
        picture = images.resize(request.init_image, width, height)

        def decode(latent: torch.Tensor) -> np.ndarray:
            return self._decode(model, latent)[:height, :width]  # the VAE-grid padding goes

        noise_to_rgb = model.linear_preview.to_rgb if model.linear_preview is not None else decode
        with torch.inference_mode():
            pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
            clean = steering.encode(pipeline, picture, model.vae_scale_factor)
            for frame in forward_frames(clean, request.seed, model.scheduler_config, decode, noise_to_rgb):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                on_frame(frame)

    # -- one image -----------------------------------------------------------------------------

    def _generate_one(self, run: _Run, plan: SizePlan) -> np.ndarray:
        request, info = run.request, run.model.info
        width, height = plan.output_width, plan.output_height
        canvas = feathered = repaint = crop = None
        stage_width, stage_height = plan.working_width, plan.working_height
        if request.mode is Mode.INPAINT:
            canvas = request.init_image
            feathered = images.feather_mask(request.mask, request.mask_feather_px)
            repaint = images.repaint_region(feathered)
            if request.inpaint_only_masked:  # the crop around the mask runs at the native size
                crop = images.crop_around_mask(repaint, request.inpaint_padding_px, info.width / info.height)
                stage_width, stage_height = info.width, info.height
        # 1. The first pass at the working size, its picture placed in the output.
        place = images.Placement(stage_width, stage_height, width, height, crop, canvas, feathered)
        first = _Stage(
            request.mode,
            place,
            place.to_stage(request.init_image) if request.init_image is not None else None,
            place.region_to_stage(repaint) if repaint is not None else None,
            request.strength,
        )
        result = place.to_output(self._run_stage(run, first))
        # 2. Optionally a low-strength redraw of the upscaled picture at the output size.
        if plan.refine_strength:
            place = images.Placement(width, height, width, height, None, canvas, feathered)
            mode = Mode.INPAINT if repaint is not None else Mode.IMAGE_TO_IMAGE
            refine = _Stage(mode, place, result, repaint, plan.refine_strength, refining=True)
            result = place.to_output(self._run_stage(run, refine))
        return result

    def _run_stage(self, run: _Run, stage: _Stage) -> np.ndarray:
        """Denoise one stage to latents and decode them (our decode, so a cancel can skip it)."""
        latents = self._denoise(run, stage)
        if run.should_stop():
            raise Cancelled()
        return self._decode(run.model, latents)[: stage.height, : stage.width]  # the VAE-grid padding goes

    def _denoise(self, run: _Run, stage: _Stage) -> torch.Tensor:
        model, request = run.model, run.request
        # Noise comes from a CPU generator: the same request gives the same pixels on this machine,
        # whatever the device. A branch's steer reseeds it for the steps still to come.
        run.noise = torch.Generator("cpu").manual_seed(request.seed_of(run.image_index))
        pipeline = model.pipelines[stage.mode]
        pipeline.scheduler = make_scheduler(request.scheduler, model.scheduler_config)
        recorder = PredictionRecorder(pipeline.scheduler)
        grid = model.vae_scale_factor
        padded_width, padded_height = images.round_up(stage.width, grid), images.round_up(stage.height, grid)
        arguments: dict = {
            "prompt": run.prompt,
            "negative_prompt": run.negative_prompt or None,
            "num_inference_steps": _steps_for(request.steps, stage),
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

        step_started = time.perf_counter()

        def on_step_end(pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
            if run.should_stop():
                pipe._interrupt = True  # diffusers skips the remaining steps
                return callback_kwargs
            if run.on_step is not None:
                run.on_step(
                    StepEvent(
                        image_index=run.image_index,
                        batch_count=request.batch_count,
                        step=step_index + 1,
                        total_steps=pipe.num_timesteps,
                        timestep=float(timestep),
                        noise_level=noise_level_after(pipe.scheduler, timestep),
                        preview=self._preview(model, request, callback_kwargs["latents"], recorder),
                        elapsed_s=time.perf_counter() - step_started,
                        refining=stage.refining,
                        latent_std=float(callback_kwargs["latents"].float().std()),
                        predicted_noise_std=recorder.model_output_std,
                        schedule=schedule_of(pipe) if step_index == 0 else None,
                    )
                )
            if not stage.refining:  # steers belong to the first pass, whose steps the person watched
                self._steer(run, stage, pipe, step_index, callback_kwargs, recorder)
            return callback_kwargs

        try:
            with torch.inference_mode(), unet_autocast(pipeline.unet, self._precision.unet_autocast):
                output = pipeline(**arguments, callback_on_step_end=on_step_end)
        except torch.OutOfMemoryError as error:
            raise EngineError(
                f"Out of memory at {stage.width}x{stage.height}. Try a smaller size or turn on attention "
                "slicing and VAE tiling."
            ) from error
        return output.images

    # -- steering: planned steers and pauses -------------------------------------------------------

    def _steer(
        self, run: _Run, stage: _Stage, pipe, step_index: int, callback_kwargs: dict, recorder
    ) -> None:
        """Applies the request's steers for this step, then pauses if the control asks to."""
        step = step_index + 1
        planned = [
            steer for steer in run.request.steers
            if steer.at_step == step and steer.image_index in (None, run.image_index)
        ]
        pausing = run.control is not None and run.control.pause_requested()
        if not planned and not pausing:
            return
        predicted = recorder.predicted_clean
        predicted = callback_kwargs["latents"] if predicted is None else predicted
        guess = self._decode(run.model, predicted[:1])[: stage.height, : stage.width]
        shown = stage.place.to_output(guess)  # the model's guess of the finished picture, as it will land
        for steer in planned:
            shown = self._apply_steer(run, stage, pipe, step_index, callback_kwargs, steer, shown)
        if not pausing:
            return
        if run.on_pause is not None:
            run.on_pause(PausedEvent(run.image_index, step, pipe.num_timesteps, shown))
        steer = run.control.wait_for_resume()
        if run.control.is_cancelled():
            pipe._interrupt = True
            return
        if steer is not None:  # the app sends everything back: keep what differs
            steer = steering.what_changed(
                steer, shown, run.prompt, run.negative_prompt, run.guidance_scale
            )
        if steer is not None:  # recorded only when it changes something: a plain resume repeats as none
            steer = dataclasses.replace(steer, at_step=step, image_index=run.image_index)
            self._apply_steer(run, stage, pipe, step_index, callback_kwargs, steer, shown)
            run.applied.append(steer)

    def _apply_steer(
        self, run: _Run, stage: _Stage, pipe, step_index: int, callback_kwargs: dict, steer: Steer,
        shown: np.ndarray,
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
            embeddings = steering.prompt_embeddings(pipe, run.prompt, run.negative_prompt)
            callback_kwargs["prompt_embeds"] = embeddings
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

    # -- previews and decoding -------------------------------------------------------------------

    def _preview(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        latents: torch.Tensor,
        recorder: PredictionRecorder,
    ) -> np.ndarray | None:
        if request.preview_kind is PreviewKind.OFF:
            return None
        source = latents
        if request.preview_kind is PreviewKind.PREDICTED_CLEAN and recorder.predicted_clean is not None:
            source = recorder.predicted_clean
        method = request.preview_method
        if method is PreviewMethod.TINY and model.tiny_preview is None:
            # Shown once per run by the default warning filter, not once per step.
            warnings.warn(
                f"{model.info.name} ships no tiny preview decoder; previews are linear", stacklevel=2
            )
        if method in (PreviewMethod.AUTO, PreviewMethod.TINY) and model.tiny_preview is not None:
            # The tiny decoder is a small VAE decoder: it gains from bf16 just as the VAE decode does.
            with decode_autocast(self._precision.vae_autocast):
                return model.tiny_preview.to_rgb(source)
        if method is not PreviewMethod.VAE and model.linear_preview is not None:
            return model.linear_preview.to_rgb(source)
        return self._decode(model, source[:1])

    def _decode(self, model: LoadedModel, latents: torch.Tensor) -> np.ndarray:
        vae = model.pipelines[Mode.TEXT_TO_IMAGE].vae
        scaled = latents / vae.config.scaling_factor
        if getattr(vae.config, "shift_factor", None):
            scaled = scaled + vae.config.shift_factor
        with torch.inference_mode():
            with decode_autocast(self._precision.vae_autocast):
                decoded = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]
            reduced = vae.dtype != torch.float32 or self._precision.vae_autocast is not None
            if reduced and not torch.isfinite(decoded).all():
                # Half-precision VAEs overflow on some latents; decoding in fp32 fixes it at some memory
                # cost. The VAE goes back to its dtype after, since the pipelines encode init images with it.
                half_dtype = vae.dtype
                # The default layout too: exactly the pixels a plain fp32 decode gives.
                vae.to(torch.float32, memory_format=torch.contiguous_format)
                try:
                    decoded = vae.decode(scaled.float(), return_dict=False)[0]
                finally:
                    vae.to(half_dtype)
                    pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
                    apply_memory_format(pipeline, self._precision, model.tiny_preview)
        if not torch.isfinite(decoded).all():
            raise EngineError("The model produced NaN pixels; try another scheduler, fewer steps or fp32.")
        return to_uint8_image(decoded[0])


def _steps_for(steps: int, stage: _Stage) -> int:
    """The schedule length that gives at least one denoising step at the stage's strength.

    diffusers runs int(steps * strength) of the steps from an init image, which is 0 for a low
    strength and few steps (a refine pass at 0.35 of a 2-step run): it would return no latents.
    """
    if stage.mode is Mode.TEXT_TO_IMAGE:
        return steps
    while int(steps * stage.strength) < 1:
        steps += 1
    return steps
