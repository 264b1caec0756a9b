from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from studio.training import dataset
from studio.training.dataset import render_dataset
from studio.training.world import (
    GROUND_GRADIENT,
    LEAF_COLOUR,
    MOUNTAIN_COLOUR,
    SKY_GRADIENT,
    SNOW_CAP_COLOUR,
    STAR_COLOUR,
    SUN_COLOUR,
    SceneAttributes,
    draw_scene,
    render_scene,
    sample_attributes,
    sample_layout,
)

PLAIN_DAY = SceneAttributes(
    time="day",
    body="none",
    body_pos=None,
    clouds="none",
    mountains="none",
    ground="grass",
    trees="none",
    horizon=70,
)


def clean_render(attributes: SceneAttributes, seed: int = 0) -> np.ndarray:
    """A render without pixel noise, so spec colours can be compared exactly."""
    rng = np.random.default_rng(seed)
    return draw_scene(attributes, sample_layout(attributes, rng))


def colour_mask(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(colour, np.uint8), axis=-1)


def test_attributes_follow_the_spec_rules() -> None:
    rng = np.random.default_rng(0)
    scenes = [sample_attributes(rng) for _ in range(6000)]
    for scene in scenes:
        assert 64 <= scene.horizon <= 84
        assert (scene.body_pos is None) == (scene.body == "none")
        if scene.time == "night":
            assert scene.clouds == "none"
            assert scene.body in ("moon", "none")
        else:
            assert scene.body in ("sun", "none")
        if scene.ground not in ("grass", "snow"):
            assert scene.trees == "none"
    counts = Counter(s.time for s in scenes)
    assert all(1800 < counts[t] < 2200 for t in ("day", "sunset", "night"))
    with_body = sum(s.body != "none" for s in scenes) / len(scenes)
    assert 0.67 < with_body < 0.73
    day_clouds = [s.clouds == "some" for s in scenes if s.time != "night"]
    assert 0.46 < np.mean(day_clouds) < 0.54
    assert {s.horizon for s in scenes} == set(range(64, 85))
    assert {s.trees for s in scenes if s.ground == "snow"} == {"none", "few", "forest"}


def test_render_shape_dtype_and_noise_is_light() -> None:
    rng = np.random.default_rng(3)
    image = render_scene(PLAIN_DAY, rng)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    difference = image.astype(int) - clean_render(PLAIN_DAY).astype(int)
    assert 1.5 < difference.std() < 2.5  # sigma 2, nothing stronger
    assert np.abs(difference).max() <= 12


def test_sky_and_ground_gradients_meet_at_the_horizon() -> None:
    image = clean_render(PLAIN_DAY)
    h = PLAIN_DAY.horizon
    sky_top, sky_bottom = SKY_GRADIENT["day"]
    ground_top, ground_bottom = GROUND_GRADIENT["grass"]
    assert tuple(image[0, 0]) == sky_top
    assert tuple(image[h - 1, 64]) == sky_bottom
    assert tuple(image[h, 64]) == ground_top
    assert tuple(image[127, 0]) == ground_bottom
    assert np.all(image[:h, :, 2] > 200) and np.all(image[h:, :, 1] > image[h:, :, 2])


def test_top_left_pixel_of_a_day_scene_is_sky() -> None:
    # Nothing reaches the corner: clouds start at y >= 2, a body's glow ends 26 px away, peaks at y >= 20.
    rng = np.random.default_rng(11)
    for _ in range(60):
        scene = replace(sample_attributes(rng), time="day")
        scene = replace(scene, body="sun" if scene.body != "none" else "none")
        image = render_scene(scene, rng)
        assert np.abs(image[0, 0].astype(int) - (60, 120, 215)).max() <= 8


def test_night_darkens_the_ground_but_not_the_sky() -> None:
    night = replace(PLAIN_DAY, time="night")
    image = clean_render(night)
    h = night.horizon
    assert tuple(image[h, 64]) == tuple(np.rint(np.array(GROUND_GRADIENT["grass"][0]) * 0.45).astype(int))
    sky = image[:h][~colour_mask(image[:h], STAR_COLOUR)]
    assert sky.max() <= max(SKY_GRADIENT["night"][1])  # sky untouched, stars apart
    stars = colour_mask(image[:h], STAR_COLOUR).sum()
    assert 20 <= stars <= 45


def test_mountain_colours_stay_in_their_band() -> None:
    rng = np.random.default_rng(5)
    for kind in ("grey", "snowy", "purple"):
        for _ in range(10):
            scene = replace(PLAIN_DAY, mountains=kind, horizon=int(rng.integers(64, 85)))
            image = clean_render(scene, int(rng.integers(1 << 30)))
            h = scene.horizon
            rock = colour_mask(image, MOUNTAIN_COLOUR[kind])
            assert rock[:h].any() and not rock[:20].any() and not rock[h:].any()
            # The ridge is at least 4 px tall across the whole width.
            assert rock[h - 4 : h].all()
            assert rock[: h - 41].sum() == 0
            assert colour_mask(image[:h], SNOW_CAP_COLOUR).any() == (kind == "snowy")


def test_sun_disc_and_glow() -> None:
    scene = replace(PLAIN_DAY, body="sun", body_pos="right")
    layout = sample_layout(scene, np.random.default_rng(2))
    image = draw_scene(scene, layout)
    (cx, cy), radius = layout.body_centre, layout.body_radius
    assert 96 <= cx <= 108 and 9 <= radius <= 13
    assert tuple(image[int(cy), int(cx)]) == SUN_COLOUR["day"]
    # Just outside the disc the sky leans toward the sun colour; far away it does not.
    near = image[int(cy), int(cx - radius - 2)].astype(int)
    plain = clean_render(PLAIN_DAY)[int(cy), int(cx - radius - 2)].astype(int)
    assert near[0] > plain[0] + 20 and near[2] < plain[2] - 20


def test_trees_are_drawn_on_the_ground() -> None:
    few, forest = replace(PLAIN_DAY, trees="few"), replace(PLAIN_DAY, trees="forest")
    few_pixels = colour_mask(clean_render(few, 1), LEAF_COLOUR).sum()
    forest_pixels = colour_mask(clean_render(forest, 1), LEAF_COLOUR).sum()
    assert 0 < few_pixels < forest_pixels
    assert not colour_mask(clean_render(PLAIN_DAY, 1), LEAF_COLOUR).any()


def test_dataset_is_reproducible_by_seed() -> None:
    first, again, other = render_dataset(40, seed=7), render_dataset(40, seed=7), render_dataset(40, seed=8)
    assert first.images.shape == (40, 128, 128, 3) and first.images.dtype == np.uint8
    assert first.images.tobytes() == again.images.tobytes()
    assert first.captions == again.captions and first.attributes == again.attributes
    assert not np.array_equal(first.images, other.images)
    # Image i does not depend on how many images were asked for.
    assert np.array_equal(render_dataset(10, seed=7).images, first.images[:10])


def test_process_pool_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "RENDER_CHUNK", 8)  # several small chunks, so the test stays quick
    pooled = render_dataset(30, seed=4, workers=2)
    single = render_dataset(30, seed=4, workers=1)
    assert pooled.images.tobytes() == single.images.tobytes()
    assert pooled.captions == single.captions
