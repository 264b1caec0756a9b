"""Speed on the processor at hand: precision auto vs fp32, bf16 decode fidelity, preview cost per
step, the LCM path and cold start, measured side by side in one run and printed as one table.

    python benchmarks/cpu_speed.py                 # everything (SD 1.5 architecture: ~10 minutes on 2 cores)
    python benchmarks/cpu_speed.py --skip-sd15     # the embedded model's rows only

The SD 1.5 rows use the Stable Diffusion 1.5 architecture with random weights (speed does not depend
on the weights), saved once in fp16 to a temporary folder and loaded by the engine in fp32 like any
folder. Write the table into benchmarks/RESULTS.md with the processor it names.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import ROOT

from studio.engine import decoding
from studio.engine import precision as precision_module
from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, Mode, PreviewKind, PreviewMethod, StepEvent

PROMPT = "a sunset with the sun on the left over snowy mountains and a lake"
EMBEDDED_PROMPTS = [
    "a sunny day with green grass and the sun on the left",
    "a starry night over snowy mountains with a lake",
    "a sunset over a desert with few clouds",
    "a cloudy day with pine trees on green grass",
    "dusk over purple mountains and a lake with the moon in the center",
    "a clear day over snow-capped mountains and many pine trees",
    "a sunny day over sand dunes with the sun on the right",
    "an evening with some clouds over a meadow",
]


def step_seconds(engine: Engine, request: GenerationRequest) -> tuple[float, float]:
    """(median seconds per denoising step after the first, whole run seconds)."""
    stamps: list[float] = []
    started = time.perf_counter()

    def on_step(_event: StepEvent) -> None:
        stamps.append(time.perf_counter())

    engine.generate(request, on_step=on_step)
    total = time.perf_counter() - started
    gaps = np.diff([started, *stamps])[1:]  # the first step includes the prompt encoding
    return float(np.median(gaps)), total


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def time_call(function, repeats: int = 3) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def sd15_rows(rows: list[tuple[str, str, str]], steps: int) -> None:
    from diffusers import AutoencoderTiny

    from studio.training.random_models import sd15_pipeline

    folder = Path(tempfile.mkdtemp()) / "sd15"
    started = time.perf_counter()
    sd15_pipeline().to(torch.float16).save_pretrained(folder, safe_serialization=True)
    print(f"built the SD 1.5 architecture in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    request = GenerationRequest(
        prompt=PROMPT, seed=1, steps=steps, width=512, height=512, model=str(folder),
        preview_kind=PreviewKind.NOISY_LATENT, preview_method=PreviewMethod.LINEAR,
    )
    engine = Engine(device="cpu")
    started = time.perf_counter()
    info = engine.load_model(str(folder), "auto", "auto")
    load_s = time.perf_counter() - started
    print(f"auto: {info.precision_reason} (load with trials {load_s:.0f} s)", file=sys.stderr)
    fp32_step, fp32_total = step_seconds(engine, request.replace(precision="fp32", decode_precision="fp32"))
    auto_step, auto_total = step_seconds(engine, request)
    rows.append((
        "SD 1.5 arch, 512x512, guided step with linear previews: fp32 / auto",
        f"{fp32_step:.2f} s / {auto_step:.2f} s per step = {fp32_step / auto_step:.2f}x "
        f"(auto chose UNet {info.precision}, decode {info.decode_precision}); "
        f"{steps}-step image {fp32_total:.1f} s / {auto_total:.1f} s",
        ">= 2.5x with AMX",
    ))
    rows.append(("SD 1.5 arch, first load with auto's trials (cached after)", f"{load_s:.0f} s", "report"))

    vae = engine._model.pipelines[Mode.TEXT_TO_IMAGE].vae
    decode_psnr, decode_gain = precision_module.trial_decode(vae, torch.bfloat16, size=512)
    rows.append((
        "SD 1.5 arch VAE, bf16 decode vs fp32 (trial picture, 512x512)",
        f"{decode_psnr:.1f} dB, {decode_gain:.2f}x as fast (random weights: numerics only)",
        ">= 40 dB or fp32",
    ))

    # Preview cost per step, relative to auto's step.
    latents = torch.randn(1, 4, 64, 64)
    model = engine._model
    linear_s = time_call(lambda: model.linear_preview.to_rgb(latents), repeats=20)
    tiny = AutoencoderTiny().eval()  # TAESD's architecture, random weights: the speed is the same
    with torch.inference_mode():
        tiny_fp32_s = time_call(lambda: tiny.decode(latents, return_dict=False))
        # As the engine runs it: under the decode's precision (bf16 where auto chose it).
        reduced = engine._precision.vae_autocast
        tiny.to(memory_format=torch.channels_last if reduced else torch.contiguous_format)
        with precision_module.decode_autocast(reduced):
            tiny_s = time_call(lambda: tiny.decode(latents, return_dict=False))
    vae_s = time_call(lambda: decoding.decode(model, latents, engine._precision), repeats=1)
    rows.append((
        "SD 1.5 arch, preview per step: linear / TAESD-sized tiny decoder / full VAE, of the auto step",
        f"{linear_s * 1e6:.0f} µs ({linear_s / auto_step:.3%}) / {tiny_s * 1000:.0f} ms "
        f"({tiny_s / auto_step:.1%}; fp32 {tiny_fp32_s * 1000:.0f} ms) / "
        f"{vae_s:.2f} s ({vae_s / auto_step:.0%})",
        "linear <= 1%, tiny <= 10%",
    ))

    lcm_request = request.replace(scheduler="lcm", steps=4, guidance_scale=1.0)
    lcm_step, lcm_total = step_seconds(engine, lcm_request)
    rows.append((
        "SD 1.5 arch, LCM scheduler, 4 steps, guidance 1 (no CFG), 512x512, auto",
        f"{lcm_total:.1f} s per image ({lcm_step:.2f} s per step)",
        "report",
    ))


def embedded_rows(rows: list[tuple[str, str, str]]) -> None:
    engine = Engine(device="cpu")
    info = engine.load_model("", "auto", "auto")
    print(f"embedded auto: {info.precision_reason}", file=sys.stderr)
    base = GenerationRequest(prompt=EMBEDDED_PROMPTS[0], seed=0, steps=25, preview_kind=PreviewKind.OFF)
    fp32_times, auto_times, psnrs = [], [], []
    for index, prompt in enumerate(EMBEDDED_PROMPTS):
        request = base.replace(prompt=prompt, seed=index)
        started = time.perf_counter()
        exact = engine.generate(request.replace(precision="fp32", decode_precision="fp32")).images[0]
        fp32_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        chosen = engine.generate(request).images[0]
        auto_times.append(time.perf_counter() - started)
        psnrs.append(psnr(exact, chosen))
    rows.append((
        "embedded, 128x128, 25 steps: fp32 / auto, s per image",
        f"{statistics.median(fp32_times):.3f} s / {statistics.median(auto_times):.3f} s "
        f"(auto chose UNet {info.precision}, decode {info.decode_precision})",
        "never slower",
    ))
    rows.append((
        f"embedded, auto vs fp32 pictures, {len(psnrs)} prompts",
        f"PSNR min {min(psnrs):.1f} dB, median {statistics.median(psnrs):.1f} dB",
        ">= 40 dB or decode stays fp32",
    ))


def import_seconds(code: str) -> float:
    timed = f"import time; started = time.perf_counter(); {code}; print(time.perf_counter() - started)"
    done = subprocess.run([sys.executable, "-c", timed], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def cold_start_rows(rows: list[tuple[str, str, str]], runs: int) -> None:
    parts = {
        "torch": "import torch",
        "diffusers": "import diffusers",
        "StableDiffusionPipeline": "from diffusers import StableDiffusionPipeline",
        "our engine": "import studio.engine.engine",
    }
    seconds = {name: min(import_seconds(code) for _ in range(runs)) for name, code in parts.items()}
    rows.append((
        "imports alone, fresh process: " + " / ".join(parts),
        " / ".join(f"{value:.2f} s" for value in seconds.values()),
        "report",
    ))
    out = Path(tempfile.mkdtemp())
    times = []
    for run in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "generate", "--prompt", EMBEDDED_PROMPTS[0],
             "--seed", str(run), "--out", str(out / f"{run}.png")],
            check=True, capture_output=True, env=os.environ | {"HF_HUB_OFFLINE": "1"},
        )
        times.append(time.perf_counter() - started)
    rows.append((
        "embedded: `main.py generate` process start to PNG (25 steps)",
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s ({runs} runs)",
        "<= 3 s",
    ))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "first_image.py")],
            check=True, capture_output=True, text=True,
            env=os.environ | {"QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")},
        )
        times.append(time.perf_counter() - started)
        print(done.stdout.strip(), file=sys.stderr)
    rows.append((
        "embedded: app launch to the first image on the canvas (Generate at once)",
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s ({runs} runs)",
        "<= 4 s",
    ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-sd15", action="store_true")
    parser.add_argument("--steps", type=int, default=4, help="SD 1.5 steps per timed image")
    parser.add_argument("--runs", type=int, default=3, help="cold-start runs")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    embedded_rows(rows)
    cold_start_rows(rows, args.runs)
    if not args.skip_sd15:
        sd15_rows(rows, args.steps)
    processor = precision_module.processor_name()
    print(f"processor: {processor}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"bf16 in hardware: {precision_module.cpu_has_bf16_hardware()}")
    print("| row | measured | target |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
