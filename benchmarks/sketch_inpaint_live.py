"""Sketch-to-image adherence, inpainting exactness/adherence/seams, and live-painting speed.

    python benchmarks/sketch_inpaint_live.py [--model DIR] [--count 100]

1. Sketch adherence: crude sketches drawn by code from random world attributes (studio/training/
   sketches.py), run image-to-image with a prompt from the same attributes; the attribute classifier
   (trained on renders only) reads the attributes back from the results. Target >= 90% each.
2. Inpainting: (a) the sky of daytime renders masked and repainted as a night with a moon: how often
   the classifier sees night and a moon, and the largest pixel change outside the feathered mask
   (must be 0); (b) a rectangle repainted with the scene's own caption: mean colour step across the
   mask border in the result against the same pixel pairs in the source.
3. Live painting: updates per second of the short image-to-image run a finished stroke starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import numpy as np

from studio.engine.engine import Engine
from studio.engine.images import feather_mask
from studio.engine.request import GenerationRequest, Mode
from studio.training.attributes import AttributeClassifier, score
from studio.training.captions import prompt_for
from studio.training.sketches import draw_sketch
from studio.training.world import render_scene, sample_attributes

SKETCHED = ("time", "body", "body_pos", "mountains", "ground", "trees")


def sketch_adherence(engine: Engine, classifier: AttributeClassifier, count: int, strength: float) -> None:
    rng = np.random.default_rng(1)
    scenes = [sample_attributes(rng) for _ in range(count)]
    results = []
    for index, scene in enumerate(scenes):
        request = GenerationRequest(
            mode=Mode.IMAGE_TO_IMAGE,
            prompt=prompt_for(scene, rng),
            init_image=draw_sketch(scene, rng),
            strength=strength,
            seed=index,
            model=engine.model_info.source,
            steps=engine.model_info.steps,
            guidance_scale=engine.model_info.guidance_scale,
            scheduler=engine.model_info.scheduler,
        )
        results.append(engine.generate(request).images[0])
    expected = [{name: getattr(scene, name) for name in SKETCHED} for scene in scenes]
    rates = score(classifier.classify(np.stack(results)), expected)
    print(f"\n1. Sketch adherence, {count} sketches, strength {strength} (target >= 90% each)")
    for name in SKETCHED:
        print(f"   {name:10} {rates[name] * 100:6.1f}%")


def _day_scene(rng: np.random.Generator):
    scene = sample_attributes(rng)
    return dataclasses.replace(scene, time="day", body="none", body_pos=None, clouds="none")


def _inpaint(engine: Engine, picture: np.ndarray, mask: np.ndarray, prompt: str, seed: int) -> np.ndarray:
    info = engine.model_info
    request = GenerationRequest(
        mode=Mode.INPAINT,
        prompt=prompt,
        init_image=picture,
        mask=mask,
        mask_feather_px=4,
        strength=1.0,
        seed=seed,
        model=info.source,
        steps=info.steps,
        guidance_scale=info.guidance_scale,
        scheduler=info.scheduler,
    )
    return engine.generate(request).images[0]


def inpainting(engine: Engine, classifier: AttributeClassifier, count: int) -> None:
    rng = np.random.default_rng(2)
    worst_outside, found = 0, []
    for index in range(count):
        scene = _day_scene(rng)
        picture = render_scene(scene, rng)
        mask = np.zeros(picture.shape[:2], np.uint8)
        mask[: scene.horizon - 6] = 255
        night = dataclasses.replace(scene, time="night", body="moon", body_pos="center")
        result = _inpaint(engine, picture, mask, prompt_for(night, rng), seed=index)
        outside = feather_mask(mask, 4) == 0
        worst_outside = max(worst_outside, int(np.abs(result.astype(int) - picture)[outside].max()))
        found.append(classifier.classify(result[None])[0])
    night_rate = np.mean([f["time"] == "night" for f in found])
    moon_rate = np.mean([f["body"] == "moon" for f in found])
    print(f"\n2a. Inpainting the sky as 'night with a moon', {count} daytime renders")
    print(f"   largest pixel change outside the feathered mask: {worst_outside} (must be 0)")
    print(f"   classifier sees night: {night_rate * 100:.1f}%, a moon: {moon_rate * 100:.1f}%")

    steps_result, steps_source = [], []
    for index in range(count):
        scene = sample_attributes(rng)
        picture = render_scene(scene, rng)
        mask = np.zeros(picture.shape[:2], np.uint8)
        top, left = int(rng.integers(10, 60)), int(rng.integers(10, 70))
        mask[top : top + 40, left : left + 48] = 255
        result = _inpaint(engine, picture, mask, prompt_for(scene, rng), seed=index).astype(float)
        # Pixel pairs straddling the brushed border (left and right edges of the rectangle).
        for column in (left, left + 47):
            outer = column - 1 if column == left else column + 1
            rows = slice(top, top + 40)
            steps_result.append(np.abs(result[rows, column] - result[rows, outer]).mean())
            steps_source.append(np.abs(picture[rows, column].astype(float) - picture[rows, outer]).mean())
    print(f"2b. Seam across the mask border, {count} renders repainted with their own caption")
    print(
        f"   mean colour step: result {np.mean(steps_result):.2f}, source {np.mean(steps_source):.2f} (0-255)"
    )


def live_speed(engine: Engine, steps: int, strength: float, runs: int) -> None:
    rng = np.random.default_rng(3)
    info = engine.model_info
    scene = sample_attributes(rng)
    sketch = draw_sketch(scene, rng)
    request = GenerationRequest(
        mode=Mode.IMAGE_TO_IMAGE,
        prompt=prompt_for(scene, rng),
        init_image=sketch,
        strength=strength,
        steps=steps,
        model=info.source,
        guidance_scale=info.guidance_scale,
        scheduler=info.scheduler,
    )
    engine.generate(request)
    durations = []
    for seed in range(runs):
        started = time.perf_counter()
        engine.generate(request.replace(seed=seed))
        durations.append(time.perf_counter() - started)
    median = statistics.median(durations)
    print(
        f"\n3. Live painting: {steps} steps at strength {strength} ({int(steps * strength)} denoising steps)"
    )
    print(
        f"   {median * 1000:.0f} ms per update (median of {runs}) = {1 / median:.1f} updates/s (target >= 3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--strength", type=float, default=0.7)
    parser.add_argument("--live-steps", type=int, default=8)
    parser.add_argument("--live-strength", type=float, default=0.5)
    args = parser.parse_args()
    engine = Engine()
    info = engine.load_model(args.model)
    print(
        f"model {info.name}, {info.width}x{info.height}, {info.steps} steps, {info.scheduler}, {info.device}"
    )
    classifier = AttributeClassifier.load()
    sketch_adherence(engine, classifier, args.count, args.strength)
    inpainting(engine, classifier, max(args.count // 2, 1))
    live_speed(engine, args.live_steps, args.live_strength, runs=20)


if __name__ == "__main__":
    main()
