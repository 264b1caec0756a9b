"""Preview overhead: a raw diffusers pipeline call with no callback against the engine with a
preview every step, same model, steps, seed and size. Prints a table; the ratio is the overhead.

    python benchmarks/preview_overhead.py                      # CPU, the embedded model
    python benchmarks/preview_overhead.py --random sd15 --device cuda --size 512   # GPU, SD 1.5 shapes

Target: ratio <= 1.03 on both.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from studio.engine.engine import Engine
from studio.engine.loading import EMBEDDED_MODEL_DIR
from studio.engine.random_models import save_random_model
from studio.engine.request import GenerationRequest, Mode, PreviewKind, PreviewMethod
from studio.engine.schedulers import make_scheduler


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model folder (default: the embedded model)")
    parser.add_argument("--random", choices=["tiny", "sd15"], help="build a random-weight model instead")
    parser.add_argument("--device", default=None)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = args.model or str(EMBEDDED_MODEL_DIR)
    if args.random:
        model = str(save_random_model(Path(tempfile.mkdtemp()) / args.random, kind=args.random))
    engine = Engine(device=args.device)
    info = engine.load_model(model)
    size = args.size or info.width
    pipeline = engine._model.pipelines[Mode.TEXT_TO_IMAGE]  # the very pipeline the engine runs
    request = GenerationRequest(
        prompt="a sunset with the sun on the left over snowy mountains and a lake",
        seed=1,
        steps=args.steps,
        width=size,
        height=size,
        scheduler=info.scheduler,
        guidance_scale=info.guidance_scale,
        model=model,
    )

    def raw_call() -> None:
        pipeline.scheduler = make_scheduler(request.scheduler, engine._model.scheduler_config)
        pipeline(
            request.prompt,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            height=size,
            width=size,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="np",
        )
        _sync(engine.device)

    def engine_call(kind: PreviewKind, method: PreviewMethod = PreviewMethod.LINEAR) -> None:
        previews = []
        engine.generate(
            request.replace(preview_kind=kind, preview_method=method),
            on_step=lambda e: previews.append(e.preview),
        )
        _sync(engine.device)
        assert len(previews) == request.steps and previews[-1] is not None

    runs = {
        "raw diffusers, no callback": raw_call,
        "engine, x_t preview every step": lambda: engine_call(PreviewKind.NOISY_LATENT),
        "engine, x0 preview every step": lambda: engine_call(PreviewKind.PREDICTED_CLEAN),
    }
    for run in runs.values():  # warm-up: kernels, allocator, caches
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so drifts in clock speed hit all variants alike
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)

    device_name = (
        torch.cuda.get_device_name() if engine.device.type == "cuda" else f"CPU x{torch.get_num_threads()}"
    )
    print(f"model {info.name}, {size}x{size}, {args.steps} steps, {info.scheduler}, device {device_name}")
    baseline = statistics.median(times["raw diffusers, no callback"])
    print(f"{'variant':34} {'median s':>9} {'min s':>8} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:34} {median:9.3f} {min(values):8.3f} {median / baseline:6.3f}")


if __name__ == "__main__":
    main()
