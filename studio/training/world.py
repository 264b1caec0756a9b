"""The Landscapes world: procedurally rendered 128x128 scenes, as /work/shared/world-spec.md defines them.

Attributes (what a caption names) are drawn first; a `SceneLayout` then holds every geometric detail the
spec leaves to chance (where the clouds, peaks and trees are), so a scene can be re-drawn exactly and
tests can look at known pixels. Drawing works in float32 on small boxes around each shape, with the
flat sky + ground gradients cached per (time, ground, horizon): that keeps one scene to about a
millisecond of numpy work; a process pool can spread large datasets over idle cores.

Choices where the spec is silent (for the model card):
- gradients run from the first to the last row of their region (sky: row 0 -> h-1, ground: h -> 127);
- shapes have hard pixel edges; a pixel belongs to a shape when its centre does;
- clouds: cluster centre x anywhere in the frame, ellipse centres within +-14 px / +-3 px of it;
- the sun's glow and all sky shapes stop at the horizon; the ground covers what falls below;
- mountain ridge: the peaks sit one per equal slice of the width, with valleys between them and at
  both ends just outside the frame; snow caps follow each peak's own height;
- desert dunes are 1-2 px sine curves at 85% brightness; lake ripples are +30 on every channel;
- the reflection is a column of rows, each kept with p = 0.7, whose width varies 0.6-1.2 r;
- a tree is a triangle on a trunk of 2-5 px (scaled with the tree); trees are drawn far to near;
- night darkening (x0.45) covers every ground row, so the lake's reflection of the moon dims too;
- Gaussian pixel noise of sigma 2 is on by default (`noise_sigma`), the most the spec allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from studio.training.world_geometry import (
    COLUMNS,
    ROWS,
    SIZE,
    Ellipse,
    ellipse_distance,
    fill_ellipse,
    pixel_box,
)

HORIZON_RANGE = (64, 84)  # inclusive
TIMES = ("day", "sunset", "night")
BODIES = ("sun", "moon", "none")
BODY_POSITIONS = ("left", "center", "right")
CLOUDS = ("none", "some")
MOUNTAINS = ("none", "grey", "snowy", "purple")
GROUNDS = ("grass", "desert", "snow", "lake")
TREES = ("none", "few", "forest")
TREE_GROUNDS = ("grass", "snow")

SKY_GRADIENT = {
    "day": ((60, 120, 215), (165, 205, 240)),
    "sunset": ((80, 50, 120), (245, 140, 60)),
    "night": ((8, 12, 35), (30, 40, 85)),
}
GROUND_GRADIENT = {
    "grass": ((90, 165, 70), (45, 120, 45)),
    "desert": ((225, 195, 125), (205, 165, 95)),
    "snow": ((235, 240, 248), (215, 225, 240)),
    "lake": ((50, 105, 180), (25, 65, 140)),
}
STAR_COLOUR = (220, 220, 255)
CLOUD_COLOUR = {"day": (245, 245, 250), "sunset": (250, 185, 165)}
SUN_COLOUR = {"day": (255, 230, 90), "sunset": (255, 110, 40)}
MOON_COLOUR = (235, 235, 215)
CRATER_COLOUR = (200, 200, 185)
MOUNTAIN_COLOUR = {"grey": (115, 115, 125), "snowy": (115, 115, 125), "purple": (105, 75, 140)}
SNOW_CAP_COLOUR = (245, 245, 250)
LEAF_COLOUR = (25, 90, 45)
TRUNK_COLOUR = (90, 60, 30)

BODY_CENTRE_X = {"left": 26, "center": 64, "right": 102}
BODY_JITTER = 6
BODY_RADIUS = (9, 13)
BODY_CENTRE_Y = (18, 38)
GLOW_WIDTH = 6
GLOW_STRENGTH = 0.4
REFLECTION_BLEND = 0.35
NIGHT_DIMMING = 0.45
SNOW_CAP_FRACTION = 0.35
DUNE_SHADE = 0.85
RIPPLE_LIFT = 30.0
DEFAULT_NOISE_SIGMA = 2.0



@dataclass(frozen=True)
class SceneAttributes:
    """What a caption names. body_pos is None exactly when body is "none"."""

    time: str
    body: str
    body_pos: str | None
    clouds: str
    mountains: str
    ground: str
    trees: str
    horizon: int


@dataclass(frozen=True)
class Tree:
    x: float  # trunk centre
    base_y: int  # lowest trunk row
    height: float  # of the green triangle
    width: float
    trunk_height: int


@dataclass(frozen=True)
class SceneLayout:
    """Every geometric detail of one scene; empty tuples / None where the attribute is absent."""

    stars: tuple[tuple[int, int], ...] = ()  # (x, y)
    clouds: tuple[Ellipse, ...] = ()
    body_centre: tuple[float, float] | None = None  # (x, y)
    body_radius: float = 0.0
    craters: tuple[Ellipse, ...] = ()
    ridge: tuple[tuple[float, float], ...] = ()  # (x, height above horizon) corners, left to right
    peaks: tuple[tuple[float, float], ...] = ()  # (x, height above horizon)
    dunes: tuple[tuple[float, float, float, float, int], ...] = ()  # (y0, amplitude, period, phase, px)
    ripples: tuple[tuple[int, int, int], ...] = ()  # (y, x0, length)
    reflection_rows: tuple[tuple[int, float], ...] = ()  # (y, half width)
    trees: tuple[Tree, ...] = ()


def _pick(rng: np.random.Generator, values: tuple[str, ...]) -> str:
    return values[int(rng.integers(len(values)))]


def sample_attributes(rng: np.random.Generator) -> SceneAttributes:
    """Draw each attribute independently, then apply the spec's constraints."""
    time = _pick(rng, TIMES)
    has_body = rng.random() < 0.7
    body_pos = _pick(rng, BODY_POSITIONS)
    clouds = _pick(rng, CLOUDS)
    mountains = _pick(rng, MOUNTAINS)
    ground = _pick(rng, GROUNDS)
    trees = _pick(rng, TREES)
    horizon = int(rng.integers(HORIZON_RANGE[0], HORIZON_RANGE[1] + 1))
    body = ("moon" if time == "night" else "sun") if has_body else "none"
    return SceneAttributes(
        time=time,
        body=body,
        body_pos=body_pos if body != "none" else None,
        clouds=clouds if time != "night" else "none",
        mountains=mountains,
        ground=ground,
        trees=trees if ground in TREE_GROUNDS else "none",
        horizon=horizon,
    )


