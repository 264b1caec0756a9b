"""What crosses into the engine (one frozen GenerationRequest) and what comes back (small events).

This module imports only numpy, so the UI can build requests without pulling in torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

import numpy as np

DEFAULT_MODEL = ""  # the embedded Landscapes model under resources/models/
MAX_SEED = 2**32 - 1
# What the app's panels offer (and pasted-in metadata is clamped to), named once for both sides.
MIN_CANVAS_PX, MAX_CANVAS_PX, CANVAS_STEP_PX = 64, 2048, 8
MIN_OUTPUT_PX, MAX_OUTPUT_PX = 8, 4096  # what a request may ask for (the command line: --size)
MAX_MASK_FEATHER_PX, MAX_INPAINT_PADDING_PX = 128, 512


class Mode(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINT = "inpaint"


class PreviewKind(StrEnum):
    NOISY_LATENT = "x_t"  # what the user watches resolve out of noise
    PREDICTED_CLEAN = "x0"  # the model's current guess of the finished image
    OFF = "off"


class PreviewMethod(StrEnum):
    AUTO = "auto"  # the model's tiny preview decoder when it ships one, else linear
    TINY = "tiny"  # a small decoder trained to imitate the VAE: true colours, a fraction of a step
    LINEAR = "linear"  # latent -> RGB by a fitted 4x3 matrix: nearly free
    VAE = "vae"  # full VAE decode of every preview: exact but costly


class Precision(StrEnum):
    AUTO = "auto"  # fp16 on GPUs; on a CPU bf16 autocast where one timed UNet step shows it faster
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class Resolution(StrEnum):
    NATIVE = "native"  # run at the model's own pixel count with the canvas's aspect; scale to the size
    EXACT = "exact"  # run at the requested size itself


class RequestError(ValueError):
    """A request the engine cannot run; the message is meant for the user."""


def _frozen_copy(array: np.ndarray | None, name: str, channels: int | None) -> np.ndarray | None:
    if array is None:
        return None
    array = np.array(array, copy=True)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise RequestError(f"{name} must be 8-bit pixels (uint8), got {array.dtype}")
    if channels is None:
        if array.ndim == 3:
            array = array[..., 0]
        if array.ndim != 2:
            raise RequestError(f"{name} must be a single-channel H x W image, got shape {array.shape}")
    elif array.ndim != 3 or array.shape[2] != channels:
        raise RequestError(f"{name} must be an H x W x {channels} image, got shape {array.shape}")
    if min(array.shape[:2]) < 1:
        raise RequestError(f"{name} is empty")
    array.flags.writeable = False
    return array


def _size_of(image: np.ndarray) -> dict[str, int]:
    """How the JSON metadata summarises a picture (the pixels travel in chunks of their own)."""
    return {"width": int(image.shape[1]), "height": int(image.shape[0])}


MAX_LORA_WEIGHT = 4.0


@dataclass(frozen=True)
class LoraWeight:
    """One LoRA file (.safetensors) and how strongly it applies (1 = as trained, 0 = off)."""

    path: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> LoraWeight:
        """'FILE' or 'FILE:WEIGHT' (a colon inside a Windows path like C:\\x is kept)."""
        path, _, weight = text.rpartition(":")
        try:
            return cls(path, float(weight)) if path and not weight.startswith(("\\", "/")) else cls(text)
        except ValueError:
            return cls(text)


@dataclass(frozen=True, eq=False)
class Steer:
    """A change made part-way through a run, once `at_step` steps of the first pass are done.

    `image` (H x W x 3 at the output size) replaces the model's current guess of the finished
    picture (its x0 prediction) where the two differ, inside `mask` (H x W, 255 = may change) when
    given; the change enters the latent at the current noise level. The prompt, negative prompt and
    guidance, when given, hold for the rest of the run. `image_index` None applies to every image of
    a batch.
    """

    at_step: int
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    guidance_scale: float | None = None
    image_index: int | None = None
    noise_seed: int | None = None  # fresh noise for the steps still to come (ancestral samplers): a branch

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        set_field(self, "image", _frozen_copy(self.image, "steer image", 3))
        if self.noise_seed is not None and not 0 <= int(self.noise_seed) <= MAX_SEED:
            raise RequestError(f"a noise seed must be between 0 and {MAX_SEED}, got {self.noise_seed}")
        set_field(self, "mask", _frozen_copy(self.mask, "steer mask", None))
        if int(self.at_step) < 1:
            raise RequestError(f"a steer applies after step 1 or later, got step {self.at_step}")
        if self.mask is not None and self.image is None:
            raise RequestError("a steer mask needs a steer image: the picture to steer towards")
        if self.image is not None and self.mask is not None and self.mask.shape != self.image.shape[:2]:
            raise RequestError("the steer mask and the steer image differ in size")
        if self.guidance_scale is not None and not 0.0 <= float(self.guidance_scale) <= 50.0:
            raise RequestError(f"guidance scale must be between 0 and 50, got {self.guidance_scale}")

    @property
    def changes_anything(self) -> bool:
        return any(value is not None for value in (self.image, self.prompt, self.negative_prompt,
                                                     self.guidance_scale, self.noise_seed))

    def describe(self) -> dict[str, Any]:
        described = {name: getattr(self, name) for name in
                     ("at_step", "prompt", "negative_prompt", "guidance_scale", "image_index", "noise_seed")}
        for name in ("image", "mask"):
            value = getattr(self, name)
            described[name] = None if value is None else _size_of(value)
        return described


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """Everything one generation needs. Built on the GUI thread (or the CLI), read by the engine.

    Images are uint8 numpy arrays: `init_image` H x W x 3 RGB, `mask` H x W where 255 means
    "repaint here". Width and height are the output size; None means the init image's (or the
    model's native size). How the model gets there is `resolution` (see engine.resolution).
    """

    prompt: str = ""
    negative_prompt: str = ""
    mode: Mode = Mode.TEXT_TO_IMAGE
    seed: int = 0
    steps: int = 25
    guidance_scale: float = 7.5
    width: int | None = None
    height: int | None = None
    resolution: Resolution = Resolution.NATIVE
    refine_strength: float | None = None  # the full-size second pass; None: on for SD-class models up to 2x
    strength: float = 0.75
    scheduler: str = "dpm++ 2m"
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    mask_feather_px: int = 4
    inpaint_only_masked: bool = False  # crop around the mask, generate at the model's size, paste back
    inpaint_padding_px: int = 32
    batch_count: int = 1
    preview_kind: PreviewKind = PreviewKind.NOISY_LATENT
    preview_method: PreviewMethod = PreviewMethod.AUTO
    model: str = DEFAULT_MODEL
    precision: Precision = Precision.AUTO  # of the UNet
    decode_precision: Precision = Precision.AUTO  # of the VAE decode
    loras: tuple[LoraWeight, ...] = ()
    tiny_decoder: str = ""  # an AutoencoderTiny folder for previews (TAESD); the model's own comes first
    steers: tuple[Steer, ...] = ()  # changes made part-way (pause, paint, resume), in step order
    # A live-painting run: the app replaces it with the next stroke's and records no history of it.
    # How the run is watched, not what it makes: files do not repeat it.
    live: bool = False

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalise once, here, then never again
        set_field(self, "mode", Mode(self.mode))
        set_field(self, "resolution", Resolution(self.resolution))
        set_field(self, "preview_kind", PreviewKind(self.preview_kind))
        set_field(self, "preview_method", PreviewMethod(self.preview_method))
        set_field(self, "precision", Precision(self.precision))
        set_field(self, "decode_precision", Precision(self.decode_precision))
        set_field(self, "loras", tuple(self.loras))
        set_field(self, "steers", tuple(sorted(self.steers, key=lambda steer: steer.at_step)))
        for lora in self.loras:
            if not -MAX_LORA_WEIGHT <= float(lora.weight) <= MAX_LORA_WEIGHT:
                raise RequestError(
                    f"LoRA weight must be between -{MAX_LORA_WEIGHT:g} and {MAX_LORA_WEIGHT:g}, "
                    f"got {lora.weight}"
                )
        if len({lora.path for lora in self.loras}) != len(self.loras):
            raise RequestError("the same LoRA file is listed twice")
        set_field(self, "init_image", _frozen_copy(self.init_image, "init image", 3))
        set_field(self, "mask", _frozen_copy(self.mask, "mask", None))
        if not 0 <= int(self.seed) <= MAX_SEED:
            raise RequestError(f"seed must be between 0 and {MAX_SEED}, got {self.seed}")
        if not 1 <= int(self.steps) <= 1000:
            raise RequestError(f"steps must be between 1 and 1000, got {self.steps}")
        if not 0.0 <= float(self.guidance_scale) <= 50.0:
            raise RequestError(f"guidance scale must be between 0 and 50, got {self.guidance_scale}")
        if not 0.0 < float(self.strength) <= 1.0:
            raise RequestError(f"strength must be above 0 and at most 1, got {self.strength}")
        if self.refine_strength is not None and not 0.0 <= float(self.refine_strength) <= 1.0:
            raise RequestError(f"refine strength must be between 0 (off) and 1, got {self.refine_strength}")
        if not 1 <= int(self.batch_count) <= 64:
            raise RequestError(f"batch count must be between 1 and 64, got {self.batch_count}")
        if self.mask_feather_px < 0 or self.inpaint_padding_px < 0:
            raise RequestError("mask feather and inpaint padding cannot be negative")
        self._check_output_size()
        if self.mode in (Mode.IMAGE_TO_IMAGE, Mode.INPAINT) and self.init_image is None:
            raise RequestError(f"{self.mode.value} needs an init image")
        if self.mode is Mode.INPAINT:
            if self.mask is None:
                raise RequestError("inpainting needs a mask: brush over the part to repaint")
            if self.mask.shape != self.init_image.shape[:2]:
                raise RequestError(
                    f"the mask is {self.mask.shape[1]}x{self.mask.shape[0]} but the image is "
                    f"{self.init_image.shape[1]}x{self.init_image.shape[0]}"
                )
            if not self.mask.any():
                raise RequestError("the mask is empty: brush over the part to repaint")

    def _check_output_size(self) -> None:
        """The size asked for, or the init image's where none is asked, within what a request may make."""
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not MIN_OUTPUT_PX <= int(value) <= MAX_OUTPUT_PX:
                raise RequestError(
                    f"{name} must be between {MIN_OUTPUT_PX} and {MAX_OUTPUT_PX} pixels, got {value}"
                )
        if self.init_image is not None:  # a side not asked for is the init image's
            image_height, image_width = self.init_image.shape[:2]
            made = (self.width or image_width, self.height or image_height)
            if not all(MIN_OUTPUT_PX <= side <= MAX_OUTPUT_PX for side in made):
                raise RequestError(
                    f"the init image is {image_width}x{image_height} and the picture would be made at "
                    f"{made[0]}x{made[1]}, outside {MIN_OUTPUT_PX}-{MAX_OUTPUT_PX} pixels a side: ask for a "
                    "size in that range (the init image is scaled to it)"
                )

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def seed_of(self, image_index: int) -> int:
        """Image i of a batch uses seed + i, so it can be made again alone."""
        return (int(self.seed) + image_index) % (MAX_SEED + 1)

    def describe(self) -> dict[str, Any]:
        """The request as plain JSON-able data (images summarised by their size)."""
        described: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                value = _size_of(value)
            elif isinstance(value, Enum):
                value = value.value
            elif item.name == "loras":
                value = [dataclasses.asdict(lora) for lora in value]
            elif item.name == "steers":
                value = [steer.describe() for steer in value]
            described[item.name] = value
        return described


