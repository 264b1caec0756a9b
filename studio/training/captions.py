"""Captions for Landscapes scenes: every present attribute named, absent ones never (world-spec.md).

Wording and order vary so the text encoder learns the attributes, not one sentence shape. All phrases
live in `PHRASES`; `parse_caption` reads them back, which the tests use to check captions against the
attributes they came from.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from studio.training.world import SceneAttributes

# attribute -> value -> phrases. The spec's phrases come first in each list; the rest are synonyms.
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "time": {
        "day": ("a sunny day", "a clear day", "daytime", "a bright day"),
        "sunset": ("a sunset", "dusk", "an evening sunset", "a sunset sky"),
        "night": ("night", "a starry night", "nighttime", "a night sky"),
    },
    "body": {
        "sun": ("the sun",),
        "moon": ("a moon", "the moon"),
    },
    "body_pos": {
        "left": ("on the left",),
        "center": ("in the center", "in the middle"),
        "right": ("on the right",),
    },
    "mountains": {
        "grey": ("grey mountains", "gray mountains", "rocky mountains"),
        "snowy": ("snowy mountains", "snow-capped mountains"),
        "purple": ("purple mountains",),
    },
    "ground": {
        "grass": ("green grass", "a meadow", "grassland"),
        "desert": ("a desert", "sand dunes"),
        "snow": ("snowy ground", "a snowfield", "snow"),
        "lake": ("a lake", "water", "the sea"),
    },
    "trees": {
        "few": ("a few trees", "some pine trees"),
        "forest": ("a forest", "a pine forest", "many trees"),
    },
    "clouds": {
        "some": ("clouds", "a cloudy sky", "some clouds"),
    },
}
# Time as a trailing phrase, for captions that start with the landscape ("purple mountains at dusk").
TIME_TRAILERS: dict[str, tuple[str, ...]] = {
    "day": ("during the day", "on a sunny day", "on a clear day", "in daytime"),
    "sunset": ("at sunset", "at dusk", "in the evening sunset"),
    "night": ("at night", "on a starry night", "at nighttime"),
}


def _phrase(rng: np.random.Generator, attribute: str, value: str) -> str:
    options = PHRASES[attribute][value]
    return options[int(rng.integers(len(options)))]


def caption_for(attributes: SceneAttributes, rng: np.random.Generator) -> str:
    """One natural-English caption naming every present attribute of the scene."""
    time = _phrase(rng, "time", attributes.time)
    body = (
        f"{_phrase(rng, 'body', attributes.body)} {_phrase(rng, 'body_pos', attributes.body_pos)}"
        if attributes.body != "none"
        else None
    )
    mountains = _phrase(rng, "mountains", attributes.mountains) if attributes.mountains != "none" else None
    ground = _phrase(rng, "ground", attributes.ground)
    trees = _phrase(rng, "trees", attributes.trees) if attributes.trees != "none" else None
    clouds = _phrase(rng, "clouds", "some") if attributes.clouds != "none" else None
    land = ground if trees is None else f"{ground} with {trees}"

    style = int(rng.integers(3))
    if style == 0:
        # Prose: "a sunset with the sun on the left over snowy mountains and a lake, with clouds"
        text = time + (f" with {body}" if body else "")
        text += f" over {mountains} and {land}" if mountains else f" over {land}"
        if clouds:
            text += f", with {clouds}" if trees else f" with {clouds}"
        return text
    if style == 1:
        # A list: "a starry night, a moon in the middle, purple mountains, a snowfield with a pine forest"
        middle = [part for part in (body, clouds) if part]
        rng.shuffle(middle)
        scene = [part for part in (mountains, land) if part]
        return ", ".join([time, *middle, *scene])
    # Landscape first: "snowy mountains and a lake at dusk, the sun on the right"
    trailer = TIME_TRAILERS[attributes.time]
    text = (f"{mountains} and {land}" if mountains else land) + " " + trailer[int(rng.integers(len(trailer)))]
    extras = [part for part in (body, clouds) if part]
    rng.shuffle(extras)
    return ", ".join([text, *extras])


def prompt_for(attributes: SceneAttributes, rng: np.random.Generator) -> str:
    """A prompt for evaluation: written exactly as the training captions are."""
    return caption_for(attributes, rng)


def caption_vocabulary() -> list[str]:
    """Every phrase and joining word a caption can contain, for building the tokenizer."""
    phrases = [p for table in PHRASES.values() for options in table.values() for p in options]
    phrases += [p for options in TIME_TRAILERS.values() for p in options]
    return [*phrases, "with", "over", "and", ","]


@lru_cache(maxsize=1)
def _phrase_pattern() -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    lookup: dict[str, tuple[str, str]] = {}
    for attribute, table in PHRASES.items():
        for value, options in table.items():
            for phrase in options:
                lookup[phrase] = (attribute, value)
    for value, options in TIME_TRAILERS.items():
        for phrase in options:
            # "on a sunny day" names the day through "a sunny day"; record the longer form too.
            lookup[phrase] = ("time", value)
    # Longest first, so "snowy mountains" wins over "snow" and "a starry night" over "night".
    alternatives = sorted(lookup, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p in alternatives) + r")\b")
    return pattern, lookup


def parse_caption(caption: str) -> dict[str, list[str]]:
    """Which attribute values a caption names: attribute -> values, in order of appearance."""
    pattern, lookup = _phrase_pattern()
    named: dict[str, list[str]] = {}
    for match in pattern.finditer(caption.lower()):
        attribute, value = lookup[match.group(1)]
        named.setdefault(attribute, []).append(value)
    return named
