"""The forward-process explorer's cost: how long the Forward tab waits for its stops, by canvas size.

    python benchmarks/forward_process.py [--sizes 128 256 512] [--repeats 3]

Each exploration encodes a Landscapes render (scaled to the canvas size) once and decodes x_0 and 20
noised stops with the full VAE, as the app's Forward tab asks for them: with "exact" resolution at
the canvas size, with the model's own (the default) at its pixel count, as runs work. Prints the
median time to the first stop (x_0: what the tab shows first) and to all 21, and the latent's mean
and spread at the last stop (t = 999: unit Gaussian noise should read about 0 and 1).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import numpy as np
import torch
from PIL import Image

from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, Mode
from studio.training.world import render_scene, sample_attributes


def explore_once(engine: Engine, picture: np.ndarray, resolution: str) -> tuple[float, float, list]:
    frames, arrived = [], []
    started = time.perf_counter()

    def on_frame(frame) -> None:
        frames.append(frame)
        arrived.append(time.perf_counter() - started)

    request = GenerationRequest(mode=Mode.IMAGE_TO_IMAGE, init_image=picture, seed=1, resolution=resolution)
    engine.explore_forward(request, on_frame)
    return arrived[0], arrived[-1], frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    engine = Engine(device="cpu")
    info = engine.load_model("")
    rng = np.random.default_rng(0)
    render = Image.fromarray(render_scene(sample_attributes(rng), rng))
    machine = platform.processor() or platform.machine()
    print(f"{machine}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"embedded model, VAE decode {info.decode_precision}")
    print("| canvas | resolution | first stop (x_0) | all 21 stops | last stop: latent mean, spread |")
    print("| --- | --- | --- | --- | --- |")
    rows = [(size, "exact") for size in arguments.sizes] + [(max(arguments.sizes), "native")]
    for size, resolution in rows:
        picture = np.asarray(render.resize((size, size), Image.Resampling.BICUBIC))
        explore_once(engine, picture, resolution)  # warm-up: first-call allocations
        runs = [explore_once(engine, picture, resolution) for _ in range(arguments.repeats)]
        first = statistics.median(run[0] for run in runs)
        every = statistics.median(run[1] for run in runs)
        last = runs[-1][2][-1]
        print(f"| {size}x{size} | {resolution} | {first * 1000:.0f} ms | {every * 1000:.0f} ms | "
              f"{last.latent_mean:+.3f}, {last.latent_std:.3f} |")


if __name__ == "__main__":
    main()
