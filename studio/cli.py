"""Command line: `python main.py [gui] | generate | train | evaluate | recipe-trials | sheet ...`.

Heavy imports (torch, diffusers, Qt) happen inside each command, so `--help` and argument errors
are instant. A user's mistake ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from studio.engine.request import LoraWeight, Precision, Resolution  # numpy only: keeps --help instant
from studio.engine.resolution import DEFAULT_REFINE_STRENGTH

EXIT_USER_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512x512, got '{text}'") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    """Every command and option in one place, in the order `--help` lists them. Long because it is a
    flat list of declarations (nothing branches); split up, the order --help shows would be scattered."""
    parser = _OneLineParser(prog="main.py", description="Latent Studio: paint with latent diffusion.")
    commands = parser.add_subparsers(dest="command", parser_class=_OneLineParser)
    commands.add_parser("gui", help="open the painting app (the default)")

    generate = commands.add_parser(
        "generate",
        help="make images from a prompt, a sketch or a mask",
        description="Options left out take the model's defaults, or with --from the file's values.",
    )
    generate.add_argument("--from", dest="from_png", type=Path, metavar="FILE.png",
                          help="repeat the run a PNG of ours records; options given change it")
    generate.add_argument("--prompt", help="required unless --from")
    generate.add_argument("--negative", help="negative prompt")
    generate.add_argument("--seed", type=int, help="default: a random seed, printed")
    generate.add_argument("--steps", type=int, help="default: the model's")
    generate.add_argument("--cfg", type=float, help="guidance scale; default: the model's")
    generate.add_argument(
        "--size", type=_size, help="WxH output size; default: the init image's (or the model's)"
    )
    generate.add_argument(
        "--resolution",
        choices=[policy.value for policy in Resolution],
        help="native (default): the model runs at its own pixel count, scaled to --size; exact: at --size",
    )
    generate.add_argument(
        "--refine", type=float, metavar="STRENGTH",
        help="a second image-to-image pass at the output size after upscaling (0 = off); "
        f"default: {DEFAULT_REFINE_STRENGTH} for SD-class models up to 2x native, else off",
    )
    generate.add_argument(
        "--scheduler", help="ddim, ddpm, euler, 'euler a', 'dpm++ 2m', 'dpm++ 2m karras', lcm"
    )
    generate.add_argument("--init", type=Path, help="sketch or image to start from (image-to-image)")
    generate.add_argument("--strength", type=float, help="how far to depart from --init (0-1]; default 0.75")
    generate.add_argument("--mask", type=Path, help="white = repaint (inpainting; needs --init)")
    generate.add_argument("--scale-mask", action="store_true",
                          help="scale a mask of another size than the init image to the image's size")
    generate.add_argument("--feather", type=int, help="mask blur radius in pixels; default 4")
    generate.add_argument("--only-masked", action=argparse.BooleanOptionalAction,
                          help="inpaint a crop around the mask at the model's size")
    generate.add_argument("--model", help="model folder, .safetensors file or hub id; default: embedded")
    generate.add_argument("--config", help="local SD folder giving a single-file checkpoint its config")
    generate.add_argument("--allow-pickle", action="store_true", help="allow pickled .ckpt/.bin weights")
    generate.add_argument(
        "--lora",
        action="append",
        type=LoraWeight.parse,
        metavar="FILE[:WEIGHT]",
        help="a LoRA .safetensors file and its weight (default 1); repeatable",
    )
    generate.add_argument("--batch", type=int, help="number of images; image i uses seed + i")
    generate.add_argument("--out", type=Path, default=None, help="output PNG (batch: FILE-0.png, ...)")
    generate.add_argument("--previews", type=Path, help="folder for one preview PNG per step")
    generate.add_argument("--preview-kind", choices=["x_t", "x0"], default="x_t")
    generate.add_argument(
        "--preview-method",
        choices=["auto", "tiny", "linear", "vae"],
        default="auto",
        help="auto: the model's tiny preview decoder if it ships one, else linear; vae: exact, slow",
    )
    generate.add_argument(
        "--tiny-decoder", metavar="FOLDER",
        help="AutoencoderTiny folder (TAESD) for previews, for models that ship none",
    )
    generate.add_argument("--device", help="cuda, mps or cpu; default: the best available")
    generate.add_argument(
        "--precision",
        choices=[precision.value for precision in Precision],
        help="of the UNet. auto (default): fp16 on a GPU; on a CPU bf16 where one timed step shows it faster",
    )
    generate.add_argument(
        "--decode-precision",
        choices=[precision.value for precision in Precision],
        help="of the VAE decode. auto (default): bf16 only where a trial decode is faster and within 40 dB",
    )
    generate.add_argument("--low-memory", action="store_true", help="attention slicing and VAE tiling")
    steer = generate.add_argument_group("steering a run part-way (the app's pause, paint, resume)")
    steer.add_argument("--steer-at", type=int, metavar="K", help="after step K of the first pass")
    steer.add_argument("--steer-image", type=Path, metavar="EDIT.png",
                       help="replaces the model's guess of the finished picture where it differs from it")
    steer.add_argument("--steer-mask", type=Path, metavar="MASK.png", help="white = the edit may change it")
    steer.add_argument("--steer-prompt", help="the prompt from step K on")
    steer.add_argument("--steer-cfg", type=float, help="the guidance scale from step K on")
    steer.add_argument("--x0-at", type=int, metavar="K",
                       help="also write the step-K guess of the finished picture (OUT-x0-stepK.png): "
                       "paint on it and give it back as --steer-image")

    train = commands.add_parser("train", help="train the embedded Landscapes model")
    train.add_argument("--out", type=Path, help="model folder to write (a run from scratch)")
    train.add_argument(
        "--continue",
        dest="continue_from",
        nargs="?",
        const="",
        metavar="FOLDER",
        help="improve a trained folder (default: the embedded model); it is replaced only if better",
    )
    train.add_argument(
        "--part",
        choices=["diffusion", "decoder", "preview"],
        default=None,
        help="with --continue: text encoder + UNet (default), the VAE decoder, or the preview decoder",
    )
    train.add_argument("--minutes", type=float, default=60.0, help="time budget (with --continue: training)")
    train.add_argument("--device", choices=["cuda", "cpu"], default=None)
    train.add_argument("--seed", type=int, help="default: 0, or with --continue a seed no run used yet")
    train.add_argument("--no-resume", action="store_true", help="ignore checkpoints from an earlier run")

    evaluate = commands.add_parser("evaluate", help="measure prompt adherence, VAE PSNR and speed")
    evaluate.add_argument("--model", default="", help="model folder (default: the embedded model)")
    evaluate.add_argument("--prompts", type=int, default=200)
    evaluate.add_argument("--steps", type=int, default=25)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument(
        "--record", action="store_true", help="keep the figures in the folder's model card and run history"
    )

    trials = commands.add_parser(
        "recipe-trials", help="short from-scratch diffusion runs that compare recipe choices"
    )
    trials.add_argument("--minutes", type=float, default=10.0, help="training minutes per variant")
    trials.add_argument(
        "--variant", action="append", help="a variant to run (repeatable; default: all of them)"
    )
    trials.add_argument("--model", type=Path, help="the trained folder whose VAE and tokenizer are used")
    trials.add_argument("--work", type=Path, default=Path("runs/recipe-trials"))
    trials.add_argument("--prompts", type=int, default=200, help="evaluation prompts per variant")

    sheet = commands.add_parser("sheet", help="write a contact sheet of Landscapes renders with captions")
    sheet.add_argument("--out", type=Path, default=Path("docs/world_contact_sheet.png"))
    sheet.add_argument("--count", type=int, default=24)
    sheet.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the app works offline; never reach for a hub
    args = build_parser().parse_args(argv)
    command = args.command or "gui"
    try:
        if command == "gui":
            from studio.ui.app import run_app

            return run_app([sys.argv[0]])
        if command == "generate":
            from studio.generate_command import run_generate

            return run_generate(args)
        if command == "train":
            return _train(args)
        if command == "evaluate":
            from studio.training.evaluate import evaluate_model

            print(evaluate_model(args.model, args.prompts, args.steps, args.seed, args.record))
            return 0
        if command == "recipe-trials":
            return _recipe_trials(args)
        if command == "sheet":
            from studio.training.sheet import write_contact_sheet

            print(write_contact_sheet(args.out, args.count, args.seed))
            return 0
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as error:  # RequestError/EngineError are among these
        if os.environ.get("STUDIO_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _train(args: argparse.Namespace) -> int:
    if (args.out is None) == (args.continue_from is None):
        raise ValueError("give either --out FOLDER (train from scratch) or --continue [FOLDER]")
    if args.part is not None and args.continue_from is None:
        raise ValueError("--part chooses what a --continue run trains; a run from scratch trains every part")
    device = args.device or _best_training_device()
    if args.continue_from is None:
        from studio.training.train import train_default_model

        train_default_model(args.out, args.minutes, device, args.seed or 0, resume=not args.no_resume)
        return 0
    from studio.engine.loading import EMBEDDED_MODEL_DIR
    from studio.training.continuation import continue_training

    folder = Path(args.continue_from) if args.continue_from else EMBEDDED_MODEL_DIR
    continue_training(
        folder, args.part or "diffusion", args.minutes, args.seed, device, resume=not args.no_resume
    )
    return 0


def _recipe_trials(args: argparse.Namespace) -> int:
    from studio.engine.loading import EMBEDDED_MODEL_DIR
    from studio.training.recipe_trials import results_table, run_recipe_trials, variants_named

    variants = variants_named(args.variant)  # a misspelt name fails before any rendering
    results = run_recipe_trials(
        args.model or EMBEDDED_MODEL_DIR,
        args.minutes,
        variants,
        args.work,
        evaluation_prompts=args.prompts,
        device=_best_training_device(),
    )
    print(results_table(results))
    return 0


def _best_training_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