def sample_layout(attributes: SceneAttributes, rng: np.random.Generator) -> SceneLayout:
    """Place every shape the attributes call for, within the spec's ranges."""
    h = attributes.horizon
    details: dict = {}
    if attributes.time == "night":
        count = int(rng.integers(25, 46))
        details["stars"] = tuple(
            zip(rng.integers(0, SIZE, count).tolist(), rng.integers(0, h - 1, count).tolist(), strict=True)
        )
    if attributes.clouds == "some":
        ellipses = []
        for _ in range(int(rng.integers(1, 4))):
            cluster_x, cluster_y = rng.uniform(0, SIZE), rng.uniform(12, h - 20)
            for _ in range(int(rng.integers(3, 6))):
                ellipses.append(
                    Ellipse(
                        cx=cluster_x + rng.uniform(-14, 14),
                        cy=cluster_y + rng.uniform(-3, 3),
                        rx=rng.uniform(8, 16),
                        ry=rng.uniform(4, 7),
                    )
                )
        details["clouds"] = tuple(ellipses)
    if attributes.body != "none":
        radius = rng.uniform(BODY_RADIUS[0], BODY_RADIUS[1])
        cx = BODY_CENTRE_X[attributes.body_pos] + rng.uniform(-BODY_JITTER, BODY_JITTER)
        cy = rng.uniform(BODY_CENTRE_Y[0], min(BODY_CENTRE_Y[1], h - radius - 4))
        details["body_centre"] = (cx, cy)
        details["body_radius"] = radius
        if attributes.body == "moon":
            details["craters"] = _sample_craters(cx, cy, radius, rng)
        if attributes.ground == "lake":
            details["reflection_rows"] = tuple(
                (y, radius * rng.uniform(0.3, 0.6)) for y in range(h, SIZE) if rng.random() < 0.7
            )
    if attributes.mountains != "none":
        details["ridge"], details["peaks"] = _sample_ridge(h, rng)
    if attributes.ground == "desert":
        details["dunes"] = tuple(
            (
                rng.uniform(h + 4, SIZE - 3),
                rng.uniform(1, 4),
                rng.uniform(50, 140),
                rng.uniform(0, 2 * np.pi),
                int(rng.integers(1, 3)),
            )
            for _ in range(int(rng.integers(0, 4)))
        )
    if attributes.ground == "lake":
        details["ripples"] = tuple(
            (int(rng.integers(h + 1, SIZE)), int(rng.integers(-8, SIZE - 8)), int(rng.integers(8, 31)))
            for _ in range(int(rng.integers(6, 13)))
        )
    if attributes.trees != "none":
        count = int(rng.integers(2, 5)) if attributes.trees == "few" else int(rng.integers(10, 17))
        details["trees"] = tuple(sorted((_sample_tree(h, rng) for _ in range(count)), key=lambda t: t.base_y))
    return SceneLayout(**details)


