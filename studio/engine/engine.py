"""The engine: runs one GenerationRequest through diffusers, reporting every step. Never imports Qt."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import diffusers
import numpy as np
import torch
import transformers

from studio.engine import decoding, denoising, images, steering
from studio.engine.control import RunControl
from studio.engine.denoising import ImageRun, PauseCallback, Stage, StepCallback, StopCheck
from studio.engine.forward_process import forward_frames
from studio.engine.loading import LoadedModel, find_tiny_preview, load_model
from studio.engine.loras import LoraSet
from studio.engine.precision import PrecisionChoice, apply_memory_format, remembered_choice, weights_dtype
from studio.engine.request import (
    Cancelled,
    EngineError,
    ForwardFrame,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    Precision,
    RequestError,
    Steer,
)
from studio.engine.resolution import SizePlan, plan_sizes

T = TypeVar("T")
FrameCallback = Callable[[ForwardFrame], None]


def pick_device(preferred: str | None = None) -> torch.device:
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
            _use_low_memory_options(model, self.attention_slicing, self.vae_tiling)
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
        notes: list[str] = []  # the faults survived on the way, for the person
        mask = None
        if request.mode is Mode.INPAINT:  # worked out once for the batch, and told to the UI
            mask = images.inpaint_mask(request.mask, request.mask_feather_px, request.inpaint_only_masked,
                                       request.inpaint_padding_px, info.width / info.height)
        results = []
        for image_index in range(request.batch_count):
            if should_stop():
                raise Cancelled()
            run = ImageRun(
                model, request, image_index, self._precision, on_step, should_stop, control, on_pause,
                applied, notes, mask.area if mask is not None else None,
            )
            results.append(self._generate_one(run, plan, mask))
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
            notes=tuple(notes),
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
            return decoding.decode(model, latent, self._precision)[:height, :width]  # no VAE-grid padding

        noise_to_rgb = model.linear_preview.to_rgb if model.linear_preview is not None else decode
        with torch.inference_mode():
            pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
            clean = steering.encode(pipeline, picture, model.vae_scale_factor)
            for frame in forward_frames(clean, request.seed, model.scheduler_config, decode, noise_to_rgb):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                on_frame(frame)

    # -- one image -----------------------------------------------------------------------------

    def _generate_one(self, run: ImageRun, plan: SizePlan, mask: images.InpaintMask | None) -> np.ndarray:
        request, info = run.request, run.model.info
        width, height = plan.output_width, plan.output_height
        canvas = feathered = repaint = crop = None
        stage_width, stage_height = plan.working_width, plan.working_height
        if mask is not None:
            canvas, feathered, repaint, crop = request.init_image, mask.feathered, mask.repaint, mask.crop
            if crop is not None:  # the crop around the mask runs at the native size
                stage_width, stage_height = info.width, info.height
        # 1. The first pass at the working size, its picture placed in the output.
        place = images.Placement(stage_width, stage_height, width, height, crop, canvas, feathered)
        first = Stage(
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
            refine = Stage(mode, place, result, repaint, plan.refine_strength, refining=True)
            result = place.to_output(self._run_stage(run, refine))
        return result


    # -- one pass, and the faults it survives ---------------------------------------------------------

    def _run_stage(self, run: ImageRun, stage: Stage) -> np.ndarray:
        """Denoise one stage and decode it (our decode, so that a cancel skips it). Two faults that the
        person cannot fix mid-run are survived: out of memory (once more with the low-memory options
        on) and NaN latents from a reduced-precision UNet (once more in fp32)."""
        conditioning = run.conditioning()  # a pass that starts over starts from here

        def attempt() -> torch.Tensor:
            run.restore(conditioning)
            return denoising.denoise(run, stage)

        latents = self._retrying_out_of_memory(run, stage, attempt)
        if run.should_stop():
            raise Cancelled()
        if not torch.isfinite(latents).all() and run.precision.unet is not Precision.FP32:
            run.notes.append(
                f"The UNet gave NaN in {run.precision.unet.value} on image {run.image_index + 1}; "
                "that image was made again in fp32."
            )
            run.precision = dataclasses.replace(run.precision, unet=Precision.FP32)
            with _fp32_unet(run.model.pipelines[Mode.TEXT_TO_IMAGE], self._precision):
                latents = self._retrying_out_of_memory(run, stage, attempt)
            if run.should_stop():
                raise Cancelled()
        picture = self._retrying_out_of_memory(
            run, stage, lambda: decoding.decode(run.model, latents, run.precision)
        )
        return picture[: stage.height, : stage.width]  # the VAE-grid padding goes

    def _retrying_out_of_memory(self, run: ImageRun, stage: Stage, attempt: Callable[[], T]) -> T:
        try:
            return attempt()
        except torch.OutOfMemoryError:
            if self.attention_slicing and self.vae_tiling:
                raise self._out_of_memory(stage) from None  # nothing left to switch on
        self._switch_to_low_memory(run.model)
        run.notes.append(
            f"Ran out of memory at {stage.width}x{stage.height}: attention slicing and tiled VAE decode "
            "are on from now on, and the pass ran again."
        )
        try:
            return attempt()
        except torch.OutOfMemoryError as error:
            raise self._out_of_memory(stage) from error

    def _switch_to_low_memory(self, model: LoadedModel) -> None:
        """Frees the caches and turns on what lowers the peak: kept for the runs that follow."""
        if gc.isenabled():
            # Disabled means the host collects on a thread of its own choosing (the app: the GUI
            # thread, where Qt objects in the garbage may die); collecting here would undo that.
            gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()
        self.attention_slicing = self.vae_tiling = True
        _use_low_memory_options(model, self.attention_slicing, self.vae_tiling)

    @staticmethod
    def _out_of_memory(stage: Stage) -> EngineError:
        return EngineError(
            f"Out of memory at {stage.width}x{stage.height}, even with attention slicing and tiled VAE "
            "decode. Try a smaller size, fewer images at once, or close other programs."
        )


def _use_low_memory_options(model: LoadedModel, attention_slicing: bool, vae_tiling: bool) -> None:
    pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]  # the other pipelines share its modules
    if attention_slicing:
        pipeline.enable_attention_slicing()
    if vae_tiling:
        pipeline.vae.enable_tiling()


@contextlib.contextmanager
def _fp32_unet(pipeline, precision: PrecisionChoice) -> Iterator[None]:
    """The UNet in fp32 for one pass, as a plain fp32 run holds it (a GPU's half-precision weights go to
    fp32 with the rest of the pipeline; a CPU's channels_last layout goes too), then back."""
    dtype = pipeline.unet.dtype
    if dtype != torch.float32:
        pipeline.to(dtype=torch.float32)
    pipeline.unet.to(memory_format=torch.contiguous_format)
    try:
        yield
    finally:
        if dtype != torch.float32:
            pipeline.to(dtype=dtype)
        apply_memory_format(pipeline, precision)
