"""Steering a run part-way with the embedded model: paint a sun into the left third of the step-K
picture and see where the finished picture's sun ends up.

    python benchmarks/steering.py [--seeds 20] [--at 8 12 16 20]

For each seed, "a sunny day with green grass" (a prompt that names no sun) runs to its end once
untouched, and once per K paused after step K of 25: a yellow disc, the world's sun colour, is
painted into the left third of the model's guess of the finished picture, and the run resumes from
there. Two more rows at the first K: the prompt changed to "... and the sun on the left" with and
without the painted sun. The attribute classifier (trained on renders only) says whether each result
has a sun and in which third. Also checked: a pause with no edit gives the untouched run's pixels.
"""

from __future__ import annotations

import argparse
import collections
import time

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import numpy as np
from PIL import Image, ImageDraw

from studio.engine.control import RunControl
from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, PausedEvent, Steer
from studio.training.attributes import AttributeClassifier
from studio.training.sketches import BODY
from studio.training.world import BODY_CENTRE_X, SIZE

PROMPT = "a sunny day with green grass"


def with_sun_on_the_left(picture: np.ndarray) -> np.ndarray:
    image = Image.fromarray(picture)
    scale = image.width / SIZE
    x, y, radius = BODY_CENTRE_X["left"] * scale, 28 * scale, 11 * scale
    disc = [x - radius, y - radius, x + radius, y + radius]
    ImageDraw.Draw(image).ellipse(disc, fill=BODY[("sun", "day")])
    return np.asarray(image)


LEFT_PROMPT = "a sunny day with green grass and the sun on the left"


def run(engine: Engine, request: GenerationRequest, pause_at: int | None, edit, prompt=None) -> np.ndarray:
    control = RunControl()

    def on_step(event) -> None:
        if event.step == pause_at:
            control.pause()

    def on_pause(event: PausedEvent) -> None:
        image = edit(event.picture) if edit else None
        control.resume(Steer(event.step, image=image, prompt=prompt) if image is not None or prompt else None)

    return engine.generate(request, on_step=on_step, control=control, on_pause=on_pause).images[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--at", type=int, nargs="+", default=[8, 12, 16, 20])
    args = parser.parse_args()
    engine = Engine(device="cpu")
    info = engine.load_model("")
    classifier = AttributeClassifier.load()
    print(f"precision: {info.precision_reason}")
    print(f"Embedded model, '{PROMPT}', {info.steps} steps, {info.scheduler}, "
          f"guidance {info.guidance_scale}")
    exact_resumes = 0
    first = args.at[0]
    rows = [("untouched", None, None, None)]
    rows += [(f"sun painted at step {k}", k, with_sun_on_the_left, None) for k in args.at]
    rows += [
        (f"prompt '...on the left' at step {first}", first, None, LEFT_PROMPT),
        (f"both at step {first}", first, with_sun_on_the_left, LEFT_PROMPT),
    ]
    for label, pause_at, edit, prompt in rows:
        found = collections.Counter()
        started = time.perf_counter()
        for seed in range(args.seeds):
            request = GenerationRequest(
                prompt=PROMPT, seed=seed, model="", steps=info.steps,
                guidance_scale=info.guidance_scale, scheduler=info.scheduler,
            )
            picture = run(engine, request, pause_at, edit, prompt)
            judged = classifier.classify(picture)[0]
            found[f"{judged['body']} {judged['body_pos']}"] += 1
            if pause_at is None and seed < 5:  # a pause with no edit must change nothing
                resumed = run(engine, request, first, None)
                exact_resumes += int(np.array_equal(resumed, picture))
        seconds = (time.perf_counter() - started) / args.seeds
        summary = ", ".join(f"{name}: {count}" for name, count in found.most_common())
        print(f"   {label:36} sun in the left third {found['sun left']:2} of {args.seeds}   "
              f"({summary}; {seconds:.2f} s per image)")
    print(f"   pause + resume without an edit equal to the untouched run: {exact_resumes} of 5 seeds")


if __name__ == "__main__":
    main()