def _sample_craters(cx: float, cy: float, radius: float, rng: np.random.Generator) -> tuple[Ellipse, ...]:
    craters: list[Ellipse] = []
    while len(craters) < 2:
        crater_radius = rng.uniform(2, 3)
        reach = radius - crater_radius - 1  # keep the whole crater inside the disc
        angle, distance = rng.uniform(0, 2 * np.pi), reach * np.sqrt(rng.random())
        x, y = cx + distance * np.cos(angle), cy + distance * np.sin(angle)
        # Two distinct craters, not one blot.
        if all(np.hypot(x - c.cx, y - c.cy) > crater_radius + c.rx + 1 for c in craters):
            craters.append(Ellipse(x, y, crater_radius, crater_radius))
    return tuple(craters)


def _sample_ridge(
    h: int, rng: np.random.Generator
) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
    count = int(rng.integers(3, 7))
    slice_width = SIZE / count
    # One peak per slice keeps them apart, so each stays a visible peak.
    peak_x = [(i + rng.uniform(0.2, 0.8)) * slice_width for i in range(count)]
    peak_height = [rng.uniform(18, min(40, h - 20)) for _ in range(count)]
    # Valleys between neighbouring peaks and just outside both edges, so the ridge spans the width.
    valley_x = [-12.0]
    valley_x += [a + rng.uniform(0.35, 0.65) * (b - a) for a, b in zip(peak_x, peak_x[1:], strict=False)]
    valley_x.append(SIZE + 12.0)
    corners = [(valley_x[0], rng.uniform(4, 10))]
    for i in range(count):
        corners += [(peak_x[i], peak_height[i]), (valley_x[i + 1], rng.uniform(4, 10))]
    return tuple(corners), tuple(zip(peak_x, peak_height, strict=True))


def _sample_tree(h: int, rng: np.random.Generator) -> Tree:
    base_y = int(rng.integers(h + 6, 125))
    scale = 0.6 + 0.6 * (base_y - h) / (SIZE - 1 - h)  # farther trees are smaller
    return Tree(
        x=rng.uniform(2, SIZE - 2),
        base_y=base_y,
        height=rng.uniform(12, 22) * scale,
        width=rng.uniform(8, 14) * scale,
        trunk_height=max(2, round(4 * scale)),
    )


