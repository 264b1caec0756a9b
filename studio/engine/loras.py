"""LoRA files on top of the loaded model, through diffusers' own load_lora_weights / set_adapters.

Only local .safetensors files: they are read here with safetensors (which cannot run code) and handed
to diffusers as a state dict, so nothing is ever unpickled or fetched from a hub. The adapters live in
the shared UNet and text encoder, so the three pipelines of a model see the same LoRAs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from studio.engine.request import EngineError, LoraWeight


def adapter_name(path: str) -> str:
    """A stable name per file (diffusers' adapter names may hold no dots)."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    stem = "".join(character if character.isalnum() else "_" for character in Path(path).stem)
    return f"{stem}_{digest}"


def is_few_step_lora(path: str) -> bool:
    """LCM LoRAs are published with "lcm" in the file or folder name (latent-consistency/lcm-lora-*)."""
    return any("lcm" in part.lower() for part in Path(path).parts[-2:])


class LoraSet:
    """The LoRAs loaded into one model; `use` makes the model carry exactly the ones asked for."""

    def __init__(self) -> None:
        self._loaded: tuple[str, ...] = ()  # file paths, in load order

    def use(self, pipeline, loras: tuple[LoraWeight, ...]) -> None:
        paths = tuple(lora.path for lora in loras)
        if paths != self._loaded:
            self.clear(pipeline)
            for lora in loras:
                self._load(pipeline, lora.path)
                self._loaded += (lora.path,)
        if loras:
            pipeline.set_adapters(
                [adapter_name(lora.path) for lora in loras], [float(lora.weight) for lora in loras]
            )

    def clear(self, pipeline) -> None:
        if self._loaded:
            pipeline.unload_lora_weights()  # removes the layers: the model is exactly the base again
            self._loaded = ()

    def _load(self, pipeline, path: str) -> None:
        # Deferred: this module stays importable without torch (the UI asks is_few_step_lora).
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from studio.engine.loading import PICKLED_WEIGHT_SUFFIXES, first_line

        file = Path(path).expanduser()
        if file.suffix.lower() in PICKLED_WEIGHT_SUFFIXES:
            self.clear(pipeline)
            raise EngineError(
                f"{file.name} is a pickled LoRA, which can run arbitrary code when loaded; use its "
                ".safetensors version."
            )
        if not file.is_file():
            self.clear(pipeline)
            raise EngineError(f"LoRA file not found: {file}")
        try:
            state_dict = load_file(file)
            pipeline.load_lora_weights(state_dict, adapter_name=adapter_name(path))
        except (SafetensorError, OSError, ValueError, KeyError, IndexError, RuntimeError, TypeError) as error:
            pipeline.unload_lora_weights()  # never leave half a set of LoRAs in the model
            self._loaded = ()
            raise EngineError(
                f"Could not load the LoRA {file.name}: {first_line(error)[:300]}. Is it made for this "
                "model's family (SD 1.x, SDXL)?"
            ) from error
