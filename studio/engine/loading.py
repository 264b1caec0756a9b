"""One loader for every model source: the embedded default, a diffusers folder, a single-file
checkpoint, or a hub id from the local cache. The three modes share one set of weights.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
    StableDiffusionPipeline,
)

from studio.engine.model_defaults import ModelDefaults
from studio.engine.previews import (
    PREVIEW_DECODER_FOLDER,
    LinearPreview,
    TinyDecoderPreview,
    is_sdxl_latent_space,
)
from studio.engine.request import DEFAULT_MODEL, EngineError, Mode, ModelInfo
from studio.engine.schedulers import normalise_scheduler_name

EMBEDDED_MODEL_DIR = Path(__file__).resolve().parents[2] / "resources" / "models" / "landscapes"
SAFE_WEIGHT_SUFFIXES = {".safetensors"}
PICKLED_WEIGHT_SUFFIXES = {".ckpt", ".bin", ".pt", ".pth"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedModel:
    """The pipelines of one model (sharing weights) and what the engine needs to know about it."""

    pipelines: dict[Mode, DiffusionPipeline]
    info: ModelInfo
    linear_preview: LinearPreview | None
    scheduler_config: dict[str, Any]
    tiny_preview: TinyDecoderPreview | None = None
    tiny_decoder_named: str = ""  # the folder the person named for previews, if any

    @property
    def weights_dtype(self) -> torch.dtype:
        return self.pipelines[Mode.TEXT_TO_IMAGE].unet.dtype

    @property
    def vae_scale_factor(self) -> int:
        return int(self.pipelines[Mode.TEXT_TO_IMAGE].vae_scale_factor)


def load_model(
    source: str,
    device: torch.device,
    dtype: torch.dtype,
    single_file_config: str | None = None,
    allow_pickled_weights: bool = False,
) -> LoadedModel:
    text_to_image = _load_text_to_image(source, dtype, single_file_config, allow_pickled_weights)
    text_to_image.to(device)
    text_to_image.set_progress_bar_config(disable=True)  # the engine reports progress itself
    pipelines = {
        Mode.TEXT_TO_IMAGE: text_to_image,
        Mode.IMAGE_TO_IMAGE: AutoPipelineForImage2Image.from_pipe(text_to_image),
        Mode.INPAINT: AutoPipelineForInpainting.from_pipe(text_to_image),
    }
    for pipeline in pipelines.values():
        pipeline.set_progress_bar_config(disable=True)
    vae_config = text_to_image.vae.config
    native_size = int(text_to_image.unet.config.sample_size) * int(text_to_image.vae_scale_factor)
    tiny_preview = find_tiny_preview(source, vae_config, device, dtype, "")
    few_step = is_few_step_checkpoint(source, type(text_to_image.scheduler).__name__)
    own_defaults = ModelDefaults.read(_local_path(source))
    defaults = (own_defaults or ModelDefaults()).or_else(
        ModelDefaults(
            width=native_size,
            height=native_size,
            steps=4 if few_step else 25,
            guidance_scale=1.0 if few_step else 7.5,
            scheduler="lcm" if few_step else "dpm++ 2m",
            preview=LinearPreview.published_for(
                int(vae_config.latent_channels), float(vae_config.scaling_factor)
            ),
        )
    )
    info = ModelInfo(
        name=_display_name(source),
        source=source,
        device=str(device),
        width=int(defaults.width),
        height=int(defaults.height),
        steps=int(defaults.steps),
        guidance_scale=float(defaults.guidance_scale),
        scheduler=normalise_scheduler_name(defaults.scheduler),
        few_step=few_step,
        # Our own small models (they carry latent_studio.json) are judged without a second pass;
        # Stable Diffusion-class models redraw an upscaled result well (the web UI's "hires fix").
        refine_by_default=own_defaults is None,
    )
    return LoadedModel(pipelines, info, defaults.preview, dict(text_to_image.scheduler.config), tiny_preview)


# Published tiny autoencoders by model family, looked for in the local Hugging Face cache only.
TAESD_REPOSITORIES = {"sd": "madebyollin/taesd", "sdxl": "madebyollin/taesdxl"}


def find_tiny_preview(
    source: str, vae_config, device: torch.device, dtype: torch.dtype, named_folder: str
) -> TinyDecoderPreview | None:
    """The previews' tiny decoder: the model folder's own, else the folder the person named, else
    TAESD / TAESDXL from the local Hugging Face cache; None (linear previews) when there is none."""
    def candidates():  # lazily: the Hugging Face cache is looked at only when nothing came before
        if _local_path(source).is_dir():
            yield _local_path(source) / PREVIEW_DECODER_FOLDER
        if named_folder:
            yield Path(named_folder).expanduser()
        cached = _cached_taesd(vae_config)
        if cached is not None:
            yield cached

    for folder in candidates():
        try:
            preview = TinyDecoderPreview.load(folder, device, dtype)
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as error:
            # A broken preview decoder must not cost the person their model: try the next, or linear.
            warnings.warn(f"preview decoder {folder} not loaded: {first_line(error)}", stacklevel=2)
            continue
        if preview is not None:
            if int(preview.decoder.config.latent_channels) != int(vae_config.latent_channels):
                warnings.warn(f"preview decoder {folder} is for another model family", stacklevel=2)
                continue
            return preview
    return None


def _cached_taesd(vae_config) -> Path | None:
    if int(vae_config.latent_channels) != 4:
        return None
    family = "sdxl" if is_sdxl_latent_space(float(vae_config.scaling_factor)) else "sd"
    from huggingface_hub import try_to_load_from_cache

    config_file = try_to_load_from_cache(TAESD_REPOSITORIES[family], "config.json")
    return Path(config_file).parent if isinstance(config_file, str) else None


def is_few_step_checkpoint(source: str, scheduler_class: str) -> bool:
    """LCM-distilled checkpoints ship the LCM scheduler; LCM and Turbo ones say so in their name."""
    name = _display_name(source).lower()
    return scheduler_class == "LCMScheduler" or "lcm" in name or "turbo" in name


def _load_text_to_image(
    source: str, dtype: torch.dtype, single_file_config: str | None, allow_pickled_weights: bool
) -> DiffusionPipeline:
    path = _local_path(source)
    if source == DEFAULT_MODEL and not (path / "model_index.json").is_file():
        raise EngineError(
            f"The embedded model is missing from {path}. Reinstall the app, or train it with "
            f"`python main.py train --out {path}`, or pick another model."
        )
    try:
        if path.is_dir():
            return _load_folder(path, dtype)
        if path.is_file():
            return _load_single_file(path, dtype, single_file_config, allow_pickled_weights)
        if _HUB_ID.match(source):
            return _load_hub_id(source, dtype)
    except EngineError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise EngineError(f"Could not load the model from {source}: {first_line(error)}") from error
    raise EngineError(
        f"No model at '{source}': it is neither a folder, a file nor a hub id like 'owner/name'."
    )


def _load_folder(path: Path, dtype: torch.dtype) -> DiffusionPipeline:
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise EngineError(f"{path} is not a diffusers model folder: it has no model_index.json.")
    index = _checked_folder_index(path, index_file)
    _check_no_pickled_only_weights(path)
    try:
        return AutoPipelineForText2Image.from_pretrained(
            path, dtype=dtype, local_files_only=True, use_safetensors=True, **_no_safety_checker(index)
        )
    except (OSError, ValueError, RuntimeError) as error:
        # diffusers wraps every unreadable weights file (safetensors' own error included) in an
        # OSError with only this wording to tell it apart.
        if "Unable to load weights" not in str(error):
            raise
        raise EngineError(
            f"A weights file in {path} is damaged or cut short ({first_line(error).rstrip('.')}). "
            "Copy the model folder again from where it came from."
        ) from error


def _checked_folder_index(path: Path, index_file: Path) -> dict[str, Any]:
    """The folder's model_index.json, read once. What diffusers would say cryptically (or not at
    all), said in words: an index that is not JSON, a pipeline without a UNet (the engine denoises
    with one), a part the index lists missing."""
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as error:
        raise EngineError(
            f"{index_file} is damaged: {first_line(error)}. Copy the model folder again."
        ) from None
    if not isinstance(index, dict):
        raise EngineError(f"{index_file} is damaged: it is not a table of the model's parts.")
    if "unet" not in index:
        raise EngineError(
            f"{path} is a {index.get('_class_name', 'unknown')} model, which Latent Studio cannot run: it "
            "runs Stable Diffusion models with a UNet (1.x, 2.x, SDXL and their LCM and Turbo versions)."
        )
    parts = [name for name, value in index.items() if isinstance(value, list) and None not in value]
    missing = [name for name in parts if not (path / name).is_dir()]
    if missing:
        raise EngineError(
            f"{path} lacks part of the model: no {', '.join(missing)} folder (model_index.json lists it). "
            "Copy the whole model folder again."
        )
    return index


def _load_single_file(
    path: Path, dtype: torch.dtype, config: str | None, allow_pickled_weights: bool
) -> DiffusionPipeline:
    suffix = path.suffix.lower()
    if suffix in PICKLED_WEIGHT_SUFFIXES and not allow_pickled_weights:
        raise EngineError(
            f"{path.name} is a pickled checkpoint, which can run arbitrary code when loaded. Use a "
            ".safetensors file, or allow pickled weights explicitly if you trust its source."
        )
    if suffix not in SAFE_WEIGHT_SUFFIXES | PICKLED_WEIGHT_SUFFIXES:
        raise EngineError(f"{path.name} is not a model: expected a folder or a .safetensors file.")
    if config is None:
        return _load_single_file_from_cache(path, dtype)
    pipeline_class = _pipeline_class_of(config)
    return pipeline_class.from_single_file(str(path), config=config, **_single_file_options(dtype))


def _single_file_options(dtype: torch.dtype) -> dict[str, object]:
    """Offline, and without the safety checker the app does not ship (as for folders)."""
    return {"dtype": dtype, "local_files_only": True, "safety_checker": None,
            "requires_safety_checker": False}


def _load_single_file_from_cache(path: Path, dtype: torch.dtype) -> DiffusionPipeline:
    """No config folder named: diffusers recognises the family from the checkpoint's keys and takes
    that family's config from the local Hugging Face cache, if it was ever downloaded there."""
    try:
        return StableDiffusionPipeline.from_single_file(str(path), **_single_file_options(dtype))
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise EngineError(
            f"{path.name} holds weights only, and its model family's config is not in the local Hugging "
            "Face cache. Name a diffusers folder of the same family (model_index.json, unet/config.json, "
            "...): in the app under Model > \"Config for model files\" (remembered), on the command line "
            f"with --config FOLDER. ({first_line(error)})"
        ) from error