@cache
def _background(time: str, ground: str, h: int) -> np.ndarray:
    """Sky and ground gradients only; drawing starts from a copy."""
    image = np.empty((SIZE, SIZE, 3), np.float32)
    sky_top, sky_bottom = (np.array(c, np.float32) for c in SKY_GRADIENT[time])
    t = (np.arange(h, dtype=np.float32) / (h - 1))[:, None]
    image[:h] = (sky_top + t * (sky_bottom - sky_top))[:, None, :]
    ground_top, ground_bottom = (np.array(c, np.float32) for c in GROUND_GRADIENT[ground])
    t = (np.arange(SIZE - h, dtype=np.float32) / (SIZE - 1 - h))[:, None]
    image[h:] = (ground_top + t * (ground_bottom - ground_top))[:, None, :]
    image.setflags(write=False)
    return image


def draw_scene(
    attributes: SceneAttributes,
    layout: SceneLayout,
    noise_rng: np.random.Generator | None = None,
    noise_sigma: float = DEFAULT_NOISE_SIGMA,
) -> np.ndarray:
    """Paint the scene back to front (spec steps 1-7); noise only when a generator is given."""
    h, time = attributes.horizon, attributes.time
    image = _background(time, attributes.ground, h).copy()
    dimmed = np.zeros((SIZE, SIZE), bool)  # what night darkens besides the ground rows

    if layout.stars:  # 1. stars over the sky gradient
        xs, ys = zip(*layout.stars, strict=True)
        image[list(ys), list(xs)] = STAR_COLOUR
    if layout.clouds:  # 2.
        colour = np.array(CLOUD_COLOUR[time], np.float32)
        for ellipse in layout.clouds:
            fill_ellipse(image, ellipse, colour, y_end=h)
    if layout.body_centre is not None:  # 3.
        _draw_body(image, attributes, layout, h)
    if layout.ridge:  # 4.
        dimmed |= _draw_mountains(image, attributes.mountains, layout, h)
    _draw_ground_details(image, attributes, layout, h)  # 5. (the gradient is in the background)
    if layout.trees:  # 6.
        dimmed |= _draw_trees(image, layout.trees)
    if time == "night":  # 7. (a multiply by a factor map: much faster than boolean indexing)
        image[h:] *= NIGHT_DIMMING
        image[:h] *= np.where(dimmed[:h], np.float32(NIGHT_DIMMING), np.float32(1.0))[..., None]
    if noise_rng is not None and noise_sigma > 0:
        image += _noise_field(noise_rng) * np.float32(noise_sigma)
    np.clip(image, 0, 255, out=image)
    return np.rint(image, out=image).astype(np.uint8)


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((16, SIZE + 32, SIZE + 32, 3), dtype=np.float32)


def _noise_field(rng: np.random.Generator) -> np.ndarray:
    """Unit Gaussian noise for one image: a random crop of a fixed bank, with a random sign.

    Drawing 49k normals per image was over half the render time; 16 fields x 1024 offsets x 2 signs
    is far more variety than sigma-2 noise needs.
    """
    index, dy, dx, sign = rng.integers(0, (16, 32, 32, 2))
    field = _noise_bank()[index, dy : dy + SIZE, dx : dx + SIZE]
    return field if sign else -field


def _body_colour(attributes: SceneAttributes) -> np.ndarray:
    colour = SUN_COLOUR[attributes.time] if attributes.body == "sun" else MOON_COLOUR
    return np.array(colour, np.float32)


def _draw_body(image: np.ndarray, attributes: SceneAttributes, layout: SceneLayout, h: int) -> None:
    (cx, cy), radius = layout.body_centre, layout.body_radius
    colour = _body_colour(attributes)
    reach = radius + (GLOW_WIDTH if attributes.body == "sun" else 0)
    box = pixel_box(cx, cy, reach, reach, y_end=h)
    distance = ellipse_distance(box, cx, cy, 1.0, 1.0)
    region = image[box]
    if attributes.body == "sun":
        # Glow: 40% toward the sun colour at the rim, fading to 0% at r + 6.
        alpha = np.clip(GLOW_STRENGTH * (1 - (distance - radius) / GLOW_WIDTH), 0, GLOW_STRENGTH)[..., None]
        region += alpha * (colour - region)
    region[distance <= radius] = colour
    for crater in layout.craters:
        fill_ellipse(image, crater, np.array(CRATER_COLOUR, np.float32), y_end=h)


