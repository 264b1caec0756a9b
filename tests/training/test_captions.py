from __future__ import annotations

import numpy as np

from studio.training.captions import PHRASES, caption_for, caption_vocabulary, parse_caption, prompt_for
from studio.training.dataset import render_dataset
from studio.training.world import SceneAttributes, sample_attributes

SPEC_PHRASES = [
    "a sunny day", "a clear day", "daytime", "a sunset", "dusk", "an evening sunset", "night",
    "a starry night", "nighttime", "the sun", "a moon", "the moon", "on the left", "in the center",
    "in the middle", "on the right", "grey mountains", "gray mountains", "rocky mountains",
    "snowy mountains", "snow-capped mountains", "purple mountains", "green grass", "a meadow", "grassland",
    "a desert", "sand dunes", "snowy ground", "a snowfield", "snow", "a lake", "water", "the sea",
    "a few trees", "some pine trees", "a forest", "a pine forest", "many trees", "clouds", "a cloudy sky",
    "some clouds",
]  # fmt: skip


def named_values(attributes: SceneAttributes) -> dict[str, list[str]]:
    """What a correct caption names: each present attribute exactly once."""
    named = {"time": [attributes.time], "ground": [attributes.ground]}
    if attributes.body != "none":
        named["body"], named["body_pos"] = [attributes.body], [attributes.body_pos]
    for attribute in ("mountains", "trees", "clouds"):
        value = getattr(attributes, attribute)
        if value != "none":
            named[attribute] = [value]
    return named


def test_captions_name_present_attributes_once_and_absent_ones_never() -> None:
    rng = np.random.default_rng(0)
    for _ in range(4000):
        scene = sample_attributes(rng)
        caption = caption_for(scene, rng)
        assert parse_caption(caption) == named_values(scene), caption
        assert caption == caption.strip() and "  " not in caption and "none" not in caption


def test_dataset_captions_match_their_scenes() -> None:
    data = render_dataset(60, seed=3)
    for caption, scene in zip(data.captions, data.attributes, strict=True):
        assert parse_caption(caption) == named_values(scene)


def test_wording_and_order_vary() -> None:
    scene = SceneAttributes("night", "moon", "center", "none", "purple", "snow", "forest", 70)
    rng = np.random.default_rng(1)
    captions = {caption_for(scene, rng) for _ in range(300)}
    assert len(captions) > 100
    first_words = {c.split()[0] for c in captions}
    assert len(first_words) >= 4  # not always the time of day first
    assert {prompt_for(scene, np.random.default_rng(s)) for s in range(5)} == {
        caption_for(scene, np.random.default_rng(s)) for s in range(5)
    }


def test_every_spec_phrase_is_used_and_in_the_vocabulary() -> None:
    vocabulary = set(caption_vocabulary())
    table_phrases = {p for table in PHRASES.values() for options in table.values() for p in options}
    assert set(SPEC_PHRASES) <= table_phrases <= vocabulary
    rng = np.random.default_rng(2)
    seen = " | ".join(caption_for(sample_attributes(rng), rng) for _ in range(3000))
    for phrase in SPEC_PHRASES:
        assert phrase in seen, phrase


def test_spec_examples_parse_to_their_attributes() -> None:
    assert parse_caption("a sunset with the sun on the left over snowy mountains and a lake") == {
        "time": ["sunset"], "body": ["sun"], "body_pos": ["left"], "mountains": ["snowy"], "ground": ["lake"]
    }  # fmt: skip
    example = "a starry night, a moon in the middle, purple mountains, a snowfield with a pine forest"
    assert parse_caption(example) == {
        "time": ["night"], "body": ["moon"], "body_pos": ["center"], "mountains": ["purple"],
        "ground": ["snow"], "trees": ["forest"],
    }  # fmt: skip
    assert parse_caption("daytime over a desert with clouds") == {
        "time": ["day"], "ground": ["desert"], "clouds": ["some"]
    }  # fmt: skip