@dataclass(frozen=True, eq=False)
class Schedule:
    """The noise schedule a run walks, one entry per step it runs (image-to-image: after the cut)."""

    timesteps: np.ndarray  # the model's timestep at each step
    alpha_bar: np.ndarray  # how much of x0 survives there, squared: x_t = sqrt(ab) x0 + sqrt(1 - ab) noise
    sigma: np.ndarray  # noise level in units of the clean signal: sqrt((1 - ab) / ab)
    snr: np.ndarray  # signal-to-noise ratio: ab / (1 - ab)


@dataclass(frozen=True, eq=False)
class RepaintArea:
    """Where an inpaint may change the canvas, from the engine's one feathering of the mask (so the
    previews and the undo step use the very weights the blend does)."""

    weights: np.ndarray  # H x W uint8 at canvas size: the feathered mask, 255 = fully repainted
    changed: tuple[int, int, int, int]  # left, top, width, height around every pixel it may change
    crop: tuple[int, int, int, int] | None  # the "only masked" crop the previews show; None: all


@dataclass(frozen=True, eq=False)
class StepEvent:
    """Sent after every denoising step."""

    image_index: int  # which image of the batch
    batch_count: int
    step: int  # 1-based: step `step` of `total_steps` is done
    total_steps: int
    timestep: float
    noise_level: float  # sigma of the latent after this step, in units of the clean signal
    preview: np.ndarray | None  # H x W x 3 uint8 RGB (latent size or full size), None when off
    elapsed_s: float
    refining: bool = False  # a step of the second pass at the output size (see engine.resolution)
    latent_std: float = 0.0  # spread of x_t after the step
    predicted_noise_std: float = 0.0  # size of what the UNet predicted (guided), this step
    schedule: Schedule | None = None  # on the first step of each pass: the schedule it walks
    repaint_area: RepaintArea | None = None  # an inpaint's, on the first step of each pass


