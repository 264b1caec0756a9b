"""Any canvas size: a 512x384 sketch with the embedded model, native resolution against exact.

    python benchmarks/any_canvas_size.py [--count 40] [--exact-count 20] [--skip-sd15]

1. The embedded model (trained at 128x128) on 512x384 sketches: crude sketches drawn by code from
   random world attributes, stretched to 512x384 as a person would paint them, run image-to-image
   with a prompt from the same attributes and the same seed under four sizes:
     native   512x384 out; the model runs at 144x112 (its pixel count, 4:3) and the result is upscaled
     144x112  exact, the sketch scaled to 144x112 (what native runs before its upscale)
     128x96   exact, the sketch scaled to 128x96
     512x384  exact, at the canvas size (the old behaviour)
   The attribute classifier (trained on renders only) reads the attributes back from each result.
   Printed: accuracy against the sketched attributes, how often native's judgement equals the
   smaller runs', and seconds per image (and the upscale alone).
2. The Stable Diffusion 1.5 architecture with random weights (time only: random weights draw
   nothing): 1024x768 out, native (592x440 plus a refine pass at strength 0.35) against exact.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import numpy as np

from studio.engine import images
from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, Mode, Resolution
from studio.engine.resolution import native_working_size
from studio.training.attributes import AttributeClassifier, score
from studio.training.captions import prompt_for
from studio.training.sketches import draw_sketch
from studio.training.world import sample_attributes

SKETCHED = ("time", "body", "body_pos", "mountains", "ground", "trees")
CANVAS = (512, 384)


def _run(engine: Engine, request: GenerationRequest) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    image = engine.generate(request).images[0]
    return image, time.perf_counter() - started


def embedded_on_a_large_canvas(engine: Engine, count: int, exact_count: int, strength: float) -> None:
    info = engine.model_info
    classifier = AttributeClassifier.load()
    working = native_working_size(*CANVAS, info.width, info.height)
    sizes = {"native": CANVAS, f"{working[0]}x{working[1]}": working, "128x96": (128, 96), "512x384": CANVAS}
    rng = np.random.default_rng(1)
    results: dict[str, list[np.ndarray]] = {name: [] for name in sizes}
    seconds: dict[str, list[float]] = {name: [] for name in sizes}
    upscale_seconds = []
    scenes = []
    for index in range(count):
        scene = sample_attributes(rng)
        prompt = prompt_for(scene, rng)
        sketch = images.resize(draw_sketch(scene, rng), *CANVAS)  # painted on a 512x384 canvas
        scenes.append(scene)
        for name, (width, height) in sizes.items():
            if name == "512x384" and index >= exact_count:
                continue  # the slow old behaviour: fewer sketches
            request = GenerationRequest(
                mode=Mode.IMAGE_TO_IMAGE,
                prompt=prompt,
                init_image=images.resize(sketch, width, height),
                strength=strength,
                seed=index,
                model=info.source,
                steps=info.steps,
                guidance_scale=info.guidance_scale,
                scheduler=info.scheduler,
                resolution=Resolution.NATIVE if name == "native" else Resolution.EXACT,
            )
            image, elapsed = _run(engine, request)
            results[name].append(image)
            seconds[name].append(elapsed)
            if name != "native" and (width, height) == working:
                started = time.perf_counter()
                images.resize(image, *CANVAS)
                upscale_seconds.append(time.perf_counter() - started)

    print(f"\n1. Embedded model ({info.width}x{info.height}), {count} sketches painted at 512x384, "
          f"image-to-image strength {strength}, {info.steps} steps")
    judged = {name: classifier.classify(np.stack(found)) for name, found in results.items()}
    header = "   run        " + "".join(f"{name:>10}" for name in SKETCHED) + "     mean   s/image"
    print(header)
    for name, found in judged.items():
        expected = [{key: getattr(scene, key) for key in SKETCHED} for scene in scenes[: len(found)]]
        rates = score(found, expected)  # body_pos only where a body was asked for
        row = "".join(f"{rates[key] * 100:9.1f}%" if key in rates else f"{'-':>10}" for key in SKETCHED)
        mean = statistics.mean(rates.values()) * 100
        print(f"   {name:10} {row} {mean:7.1f}%  {statistics.mean(seconds[name]):7.2f}")
    for other in list(sizes)[1:3]:
        same = [
            statistics.mean(a[key] == b[key] for key in SKETCHED)
            for a, b in zip(judged["native"], judged[other], strict=True)
        ]
        agreement = statistics.mean(same) * 100
        print(f"   native's judgement equals the {other} run's: {agreement:.1f}% of attributes")
    upscale_ms = statistics.mean(upscale_seconds) * 1000
    print(f"   upscale {working[0]}x{working[1]} -> 512x384 (Lanczos): {upscale_ms:.1f} ms")


def sd15_timing(steps: int) -> None:
    from studio.training.random_models import save_random_model

    with tempfile.TemporaryDirectory() as folder:
        model = save_random_model(Path(folder) / "sd15", kind="sd15")
        engine = Engine(device="cpu")
        info = engine.load_model(str(model))
        print(f"\n2. SD 1.5 architecture (random weights), {steps} steps, 1024x768 out, "
              f"precision {info.precision}/{info.decode_precision}")
        base = GenerationRequest(
            prompt="a lake", steps=steps, width=1024, height=768, model=str(model), seed=1
        )
        for label, request in (
            ("native + refine 0.35", base),
            ("native, no refine", base.replace(refine_strength=0)),
            ("exact 1024x768", base.replace(resolution=Resolution.EXACT)),
        ):
            result = engine.generate(request)
            working = "x".join(map(str, result.working_size)) if result.working_size else "1024x768"
            refine = f"refine {result.refine_strength:g}"
            print(f"   {label:22} ran at {working:9} {refine:11} {result.elapsed_s:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument(
        "--exact-count", type=int, default=20, help="sketches for the slow 512x384 exact run"
    )
    parser.add_argument("--strength", type=float, default=0.75)
    parser.add_argument("--sd15-steps", type=int, default=10)
    parser.add_argument("--skip-sd15", action="store_true")
    args = parser.parse_args()
    engine = Engine(device="cpu")
    info = engine.load_model("")
    print(f"precision: {info.precision_reason}")
    embedded_on_a_large_canvas(engine, args.count, args.exact_count, args.strength)
    if not args.skip_sd15:
        sd15_timing(args.sd15_steps)


if __name__ == "__main__":
    main()
