"""The engine: runs one GenerationRequest through diffusers, reporting every step. Never imports Qt."""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import diffusers
import numpy as np
import torch
import transformers
from PIL import Image

from studio.engine import images
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
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    Precision,
    PreviewKind,
    PreviewMethod,
    StepEvent,
)
from studio.engine.resolution import SizePlan, plan_sizes
from studio.engine.schedulers import make_scheduler

StepCallback = Callable[[StepEvent], None]
StopCheck = Callable[[], bool]


def pick_device(preferred: str | None = None) -> torch.device:
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class _Job:
    """One pass of the pipeline over one image, as the pipeline sees it."""

    mode: Mode
    width: int
    height: int
    init_image: np.ndarray | None
    repaint_mask: np.ndarray | None
    strength: float
    refining: bool = False  # the second pass at the output size


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
        if model is None or model.info.source != source or model.weights_dtype != dtype:
            self._model = None  # free the old weights before loading new ones
            self._measured_choices.clear()
            self._loras = LoraSet()
            model = load_model(
                source, self.device, dtype, self.single_file_config, self.allow_pickled_weights
            )
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
    ) -> GenerationResult:
        """Make request.batch_count images; raises Cancelled if should_stop() turns true."""
        started = time.perf_counter()
        should_stop = should_stop or (lambda: False)
        self.load_model(request.model, request.precision, request.decode_precision)
        model = self._model
        assert model is not None
        self._loras.use(model.pipelines[Mode.TEXT_TO_IMAGE], request.loras)
        if request.tiny_decoder != model.tiny_decoder_named:
            self._use_tiny_decoder(model, request.tiny_decoder)
        info = model.info
        plan = plan_sizes(request, info.width, info.height, info.refine_by_default)
        results = []
        for image_index in range(request.batch_count):
            if should_stop():
                raise Cancelled()
            results.append(self._generate_one(model, request, plan, image_index, on_step, should_stop))
        seeds = tuple(request.seed_of(i) for i in range(request.batch_count))
        return GenerationResult(
            request,
            tuple(results),
            seeds,
            model.info.name,
            time.perf_counter() - started,
            precision=self._precision.unet.value,
            decode_precision=self._precision.decode.value,
            working_size=(plan.working_width, plan.working_height) if plan.scaled else None,
            refine_strength=plan.refine_strength,
        )

    # -- one image -----------------------------------------------------------------------------

    def _generate_one(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        plan: SizePlan,
        image_index: int,
        on_step: StepCallback | None,
        should_stop: StopCheck,
    ) -> np.ndarray:
        run = functools.partial(self._run_job, model, request, image_index, on_step, should_stop)
        width, height = plan.output_width, plan.output_height
        working_width, working_height = plan.working_width, plan.working_height
        init_image = request.init_image
        if request.mode is not Mode.INPAINT:
            # 1. Run at the working size (the init image scaled to it), then scale to the output size.
            if init_image is not None:
                init_image = images.resize(init_image, working_width, working_height)
            job = _Job(request.mode, working_width, working_height, init_image, None, request.strength)
            result = images.resize(run(job), width, height)
            # 2. Optionally redraw the upscaled picture at the output size, with a low strength.
            if plan.refine_strength:
                job = _Job(Mode.IMAGE_TO_IMAGE, width, height, result, None, plan.refine_strength, True)
                result = run(job)
            return result

        feathered = images.feather_mask(request.mask, request.mask_feather_px)
        repaint = images.repaint_region(feathered)
        if request.inpaint_only_masked:
            # Only the crop around the mask runs, at the native size, and is pasted back in place.
            info = model.info
            crop = images.crop_around_mask(repaint, request.inpaint_padding_px, info.width / info.height)
            job = _Job(
                Mode.INPAINT,
                info.width,
                info.height,
                images.resize(crop.cut(init_image), info.width, info.height),
                images.resize_mask(crop.cut(repaint), info.width, info.height),
                request.strength,
            )
            patch = images.resize(run(job), crop.width, crop.height)
            result = np.array(init_image, copy=True)
            result[crop.top : crop.bottom, crop.left : crop.right] = patch
        else:
            job = _Job(
                Mode.INPAINT,
                working_width,
                working_height,
                images.resize(init_image, working_width, working_height),
                images.resize_mask(repaint, working_width, working_height),
                request.strength,
            )
            result = images.resize(run(job), width, height)
            if plan.refine_strength:  # the redraw starts from the canvas with the upscaled patch in it
                start = images.paste_back(init_image, result, feathered)
                job = _Job(Mode.INPAINT, width, height, start, repaint, plan.refine_strength, True)
                result = run(job)
        # Whatever ran, pixels outside the feathered mask come back exactly as they were.
        return images.paste_back(init_image, result, feathered)

    def _run_job(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        image_index: int,
        on_step: StepCallback | None,
        should_stop: StopCheck,
        job: _Job,
    ) -> np.ndarray:
        """Denoise one job to latents and decode them (our decode, so a cancel can skip it)."""
        latents = self._denoise(model, request, job, image_index, on_step, should_stop)
        if should_stop():
            raise Cancelled()
        return self._decode(model, latents)[: job.height, : job.width]  # the VAE-grid padding goes

    def _denoise(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        job: _Job,
        image_index: int,
        on_step: StepCallback | None,
        should_stop: StopCheck,
    ) -> torch.Tensor:
        pipeline = model.pipelines[job.mode]
        pipeline.scheduler = make_scheduler(request.scheduler, model.scheduler_config)
        recorder = _PredictionRecorder(pipeline.scheduler)
        grid = model.vae_scale_factor
        padded_width, padded_height = images.round_up(job.width, grid), images.round_up(job.height, grid)
        arguments: dict = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": _steps_for(request.steps, job),
            "guidance_scale": request.guidance_scale,
            # Noise comes from a CPU generator: the same request gives the same pixels on this machine,
            # whatever the device.
            "generator": torch.Generator("cpu").manual_seed(request.seed_of(image_index)),
            "output_type": "latent",
        }
        if job.mode is Mode.TEXT_TO_IMAGE:
            arguments.update(height=padded_height, width=padded_width)
        else:  # the pipeline takes the size from the (padded) image
            arguments["image"] = Image.fromarray(images.pad_to_multiple(job.init_image, grid))
            arguments["strength"] = job.strength
        if job.mode is Mode.INPAINT:
            arguments["mask_image"] = Image.fromarray(images.pad_to_multiple(job.repaint_mask, grid, False))
            arguments.update(height=padded_height, width=padded_width)

        step_started = time.perf_counter()

        def on_step_end(pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
            if should_stop():
                pipe._interrupt = True  # diffusers skips the remaining steps
                return callback_kwargs
            if on_step is not None:
                on_step(
                    StepEvent(
                        image_index=image_index,
                        batch_count=request.batch_count,
                        step=step_index + 1,
                        total_steps=pipe.num_timesteps,
                        timestep=float(timestep),
                        noise_level=_noise_level_after(pipe.scheduler, timestep),
                        preview=self._preview(model, request, callback_kwargs["latents"], recorder),
                        elapsed_s=time.perf_counter() - step_started,
                        refining=job.refining,
                    )
                )
            return callback_kwargs

        try:
            with torch.inference_mode(), unet_autocast(pipeline.unet, self._precision.unet_autocast):
                output = pipeline(**arguments, callback_on_step_end=on_step_end)
        except torch.OutOfMemoryError as error:
            raise EngineError(
                f"Out of memory at {job.width}x{job.height}. Try a smaller size or turn on attention "
                "slicing and VAE tiling."
            ) from error
        return output.images

    # -- previews and decoding -------------------------------------------------------------------

    def _preview(
        self,
        model: LoadedModel,
        request: GenerationRequest,
        latents: torch.Tensor,
        recorder: _PredictionRecorder,
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


def _steps_for(steps: int, job: _Job) -> int:
    """The schedule length that gives at least one denoising step at the job's strength.

    diffusers runs int(steps * strength) of the steps from an init image, which is 0 for a low
    strength and few steps (a refine pass at 0.35 of a 2-step run): it would return no latents.
    """
    if job.mode is Mode.TEXT_TO_IMAGE:
        return steps
    while int(steps * job.strength) < 1:
        steps += 1
    return steps


class _PredictionRecorder:
    """Keeps the scheduler's latest prediction of the clean latent x0 for the x0 preview.

    diffusers' pipelines hand only x_t to step callbacks, so we wrap this run's own scheduler
    instance (a fresh one per request) and read x0 from its step output: DDIM, DDPM, Euler and
    LCM return it; DPM-Solver++ keeps it as its latest converted model output.
    """

    def __init__(self, scheduler) -> None:
        self.predicted_clean: torch.Tensor | None = None
        original_step = scheduler.step

        def recording_step(*args, **kwargs):
            output = original_step(*args, **kwargs)
            values = output if isinstance(output, tuple) else tuple(output.values())
            if len(values) > 1 and isinstance(values[1], torch.Tensor):
                self.predicted_clean = values[1]
            elif getattr(scheduler, "model_outputs", None) and scheduler.model_outputs[-1] is not None:
                self.predicted_clean = scheduler.model_outputs[-1]
            return output

        scheduler.step = recording_step


def _noise_level_after(scheduler, timestep) -> float:
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