def _pipeline_class_of(config_folder: str) -> type[DiffusionPipeline]:
    """The config folder's own pipeline class (SD 1.x, SD 2.x, SDXL), from its model_index.json."""
    index_file = Path(config_folder).expanduser() / "model_index.json"
    try:
        class_name = json.loads(index_file.read_text()).get("_class_name", "")
    except (OSError, ValueError) as error:
        raise EngineError(f"{config_folder} is not a diffusers model folder: {first_line(error)}") from error
    pipeline_class = getattr(diffusers, str(class_name), None)
    if not (isinstance(pipeline_class, type) and hasattr(pipeline_class, "from_single_file")):
        raise EngineError(
            f"{config_folder} is a {class_name or 'unknown'} pipeline, which cannot load single files."
        )
    return pipeline_class


def _load_hub_id(model_id: str, dtype: torch.dtype) -> DiffusionPipeline:
    try:
        with warnings.catch_warnings():  # the hub's deprecation chatter would bury our message
            warnings.simplefilter("ignore")
            return AutoPipelineForText2Image.from_pretrained(
                model_id, dtype=dtype, local_files_only=True, use_safetensors=True
            )
    except (OSError, ValueError) as error:
        raise EngineError(
            f"'{model_id}' is not in the local Hugging Face cache, and Latent Studio works offline. On a "
            f"machine with network, run `hf download {model_id}` and copy the cache here, or download the "
            "model folder and pick that folder instead."
        ) from error


def _check_no_pickled_only_weights(path: Path) -> None:
    for component in path.iterdir():
        if not component.is_dir():
            continue
        files = {item.suffix.lower() for item in component.iterdir()}
        if files & PICKLED_WEIGHT_SUFFIXES and not files & SAFE_WEIGHT_SUFFIXES:
            raise EngineError(
                f"{component.name}/ in {path} has only pickled weights (.bin/.ckpt); convert them to "
                "safetensors first: pickled files can run arbitrary code when loaded."
            )


def _no_safety_checker(index: dict[str, Any]) -> dict[str, Any]:
    # A local painting tool: no NSFW filter (like the popular web UIs); skip loading its weights.
    return {"safety_checker": None, "requires_safety_checker": False} if "safety_checker" in index else {}


def _local_path(source: str) -> Path:
    return EMBEDDED_MODEL_DIR if source == DEFAULT_MODEL else Path(source).expanduser()


def _display_name(source: str) -> str:
    if source == DEFAULT_MODEL:
        return "Landscapes (embedded)"
    return Path(source).name or source


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
