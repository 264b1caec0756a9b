"""At which size the model runs, and whether a second pass refines the upscaled result.

A model draws well only near the resolution it was trained at (128 pixels for the embedded model,
512 for SD 1.x, 1024 for SDXL), while people paint on canvases of any size and shape. Under the
"native" policy the model runs at its own pixel count with the canvas's aspect ratio and the result
is scaled to the canvas (the popular web UI's "hires fix" and Krita's AI plugin do the same).

Pure Python, no torch: the UI uses the same plan to say "generating at 144x112, shown at 512x384".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from studio.engine.request import GenerationRequest, Mode, RequestError, Resolution

DEFAULT_REFINE_STRENGTH = 0.35  # low enough to keep the composition, high enough to redraw detail
MAX_AUTO_REFINE_SCALE = 2.0  # beyond 2x native even SD-class models draw repeats at full size
SIZE_GRID = 8  # sides are multiples of the VAE's 8-pixel grid


@dataclass(frozen=True)
class SizePlan:
    """The output size (what the person gets), the size the model runs at, and the refine pass."""

    output_width: int
    output_height: int
    working_width: int
    working_height: int
    refine_strength: float  # 0: no second pass at the output size

    @property
    def scaled(self) -> bool:
        return (self.working_width, self.working_height) != (self.output_width, self.output_height)

    def describe(self) -> str:
        working = f"{self.working_width}x{self.working_height}"
        if not self.scaled:
            return f"Generating at {working}"
        refine = f", refined at full size (strength {self.refine_strength:g})" if self.refine_strength else ""
        return f"Generating at {working}, shown at {self.output_width}x{self.output_height}{refine}"


def native_working_size(width: int, height: int, native_width: int, native_height: int) -> tuple[int, int]:
    """The model's own pixel count with the aspect ratio of width x height, sides on the 8-pixel grid."""
    pixels = native_width * native_height
    aspect = width / height
    working_width = max(SIZE_GRID, round(math.sqrt(pixels * aspect) / SIZE_GRID) * SIZE_GRID)
    working_height = max(SIZE_GRID, round(math.sqrt(pixels / aspect) / SIZE_GRID) * SIZE_GRID)
    return working_width, working_height


def output_size(request: GenerationRequest, native_width: int, native_height: int) -> tuple[int, int]:
    """The size asked for, else the init image's (the canvas), else the model's native size."""
    if request.init_image is not None:
        image_height, image_width = request.init_image.shape[:2]
        width, height = request.width or image_width, request.height or image_height
        if (width, height) != (image_width, image_height):
            raise RequestError(
                f"The size {width}x{height} differs from the init image's {image_width}x{image_height}; "
                "resize the canvas or leave the size empty."
            )
        return int(width), int(height)
    return int(request.width or native_width), int(request.height or native_height)


def plan_sizes(
    request: GenerationRequest, native_width: int, native_height: int, refine_by_default: bool
) -> SizePlan:
    """Raises RequestError (a message for the person) when the size contradicts the init image.

    An "only the masked area" inpaint always runs its crop at the native size, so it is planned at
    the output size here: the crop is the engine's business.
    """
    width, height = output_size(request, native_width, native_height)
    cropping = request.mode is Mode.INPAINT and request.inpaint_only_masked
    if request.resolution is Resolution.EXACT or cropping:
        return SizePlan(width, height, width, height, 0.0)
    working_width, working_height = native_working_size(width, height, native_width, native_height)
    upscale = min(width / working_width, height / working_height)
    if upscale <= 1.0:
        refine = 0.0  # nothing was upscaled: a second pass would only repeat the first
    elif request.refine_strength is not None:
        refine = float(request.refine_strength)
    else:
        auto = refine_by_default and upscale <= MAX_AUTO_REFINE_SCALE
        refine = DEFAULT_REFINE_STRENGTH if auto else 0.0
    return SizePlan(width, height, working_width, working_height, refine)
