"""Captioned datasets of the Landscapes world: renders (world.py) paired with captions (captions.py).

Kept apart from both so that neither imports the other: captions describe scenes, the world draws
them, and this module puts the two together.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from studio.training.captions import caption_for
from studio.training.world import DEFAULT_NOISE_SIGMA, SIZE, SceneAttributes, render_scene, sample_attributes

RENDER_CHUNK = 1000  # scenes per pool task


@dataclass(frozen=True)
class LandscapeDataset:
    """Renders with their captions and attributes, index-aligned."""

    images: np.ndarray  # (N, 128, 128, 3) uint8
    captions: list[str]
    attributes: list[SceneAttributes]

    def __len__(self) -> int:
        return len(self.captions)


def _scene_rng(seed: int, index: int) -> np.random.Generator:
    # One generator per image: image i of a seed is the same whatever the count or worker split.
    return np.random.default_rng([seed, index])


def _render_range(seed: int, start: int, stop: int, noise_sigma: float) -> tuple[np.ndarray, list, list]:
    images = np.empty((stop - start, SIZE, SIZE, 3), np.uint8)
    captions, attributes = [], []
    for offset, index in enumerate(range(start, stop)):
        rng = _scene_rng(seed, index)
        scene = sample_attributes(rng)
        images[offset] = render_scene(scene, rng, noise_sigma)
        captions.append(caption_for(scene, rng))
        attributes.append(scene)
    return images, captions, attributes


def render_dataset(
    count: int, seed: int, noise_sigma: float = DEFAULT_NOISE_SIGMA, workers: int = 1
) -> LandscapeDataset:
    """`count` captioned renders, identical bytes for the same seed and any `workers`.

    One process renders about a thousand scenes a second. A pool (`workers` > 1) pays off only on idle
    cores: it starts fresh interpreters and ships every image back through a pipe.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if workers <= 1 or count <= RENDER_CHUNK:
        return LandscapeDataset(*_render_range(seed, 0, count, noise_sigma))
    images = np.empty((count, SIZE, SIZE, 3), np.uint8)
    captions: list[str] = []
    attributes: list[SceneAttributes] = []
    starts = range(0, count, RENDER_CHUNK)
    # spawn, not fork: the caller may already run torch threads, which fork does not survive safely.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        results = pool.map(
            _render_range,
            [seed] * len(starts),
            starts,
            [min(start + RENDER_CHUNK, count) for start in starts],
            [noise_sigma] * len(starts),
        )
        for start, (part_images, part_captions, part_attributes) in zip(starts, results, strict=True):
            images[start : start + len(part_images)] = part_images
            captions += part_captions
            attributes += part_attributes
    return LandscapeDataset(images, captions, attributes)
