"""Pixel work around the pipeline: padding to the VAE's grid, mask feathering, paste-back, crops.

All numpy/Pillow, no torch: these decide which pixels the user gets back, so they are kept
separate and tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from studio.engine.request import RepaintArea


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def pad_to_multiple(image: np.ndarray, multiple: int, fill_edges: bool = True) -> np.ndarray:
    """Pad at the right and bottom so both sides are multiples of `multiple` (the VAE's grid).

    Edges are repeated for images (so the model sees no hard border); masks get zeros (the
    padding is never repainted).
    """
    height, width = image.shape[:2]
    pad = [(0, round_up(height, multiple) - height), (0, round_up(width, multiple) - width)]
    pad += [(0, 0)] * (image.ndim - 2)
    if fill_edges:
        return np.pad(image, pad, mode="edge")
    return np.pad(image, pad, mode="constant")


def feather_mask(mask: np.ndarray, feather_px: int) -> np.ndarray:
    """The blend weight of the generated image per pixel, float32 in [0, 1].

    The brushed mask blurred by a Gaussian of radius `feather_px`; exactly 0 far enough outside,
    so those pixels come back untouched.
    """
    weights = Image.fromarray(np.where(mask > 127, 255, 0).astype(np.uint8))
    if feather_px > 0:
        weights = weights.filter(ImageFilter.GaussianBlur(radius=feather_px))
    return np.asarray(weights, dtype=np.float32) / 255.0


def repaint_region(feathered: np.ndarray) -> np.ndarray:
    """The uint8 mask the pipeline repaints: every pixel the blend will take anything from."""
    return np.where(feathered > 0, 255, 0).astype(np.uint8)


def paste_back(original: np.ndarray, generated: np.ndarray, feathered: np.ndarray) -> np.ndarray:
    """Blend generated into original by the feathered weights; weight 0 keeps the original exactly."""
    weight = feathered[..., None]
    blended = original.astype(np.float32) * (1.0 - weight) + generated.astype(np.float32) * weight
    blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return np.where(weight > 0, blended, original)


@dataclass(frozen=True)
class CropBox:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def cut(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.bottom, self.left : self.right]


def crop_around_mask(region: np.ndarray, padding_px: int, aspect: float) -> CropBox:
    """The box around the repaint region, padded, grown to the model's aspect ratio (width/height)
    and kept inside the image: the "only masked" crop the popular web UIs make. Written by hand:
    diffusers' get_crop_region finds such a box, but its pipelines crop, resize and paste back inside
    the call (padding_mask_crop); we run the crop at the model's native size and place it ourselves,
    and the UI keeps the box (the undo step and the live preview hold only what it covers)."""
    image_height, image_width = region.shape
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    left, right = cols[0] - padding_px, cols[-1] + 1 + padding_px
    top, bottom = rows[0] - padding_px, rows[-1] + 1 + padding_px
    width, height = right - left, bottom - top
    if width / height < aspect:  # too narrow: widen around the centre
        grow = round(height * aspect) - width
        left, right = left - grow // 2, right + grow - grow // 2
    else:
        grow = round(width / aspect) - height
        top, bottom = top - grow // 2, bottom + grow - grow // 2
    # Slide the box back inside the image, then clip what still sticks out.
    left, right = _slide_inside(left, right, image_width)
    top, bottom = _slide_inside(top, bottom, image_height)
    return CropBox(left, top, right, bottom)


def _slide_inside(start: int, end: int, limit: int) -> tuple[int, int]:
    if start < 0:
        start, end = 0, end - start
    if end > limit:
        start, end = start - (end - limit), limit
    return max(start, 0), min(end, limit)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a repaint region (0 or 255) so that every pixel it touches stays in it.

    A pixel of the result is repainted when any part of it was: the region never shrinks, so the
    pipeline repaints all that the feathered paste-back later takes from.
    """
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask
    scaled = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.BOX))
    return np.where(scaled > 0, 255, 0).astype(np.uint8)


@dataclass(frozen=True)
class Placement:
    """Where the picture of one pipeline stage sits in the output: the stage's own size, the crop
    box it stands for (an "only the masked area" inpaint), and for inpainting the canvas and the
    feathered mask it is pasted back into (so pixels outside the mask come back exactly)."""

    width: int
    height: int
    output_width: int
    output_height: int
    crop: CropBox | None = None
    canvas: np.ndarray | None = None
    feathered: np.ndarray | None = None

    def to_stage(self, picture: np.ndarray) -> np.ndarray:
        """An output-size picture as the stage sees it."""
        if self.crop is not None:
            picture = self.crop.cut(picture)
        return resize(picture, self.width, self.height)

    def region_to_stage(self, region: np.ndarray) -> np.ndarray:
        """An output-size 0/255 region as the stage sees it (never shrunk)."""
        if self.crop is not None:
            region = self.crop.cut(region)
        return resize_mask(region, self.width, self.height)

    def to_output(self, picture: np.ndarray) -> np.ndarray:
        """The stage's picture in the output: scaled (Lanczos), put in its crop box, pasted back."""
        if self.crop is None:
            output = resize(picture, self.output_width, self.output_height)
        else:
            output = np.array(self.canvas, copy=True)
            crop = self.crop
            output[crop.top : crop.bottom, crop.left : crop.right] = resize(picture, crop.width, crop.height)
        if self.feathered is not None:
            output = paste_back(self.canvas, output, self.feathered)
        return output


@dataclass(frozen=True, eq=False)
class InpaintMask:
    """An inpaint's mask worked out once per request: the feathered blend weights, the region the
    pipeline repaints, the "only masked" crop (None: the whole canvas) and what the UI is told."""

    feathered: np.ndarray
    repaint: np.ndarray
    crop: CropBox | None
    area: RepaintArea


def inpaint_mask(mask: np.ndarray, feather_px: int, only_masked: bool, padding_px: int,
                 aspect: float) -> InpaintMask:
    feathered = feather_mask(mask, feather_px)
    repaint = repaint_region(feathered)
    crop = crop_around_mask(repaint, padding_px, aspect) if only_masked else None
    rows, cols = np.flatnonzero(repaint.any(axis=1)), np.flatnonzero(repaint.any(axis=0))
    changed = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    weights = np.rint(feathered * 255).astype(np.uint8)
    box = (crop.left, crop.top, crop.width, crop.height) if crop is not None else None
    return InpaintMask(feathered, repaint, crop, RepaintArea(weights, changed, box))
