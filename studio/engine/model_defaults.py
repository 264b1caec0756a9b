"""`latent_studio.json`: a model's own defaults and fitted preview factors, beside its model_index.json.

Training writes it (studio/training/export.py) and the loader reads it; both go through this one
class, so the file has one shape. Every field is optional: a field the file leaves out falls back to
what the loader would use for any Stable Diffusion model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.engine.previews import LinearPreview
from studio.engine.request import EngineError

MODEL_DEFAULTS_FILE = "latent_studio.json"


@dataclass(frozen=True)
class ModelDefaults:
    """Default canvas size, steps, guidance and sampler of one model, and its latent -> RGB preview."""

    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    preview: LinearPreview | None = None

    @classmethod
    def read(cls, folder: Path) -> ModelDefaults | None:
        """The folder's defaults; None when it has no settings file. A malformed file is an EngineError
        that names the file and what is wrong with it."""
        path = Path(folder) / MODEL_DEFAULTS_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise EngineError(f"{path} is not valid JSON: {error}") from error
        try:
            return cls.from_json(data)
        except (TypeError, ValueError, KeyError) as error:
            raise EngineError(f"{path} is not a Latent Studio settings file: {error}") from error

    @classmethod
    def from_json(cls, data: Any) -> ModelDefaults:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        preview = data.get("preview")
        if preview is not None and not isinstance(preview, dict):
            raise TypeError("'preview' must be an object with 'factors' and 'bias'")
        return cls(
            width=_optional(data, "width", int),
            height=_optional(data, "height", int),
            steps=_optional(data, "steps", int),
            guidance_scale=_optional(data, "guidance_scale", float),
            scheduler=_optional(data, "scheduler", str),
            preview=None if preview is None else LinearPreview.from_json(preview),
        )

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object: the fields that are set, in the order a person reads them."""
        data: dict[str, Any] = {
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "scheduler": self.scheduler,
        }
        if self.preview is not None:
            data["preview"] = {
                "factors": [list(row) for row in self.preview.factors],
                "bias": list(self.preview.bias),
            }
        return {key: value for key, value in data.items() if value is not None}

    def or_else(self, fallback: ModelDefaults) -> ModelDefaults:
        """These defaults, with `fallback`'s value for every field they leave unset."""
        return ModelDefaults(
            **{
                name: getattr(fallback, name) if getattr(self, name) is None else getattr(self, name)
                for name in self.__dataclass_fields__
            }
        )

    def write(self, folder: Path) -> Path:
        path = Path(folder) / MODEL_DEFAULTS_FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


def _optional(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if value is None:
        return None
    # A number must be a number: bool is an int to Python but never a size, and "96" is a typo.
    numeric = kind in (int, float)
    if isinstance(value, bool) or (numeric and not isinstance(value, (int, float))):
        raise TypeError(f"'{key}' must be a number, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise TypeError(f"'{key}' must be a string, got {value!r}")
    return kind(value)