@dataclass(frozen=True, eq=False)
class PausedEvent:
    """Sent when a run stops at a pause: the model's current guess of the finished picture."""

    image_index: int
    step: int  # steps of the first pass done
    total_steps: int
    picture: np.ndarray  # H x W x 3 uint8 at the output size: the x0 prediction, full VAE decode


@dataclass(frozen=True, eq=False)
class ForwardFrame:
    """One stop of the forward-process explorer: the request's init image noised to `timestep`."""

    index: int  # 0 is x_0 itself, the picture through the VAE
    count: int  # stops in all
    timestep: int | None  # the training timestep; None for x_0
    alpha_bar: float  # how much of x_0 survives, squared (1 for x_0)
    picture: np.ndarray  # H x W x 3 uint8 at the size runs work at: x_t decoded with the full VAE
    noise: np.ndarray  # h x w x 3 uint8 at the latent size: the noise's channels as colour (every stop)
    latent_mean: float  # of x_t: towards 0 as t grows
    latent_std: float  # of x_t: towards 1 as t grows

    @property
    def sigma(self) -> float:
        """Noise level in units of the clean signal: sqrt((1 - alpha_bar) / alpha_bar)."""
        return float(np.sqrt((1.0 - self.alpha_bar) / self.alpha_bar))


@dataclass(frozen=True, eq=False)
class GenerationResult:
    """The finished images of one request, in batch order."""

    request: GenerationRequest
    images: tuple[np.ndarray, ...]  # H x W x 3 uint8, exactly the requested size
    seeds: tuple[int, ...]
    model_name: str
    elapsed_s: float
    precision: str = Precision.FP32.value  # what the run used (never "auto"), for the metadata
    decode_precision: str = Precision.FP32.value
    working_size: tuple[int, int] | None = None  # (width, height) the model ran at; None: the output size
    refine_strength: float = 0.0  # of the full-size second pass that ran; 0: none
    notes: tuple[str, ...] = ()  # what the person should hear: faults the run survived, and how


class Cancelled(Exception):
    """The run was stopped by should_stop(); no result exists."""


class EngineError(RuntimeError):
    """Something the user can fix (bad model path, out of memory, NaN); the message says what to do."""


@dataclass(frozen=True)
class ModelInfo:
    """What the UI needs to know about the loaded model, sent once it is ready."""

    name: str
    source: str
    device: str
    width: int  # the native size: what the model was trained at
    height: int
    steps: int
    guidance_scale: float
    scheduler: str
    precision: str = Precision.FP32.value  # chosen for this machine (never "auto")
    decode_precision: str = Precision.FP32.value
    precision_reason: str = ""  # why, in words: shown in the status bar
    few_step: bool = False  # an LCM / Turbo checkpoint: its defaults are the LCM sampler, 4 steps
    # SD-class models redraw an upscaled result well at up to 2x; our small models are judged without.
    refine_by_default: bool = False
