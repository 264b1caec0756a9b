"""Crude sketches of Landscapes scenes, as a person would dab them on the canvas: flat colours, a wobbly
horizon, a disc for the sun or moon, a triangle or two for mountains, blobs for trees. Used to measure
how well sketch-to-image keeps what was sketched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from studio.training.world import BODY_CENTRE_X, NIGHT_DIMMING, SIZE, SceneAttributes

SKY = {"day": (80, 140, 225), "sunset": (235, 125, 70), "night": (15, 20, 55)}
SUNSET_TOP = (90, 55, 125)
GROUND = {"grass": (70, 150, 60), "desert": (220, 190, 120), "snow": (235, 238, 245), "lake": (40, 90, 170)}
BODY = {("sun", "day"): (255, 225, 70), ("sun", "sunset"): (255, 110, 40)}
MOON = (235, 235, 215)
MOUNTAIN = {"grey": (115, 115, 125), "snowy": (115, 115, 125), "purple": (105, 75, 140)}
TREE = (25, 90, 45)


def _at_night(colour: tuple[int, int, int], attributes: SceneAttributes) -> tuple[int, int, int]:
    # The world dims the land at night (x0.45); a sketch of a night scene is dark down there too.
    if attributes.time != "night":
        return colour
    return tuple(int(channel * NIGHT_DIMMING) for channel in colour)


def draw_sketch(attributes: SceneAttributes, rng: np.random.Generator) -> np.ndarray:
    """A 128x128 RGB sketch of `attributes` (clouds and stars are left out, as a quick sketch would)."""
    image = Image.new("RGB", (SIZE, SIZE), SKY[attributes.time])
    draw = ImageDraw.Draw(image)
    horizon = attributes.horizon
    if attributes.time == "sunset":  # two bands, as a sketcher would paint the purple-to-orange sky
        draw.rectangle([0, 0, SIZE, horizon // 2], fill=SUNSET_TOP)
    wobble = rng.integers(-2, 3, size=9)
    edge = [(x * 16, horizon + int(w)) for x, w in zip(range(9), wobble, strict=True)]
    if attributes.mountains != "none":
        peaks = rng.choice([20, 44, 64, 84, 108], size=2, replace=False)
        for peak_x in peaks:
            top = horizon - int(rng.integers(20, 34))
            triangle = [(peak_x - 26, horizon), (peak_x, top), (peak_x + 26, horizon)]
            draw.polygon(triangle, fill=_at_night(MOUNTAIN[attributes.mountains], attributes))
            if attributes.mountains == "snowy":
                cap = (horizon - top) * 0.35
                draw.polygon(
                    [(peak_x - 26 * 0.35, top + cap), (peak_x, top), (peak_x + 26 * 0.35, top + cap)],
                    fill=_at_night((245, 245, 250), attributes),
                )
    draw.polygon([*edge, (SIZE, SIZE), (0, SIZE)], fill=_at_night(GROUND[attributes.ground], attributes))
    if attributes.body != "none":
        colour = MOON if attributes.body == "moon" else BODY[(attributes.body, attributes.time)]
        x = BODY_CENTRE_X[attributes.body_pos] + int(rng.integers(-4, 5))
        y, radius = int(rng.integers(22, 34)), 11
        y = min(y, horizon - radius - 4)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    tree_count = {"none": 0, "few": 3, "forest": 10}[attributes.trees]
    for _ in range(tree_count):
        x, base = int(rng.integers(6, SIZE - 6)), int(rng.integers(horizon + 10, SIZE - 4))
        draw.polygon([(x - 5, base), (x, base - 16), (x + 5, base)], fill=_at_night(TREE, attributes))
    return np.asarray(image)