def _draw_mountains(image: np.ndarray, kind: str, layout: SceneLayout, h: int) -> np.ndarray:
    corner_x, corner_height = (np.array(v, np.float32) for v in zip(*layout.ridge, strict=True))
    ridge_height = np.interp(COLUMNS, corner_x, corner_height)
    height_above = (h - ROWS[:h])[:, None]  # of each pixel centre
    mask = np.zeros((SIZE, SIZE), bool)
    mask[:h] = height_above <= ridge_height[None, :]
    image[mask] = MOUNTAIN_COLOUR[kind]
    if kind == "snowy":
        # Each column belongs to the peak between its two valleys; the cap is that peak's top 35%.
        valley_x = corner_x[2:-1:2]
        owner = np.searchsorted(valley_x, COLUMNS)
        peak_height = np.array([p[1] for p in layout.peaks], np.float32)[owner]
        snow_line = (1 - SNOW_CAP_FRACTION) * peak_height
        cap = np.zeros_like(mask)
        cap[:h] = mask[:h] & (height_above > snow_line[None, :])
        image[cap] = SNOW_CAP_COLOUR
    return mask


def _draw_ground_details(image: np.ndarray, attributes: SceneAttributes, layout: SceneLayout, h: int) -> None:
    for y0, amplitude, period, phase, thickness in layout.dunes:
        rows = np.rint(y0 + amplitude * np.sin(2 * np.pi * COLUMNS / period + phase)).astype(int)
        for offset in range(thickness):
            keep = (rows + offset >= h) & (rows + offset < SIZE)
            columns = np.flatnonzero(keep)
            image[rows[keep] + offset, columns] *= DUNE_SHADE
    for y, x0, length in layout.ripples:
        image[y, max(0, x0) : min(SIZE, x0 + length)] += RIPPLE_LIFT
    if layout.reflection_rows:
        colour = _body_colour(attributes)
        cx = layout.body_centre[0]
        for y, half_width in layout.reflection_rows:
            span = image[y, max(0, round(cx - half_width)) : min(SIZE, round(cx + half_width) + 1)]
            span += REFLECTION_BLEND * (colour - span)


def _draw_trees(image: np.ndarray, trees: tuple[Tree, ...]) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    leaf, trunk = np.array(LEAF_COLOUR, np.float32), np.array(TRUNK_COLOUR, np.float32)
    for tree in trees:
        crown_bottom = tree.base_y - tree.trunk_height + 1  # first trunk row; the crown sits on it
        trunk_columns = slice(max(0, round(tree.x) - 1), min(SIZE, round(tree.x) + 1))
        image[crown_bottom : tree.base_y + 1, trunk_columns] = trunk
        mask[crown_bottom : tree.base_y + 1, trunk_columns] = True
        apex = crown_bottom - tree.height
        centre_y = (apex + crown_bottom) / 2
        box = pixel_box(tree.x, centre_y, tree.width / 2, tree.height / 2, y_end=crown_bottom)
        if box is None:
            continue
        depth = (ROWS[box[0]] - apex)[:, None] / tree.height  # 0 at the apex, 1 at the crown's base
        crown = np.abs(COLUMNS[box[1]][None, :] - tree.x) <= depth * tree.width / 2
        image[box][crown] = leaf
        mask[box] |= crown
    return mask


def render_scene(
    attributes: SceneAttributes, rng: np.random.Generator, noise_sigma: float = DEFAULT_NOISE_SIGMA
) -> np.ndarray:
    """A (128, 128, 3) uint8 render of `attributes`, its layout and noise drawn from `rng`."""
    return draw_scene(attributes, sample_layout(attributes, rng), rng, noise_sigma)
