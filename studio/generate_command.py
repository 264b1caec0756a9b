"""`python main.py generate`: one request through the engine, PNGs with their parameters out."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from studio.engine.metadata import read_request
from studio.engine.picture_files import read_mask, read_picture
from studio.engine.request import (
    MAX_SEED,
    GenerationRequest,
    Mode,
    PausedEvent,
    PreviewKind,
    PreviewMethod,
    RequestError,
    Steer,
    StepEvent,
)


def _mask_to_image_size(mask: np.ndarray, image: np.ndarray, scale: bool) -> np.ndarray:
    height, width = image.shape[:2]
    if not scale:
        raise RequestError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the init image is {width}x{height}: "
            "pass --scale-mask to scale the mask to the image"
        )
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.BILINEAR))


def _mode_for(init_image: np.ndarray | None, mask: np.ndarray | None) -> Mode:
    if mask is not None:
        return Mode.INPAINT
    return Mode.IMAGE_TO_IMAGE if init_image is not None else Mode.TEXT_TO_IMAGE


def build_request(
    args: argparse.Namespace, defaults, base: GenerationRequest | None = None
) -> GenerationRequest:
    """The request the options ask for: each option given wins, then `base` (the --from file's run),
    then the model's default (`defaults`: its ModelInfo) or the request's own."""
    if base is None and args.prompt is None:
        raise RequestError("--prompt is required (or --from FILE.png to repeat a run)")
    fallback = base or GenerationRequest(
        steps=defaults.steps, guidance_scale=defaults.guidance_scale, scheduler=defaults.scheduler
    )

    def given(value, field: str):
        return value if value is not None else getattr(fallback, field)

    init_image = read_picture(args.init, "init image") if args.init else None
    mask = read_mask(args.mask, "mask") if args.mask else None
    if mask is not None and init_image is None and fallback.init_image is None:
        raise RequestError("--mask needs --init: the image to repaint")
    init_image, mask = given(init_image, "init_image"), given(mask, "mask")
    if mask is not None and init_image is not None and mask.shape != init_image.shape[:2]:
        mask = _mask_to_image_size(mask, init_image, getattr(args, "scale_mask", False))
    steers = fallback.steers
    if args.steer_at is not None:
        steers += (_steer_from(args),)
    elif {args.steer_image, args.steer_mask, args.steer_prompt, args.steer_cfg} != {None}:
        raise RequestError("--steer-image, --steer-mask, --steer-prompt and --steer-cfg need --steer-at K")
    seed = args.seed if args.seed is not None else base.seed if base else random.randint(0, MAX_SEED)
    width, height = args.size if args.size else (None, None)
    return fallback.replace(
        steers=steers,
        prompt=given(args.prompt, "prompt"),
        negative_prompt=given(args.negative, "negative_prompt"),
        mode=_mode_for(init_image, mask),
        seed=seed,
        steps=given(args.steps, "steps"),
        guidance_scale=given(args.cfg, "guidance_scale"),
        width=given(width, "width"),
        height=given(height, "height"),
        resolution=given(args.resolution, "resolution"),
        refine_strength=given(args.refine, "refine_strength"),
        strength=given(args.strength, "strength"),
        scheduler=given(args.scheduler, "scheduler"),
        init_image=init_image,
        mask=mask,
        mask_feather_px=given(args.feather, "mask_feather_px"),
        inpaint_only_masked=given(args.only_masked, "inpaint_only_masked"),
        batch_count=given(args.batch, "batch_count"),
        preview_kind=PreviewKind(args.preview_kind) if args.previews else PreviewKind.OFF,
        preview_method=PreviewMethod(args.preview_method),
        model=given(args.model, "model"),
        precision=given(args.precision, "precision"),
        decode_precision=given(args.decode_precision, "decode_precision"),
        loras=tuple(given(args.lora, "loras")),
        tiny_decoder=given(args.tiny_decoder, "tiny_decoder"),
    )


def _steer_from(args: argparse.Namespace) -> Steer:
    steer = Steer(
        at_step=args.steer_at,
        image=read_picture(args.steer_image, "steer image") if args.steer_image else None,
        mask=read_mask(args.steer_mask, "steer mask") if args.steer_mask else None,
        prompt=args.steer_prompt,
        guidance_scale=args.steer_cfg,
    )
    if not steer.changes_anything:
        raise RequestError("--steer-at needs what to change: --steer-image, --steer-prompt or --steer-cfg")
    return steer


def output_paths(out: Path | None, seeds: tuple[int, ...]) -> list[Path]:
    if out is None:
        return [Path(f"studio-{seed}.png") for seed in seeds]
    if len(seeds) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{index}{out.suffix or '.png'}") for index in range(len(seeds))]


def check_output_folder(out: Path | None) -> None:
    """Before the model loads and the run starts: a folder that cannot take the PNGs is said now,
    not after minutes of work."""
    folder = (out or Path("studio.png")).parent
    if out is not None and out.is_dir():
        raise RequestError(f"--out {out} is a folder: give a file name, e.g. {out / 'result.png'}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or error
        raise RequestError(f"cannot write to {folder}: {reason}; nothing was generated") from None


class _RunWatcher:
    """What the command shows and writes while a run goes: a tqdm bar, the --previews pictures, and
    the --x0-at picture (the run pauses there, writes it and carries on unchanged)."""

    def __init__(self, previews: Path | None, x0_at: int | None, paths: list[Path]) -> None:
        from tqdm import tqdm  # comes with huggingface_hub; a well-kept progress bar

        from studio.engine.control import RunControl

        self.previews, self.x0_at, self.paths = previews, x0_at, paths
        if previews:
            previews.mkdir(parents=True, exist_ok=True)
        self.progress = tqdm(unit="step", file=sys.stderr, dynamic_ncols=True)
        self.control = RunControl()

    def on_step(self, event: StepEvent) -> None:
        progress = self.progress
        if progress.total is None:  # image-to-image runs fewer steps than asked; known from the first event
            progress.reset(total=event.total_steps * event.batch_count)
        progress.set_description(f"image {event.image_index + 1}/{event.batch_count}")
        progress.set_postfix(noise=f"{event.noise_level:.2f}")
        progress.update(1)
        if self.previews and event.preview is not None:
            preview = Image.fromarray(event.preview)
            preview.save(self.previews / f"image{event.image_index:02d}-step{event.step:03d}.png")
        if event.step == self.x0_at and not event.refining:
            self.control.pause()

    def on_pause(self, event: PausedEvent) -> None:
        path = self.paths[event.image_index]
        picture_path = path.with_name(f"{path.stem}-x0-step{event.step}.png")
        picture_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(event.picture).save(picture_path)
        self.progress.write(f"{picture_path}  the guess of the finished picture after step {event.step}")
        self.control.resume()


def run_generate(args: argparse.Namespace) -> int:
    from studio.engine.engine import Engine
    from studio.engine.metadata import save_png

    check_output_folder(args.out)
    engine = Engine(
        device=args.device,
        attention_slicing=args.low_memory,
        vae_tiling=args.low_memory,
        single_file_config=args.config,
        allow_pickled_weights=args.allow_pickle,
    )
    base = read_request(args.from_png) if args.from_png else None
    # The model and precisions to load: the options', else the file's, else the request's defaults.
    recorded = base or GenerationRequest()
    model = args.model if args.model is not None else recorded.model
    precision = args.precision or recorded.precision.value
    decode_precision = args.decode_precision or recorded.decode_precision.value
    print("loading model ...", file=sys.stderr)
    defaults = engine.load_model(model, precision, decode_precision)
    print(f"precision: {defaults.precision_reason}", file=sys.stderr)
    request = build_request(args, defaults, base)
    paths = output_paths(args.out, tuple(request.seed_of(i) for i in range(request.batch_count)))
    watcher = _RunWatcher(args.previews, args.x0_at, paths)
    try:
        result = engine.generate(
            request, on_step=watcher.on_step, control=watcher.control, on_pause=watcher.on_pause
        )
    finally:
        watcher.progress.close()
    for path, image, seed in zip(paths, result.images, result.seeds, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(path, image, result.request, seed, result)
        print(f"{path}  seed {seed}")
    for note in result.notes:  # the faults the run survived (a retry in fp32, out of memory)
        print(note, file=sys.stderr)
    print(f"{len(result.images)} image(s) in {result.elapsed_s:.1f} s", file=sys.stderr)
    return 0
