"""Preview overhead: a raw diffusers pipeline call with no callback against the engine with a
preview every step, same model, steps, seed and size. Prints a table; the ratio is the overhead.

    python benchmarks/preview_overhead.py                      # CPU, the embedded model
    python benchmarks/preview_overhead.py --random sd15 --device cuda --size 512   # GPU, SD 1.5 shapes

Targets: ratio <= 1.03 for the linear previews; the tiny preview decoder (models that ship one)
<= 10% of a step, and its last-step preview within >= 25 dB PSNR of the final picture at full size.
The fidelity table compares each preview method's last-step picture with the final image, over
several prompts (linear previews are upscaled bilinearly, as the canvas shows them).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import numpy as np
import torch
from PIL import Image

from studio.engine.engine import Engine
from studio.engine.loading import EMBEDDED_MODEL_DIR
from studio.engine.request import GenerationRequest, Mode, PreviewKind, PreviewMethod
from studio.engine.schedulers import make_scheduler
from studio.training.random_models import save_random_model


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

    def engine_call(
        kind: PreviewKind, method: PreviewMethod = PreviewMethod.LINEAR, prompt: str | None = None
    ) -> float:
        """Runs the request; returns the PSNR of the last preview against the final picture."""
        previews = []
        result = engine.generate(
            request.replace(preview_kind=kind, preview_method=method, prompt=prompt or request.prompt),
            on_step=lambda e: previews.append(e.preview),
        )
        _sync(engine.device)
        assert len(previews) == request.steps and previews[-1] is not None
        return _psnr_at_full_size(previews[-1], result.images[0])

    runs = {
        "raw diffusers, no callback": raw_call,
        "engine, x_t preview every step": lambda: engine_call(PreviewKind.NOISY_LATENT),
        "engine, x0 preview every step": lambda: engine_call(PreviewKind.PREDICTED_CLEAN),
    }
    if engine._model.tiny_preview is not None:
        runs["engine, x0 tiny decoder every step"] = lambda: engine_call(
            PreviewKind.PREDICTED_CLEAN, PreviewMethod.TINY
        )
    runs["engine, x0 full VAE every step"] = lambda: engine_call(
        PreviewKind.PREDICTED_CLEAN, PreviewMethod.VAE
    )
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
    step_ms = 1000 * baseline / args.steps
    print(f"{'variant':36} {'median s':>9} {'min s':>8} {'ratio':>6} {'ms/step':>8} {'% of step':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        extra_ms = 1000 * (median - baseline) / args.steps
        print(
            f"{name:36} {median:9.3f} {min(values):8.3f} {median / baseline:6.3f} "
            f"{extra_ms:8.2f} {100 * extra_ms / step_ms:8.1f}%"
        )
    print(f"(a plain step: {step_ms:.1f} ms)")

    methods = [PreviewMethod.LINEAR, PreviewMethod.VAE]
    if engine._model.tiny_preview is not None:
        methods.insert(1, PreviewMethod.TINY)
    prompts = [
        "a sunny day with the sun on the left over grey mountains and green grass with a few trees",
        "a starry night, a moon on the right, snowy mountains, a snowfield with a pine forest",
        "a sunset with the sun in the middle over purple mountains and a lake",
        "daytime over a desert with clouds",
        "dusk over snow-capped mountains and sand dunes, the sun on the right",
        "nighttime over a meadow with many trees, the moon on the left",
        "a clear day with the sun in the center over the sea",
        "an evening sunset over rocky mountains and snowy ground with some pine trees",
    ]
    print(f"\nlast-step preview against the final picture, {len(prompts)} prompts, full size")
    print(f"{'method':10} {'mean PSNR dB':>13} {'min dB':>7}")
    for method in methods:
        values = [engine_call(PreviewKind.NOISY_LATENT, method, prompt) for prompt in prompts]
        print(f"{method.value:10} {statistics.mean(values):13.2f} {min(values):7.2f}")


def _psnr_at_full_size(preview: np.ndarray, final: np.ndarray) -> float:
    height, width = final.shape[:2]
    if preview.shape[:2] != (height, width):  # the canvas scales small previews up smoothly
        preview = np.asarray(Image.fromarray(preview).resize((width, height), Image.BILINEAR))
    error = np.mean((preview.astype(np.float64) - final.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


if __name__ == "__main__":
    main()
