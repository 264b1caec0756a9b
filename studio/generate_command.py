"""`python main.py generate`: one request through the engine, PNGs with their parameters out."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from studio.engine.request import (
    MAX_SEED,
    GenerationRequest,
    Mode,
    Precision,
    PreviewKind,
    PreviewMethod,
    RequestError,
    StepEvent,
)


def _read_image(path: Path, what: str, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode))
    except FileNotFoundError:
        raise RequestError(f"{what} file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise RequestError(f"{what} {path} is not an image Pillow can read ({error})") from None


def build_request(args: argparse.Namespace, defaults) -> GenerationRequest:
    init_image = _read_image(args.init, "init image", "RGB") if args.init else None
    mask = _read_image(args.mask, "mask", "L") if args.mask else None
    if mask is not None and init_image is None:
        raise RequestError("--mask needs --init: the image to repaint")
    mode = (
        Mode.INPAINT
        if mask is not None
        else Mode.IMAGE_TO_IMAGE
        if init_image is not None
        else Mode.TEXT_TO_IMAGE
    )
    width, height = args.size if args.size else (None, None)
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        mode=mode,
        seed=args.seed if args.seed is not None else random.randint(0, MAX_SEED),
        steps=args.steps if args.steps is not None else defaults.steps,
        guidance_scale=args.cfg if args.cfg is not None else defaults.guidance_scale,
        width=width,
        height=height,
        strength=args.strength,
        scheduler=args.scheduler or defaults.scheduler,
        init_image=init_image,
        mask=mask,
        mask_feather_px=args.feather,
        inpaint_only_masked=args.only_masked,
        batch_count=args.batch,
        preview_kind=PreviewKind(args.preview_kind) if args.previews else PreviewKind.OFF,
        preview_method=PreviewMethod(args.preview_method),
        model=args.model,
        precision=Precision(args.precision),
        decode_precision=Precision(args.decode_precision),
        loras=tuple(args.lora),
        tiny_decoder=args.tiny_decoder,
    )


def output_paths(out: Path | None, seeds: tuple[int, ...]) -> list[Path]:
    if out is None:
        return [Path(f"studio-{seed}.png") for seed in seeds]
    if len(seeds) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{index}{out.suffix or '.png'}") for index in range(len(seeds))]


def run_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # comes with huggingface_hub; a well-kept progress bar

    from studio.engine.engine import Engine
    from studio.engine.metadata import save_png

    engine = Engine(
        device=args.device,
        attention_slicing=args.low_memory,
        vae_tiling=args.low_memory,
        single_file_config=args.config,
        allow_pickled_weights=args.allow_pickle,
    )
    print("loading model ...", file=sys.stderr)
    defaults = engine.load_model(args.model, args.precision, args.decode_precision)
    print(f"precision: {defaults.precision_reason}", file=sys.stderr)
    request = build_request(args, defaults)
    if args.previews:
        args.previews.mkdir(parents=True, exist_ok=True)
    progress = tqdm(unit="step", file=sys.stderr, dynamic_ncols=True)

    def on_step(event: StepEvent) -> None:
        if progress.total is None:  # image-to-image runs fewer steps than asked; known from the first event
            progress.reset(total=event.total_steps * event.batch_count)
        progress.set_description(f"image {event.image_index + 1}/{event.batch_count}")
        progress.set_postfix(noise=f"{event.noise_level:.2f}")
        progress.update(1)
        if args.previews and event.preview is not None:
            preview = Image.fromarray(event.preview)
            preview.save(args.previews / f"image{event.image_index:02d}-step{event.step:03d}.png")

    try:
        result = engine.generate(request, on_step=on_step)
    finally:
        progress.close()
    for path, image, seed in zip(
        output_paths(args.out, result.seeds), result.images, result.seeds, strict=True
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(path, image, request, seed, result)
        print(f"{path}  seed {seed}")
    print(f"{len(result.images)} image(s) in {result.elapsed_s:.1f} s", file=sys.stderr)
    return 0
