"""Put what a PNG records back into the panels: ours, AUTOMATIC1111's or ComfyUI's.

The values arrive checked and clamped (studio/engine/metadata_import.py: metadata is untrusted
input). A file of ours that records an image-to-image or inpainting run also brings its init image
and mask back onto the canvas, as one undo step, so that Generate repeats the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.engine.metadata import read_request
from studio.engine.metadata_import import ImportedSettings, settings_from_png
from studio.engine.request import GenerationRequest, Mode, RequestError
from studio.ui.image_convert import alpha8_from_array, qimage_from_rgb
from studio.ui.layers import Document
from studio.ui.parameters import GenerationParameters
from studio.ui.request_builder import refine_choice
from studio.ui.seed_panel import SeedState
from studio.ui.tools import ToolSettings

# Restored into GenerationParameters under the same names (seed, model and mask feather have their own).
PARAMETER_FIELDS = ("prompt", "negative_prompt", "steps", "guidance_scale", "scheduler", "width", "height",
                    "strength", "inpaint_only_masked", "inpaint_padding_px")


def restore_settings(
    path: Path,
    parameters: GenerationParameters,
    seed_state: SeedState,
    tool_settings: ToolSettings,
    document: Document | None = None,
    opened: bool = False,
) -> str:
    """Applies what `path` records and returns the one line that says what was (and was not) restored.

    `opened`: the file was opened as a picture, which is now the canvas: its size stays the
    picture's, and the model it names is not switched to (nothing is loaded from a path written in
    a file without the person asking). Restore on a gallery entry asks for everything."""
    imported = settings_from_png(path)
    values = dict(imported.values)
    notes = list(imported.not_restored)
    model = values.pop("model", None)
    if opened:
        if model is not None and model != parameters.model:
            notes.append(f"the model '{model}' (pick it in the model list to use it)")
        values.pop("width", None)  # the opened picture's own size is the canvas's
        values.pop("height", None)
        notes = [note for note in notes if not note.startswith(("width", "height"))]
    elif model is not None:
        parameters.model = str(model)
    # An opened file's own run is not restored (its picture is the canvas): only read it for Restore.
    recorded = _recorded_request(path) if imported.source == "Latent Studio" and not opened else None
    if recorded is not None:  # how the run was sized and what it started from: the same pixels again
        parameters.resolution = recorded.resolution.value
        parameters.use_canvas_as_init = recorded.mode is not Mode.TEXT_TO_IMAGE
        parameters.refine = refine_choice(recorded.refine_strength).value
        if recorded.refine_strength:
            parameters.refine_strength = float(recorded.refine_strength)
    init = _recorded_init(recorded) if document is not None and recorded is not None else None
    if init is not None:  # the init image sets the canvas size, in the same undo step as the picture
        values.pop("width", None)
        values.pop("height", None)
    if "seed" in values:  # the next run's; "after run" moves on from it as usual
        seed_state.set_seed(int(values["seed"]))
    if "width" in values or "height" in values:
        parameters.size_chosen = True  # the file's size, not the model's native one
    for name in PARAMETER_FIELDS:
        if name in values:
            setattr(parameters, name, values[name])
    if "mask_feather_px" in values:
        tool_settings.mask_feather = int(values["mask_feather_px"])
    if init is not None and document is not None:
        picture, mask = init
        document.load_layers(qimage_from_rgb(picture), alpha8_from_array(mask), "Restore init image")
    restored = values | ({"model": model} if model is not None and not opened else {})
    return ImportedSettings(restored, imported.source, tuple(notes)).summary()


def _recorded_request(path: Path) -> GenerationRequest | None:
    try:
        return read_request(path)
    except RequestError:
        return None  # the settings are what could be had; the summary says what was restored


def _recorded_init(request: GenerationRequest) -> tuple[np.ndarray, np.ndarray] | None:
    """The init image and mask of an image-to-image or inpainting run of ours, if the file has one."""
    if request.mode is Mode.TEXT_TO_IMAGE or request.init_image is None:
        return None
    mask = request.mask if request.mask is not None else np.zeros(request.init_image.shape[:2], np.uint8)
    return request.init_image, mask
