"""Training speed of the embedded model's parts on this machine: ms per step and steps per second.

    python benchmarks/training_speed.py     # on an idle machine (docs/training.md: thread settings)

Runs the project's own trainers (DiffusionTrainer, VAETrainer, PreviewDecoderTrainer) from the
shipped weights on synthetic batches of the real shapes, under every precision / memory-format
candidate this processor offers, plus "before": the recipe as it was (fp32, contiguous, AdamW's
default multi-tensor kernel instead of the fused one). Steps run at learning rate 0, so nothing
changes the weights. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel

from studio.engine.loading import EMBEDDED_MODEL_DIR
from studio.training.compute import FP32, candidate_settings, cpu_has_bf16
from studio.training.config import ContinuationConfig
from studio.training.diffusion import DiffusionTrainer, build_scheduler
from studio.training.preview_decoder import PreviewDecoderTrainer, build_preview_decoder
from studio.training.train import hardware_name
from studio.training.vae import EncodedLatents, VAETrainer


def _median_ms(step: Callable[[], object], repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = EMBEDDED_MODEL_DIR
    device = torch.device("cpu")
    config = ContinuationConfig()
    generator = torch.Generator().manual_seed(0)

    unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32)
    count = 512
    latents = EncodedLatents(
        torch.randn(count, 4, 16, 16).half(), torch.full((count, 4, 16, 16), 0.05).half()
    )
    token_shape = (count, text_encoder.config.max_position_embeddings)
    token_ids = torch.randint(1, text_encoder.config.vocab_size, token_shape)

    def diffusion_trainer(optimizer: torch.optim.Optimizer | None = None) -> DiffusionTrainer:
        return DiffusionTrainer(
            unet,
            text_encoder,
            build_scheduler(),
            config.diffusion,
            latents,
            token_ids,
            token_ids[0],
            1.0,
            generator,
            optimizer=optimizer,
        )

    vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=torch.float32)
    renders = torch.randint(0, 256, (64, 3, 128, 128), dtype=torch.uint8)
    preview_decoder = build_preview_decoder(config.preview)
    preview_pairs = (
        torch.randn(64, 4, 16, 16).half(),
        torch.randint(0, 256, (64, 3, 128, 128), dtype=torch.uint8),
    )

    parts = {
        f"text encoder + UNet, batch {config.diffusion.batch_size}": (
            lambda: diffusion_trainer(
                torch.optim.AdamW([*unet.parameters(), *text_encoder.parameters()], foreach=True)
            ),
            diffusion_trainer,
            lambda trainer: trainer.optimise(0.0),
        ),
        f"VAE decoder only, batch {config.vae.batch_size}": (
            lambda: VAETrainer(
                vae,
                config.vae,
                renders,
                generator,
                decoder_only=True,
                optimizer=torch.optim.AdamW(vae.decoder.parameters(), foreach=True),
            ),
            lambda: VAETrainer(vae, config.vae, renders, generator, decoder_only=True),
            lambda trainer: trainer.train_step(0.0),
        ),
        f"preview decoder, batch {config.preview.batch_size}": (
            lambda: PreviewDecoderTrainer(
                preview_decoder,
                config.preview,
                *preview_pairs,
                generator,
                optimizer=torch.optim.AdamW(preview_decoder.parameters(), foreach=True),
            ),
            lambda: PreviewDecoderTrainer(preview_decoder, config.preview, *preview_pairs, generator),
            lambda trainer: trainer.train_step(0.0),
        ),
    }
    print(f"{hardware_name('cpu')}; bf16 in hardware: {cpu_has_bf16()}; torch {torch.__version__}\n")
    candidates = candidate_settings(device)
    names = " | ".join(candidate.name for candidate in candidates)
    print(f"| part | before (fp32, foreach AdamW) | {names} | best gain |")
    print("| --- " * (len(candidates) + 3) + "|")
    for name, (before_trainer, trainer_factory, step) in parts.items():
        trainer = before_trainer()
        trainer.use(FP32)
        before = _median_ms(lambda trainer=trainer, step=step: step(trainer), args.repeats)
        cells, best = [], before
        for candidate in candidates:
            trainer = trainer_factory()
            trainer.use(candidate)
            ms = _median_ms(lambda trainer=trainer, step=step: step(trainer), args.repeats)
            best = min(best, ms)
            cells.append(f"{ms:.0f} ms ({1000 / ms:.2f}/s)")
        row = f"| {name} | {before:.0f} ms ({1000 / before:.2f}/s) | " + " | ".join(cells)
        print(row + f" | {before / best:.2f}x |")


if __name__ == "__main__":
    main()
