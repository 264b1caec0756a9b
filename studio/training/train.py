"""`train_default_model`: render data, train the VAE, encode, train text encoder + UNet, export.

The whole run is sized in minutes. Rendering and encoding take what they take; the VAE gets a fixed
share of the rest, the diffusion model everything left but a small reserve for export. Every stage
checkpoints into a work folder beside the output (`<out>.work`) and a restarted run resumes there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import CLIPTokenizer

from studio.engine.model_defaults import ModelDefaults
from studio.engine.precision import processor_name
from studio.training.captions import caption_vocabulary
from studio.training.checkpoint import RunState, load_checkpoint, save_checkpoint, work_folder_for
from studio.training.compute import trial_for
from studio.training.config import TrainConfig
from studio.training.dataset import render_dataset
from studio.training.diffusion import (
    DiffusionTrainer,
    build_scheduler,
    build_text_encoder,
    build_unet,
    cosine_schedule,
    tokenize,
)
from studio.training.export import (
    SAMPLE_SHEET,
    SAMPLE_SHEET_COLUMNS,
    assemble_pipeline,
    fit_linear_preview,
    generate_samples,
    save_pipeline,
    weight_bytes,
)
from studio.training.model_card import write_model_card
from studio.training.progress import ProgressBar, write_loss_curve
from studio.training.sheet import write_captioned_grid
from studio.training.tokenizer import build_caption_tokenizer, save_caption_tokenizer
from studio.training.vae import (
    LATENT_DOWNSCALE,
    EncodedLatents,
    VAETrainer,
    build_vae,
    encode_images,
    latent_scaling_factor,
    reconstruction_psnr,
)

LOSS_CURVE = "loss_curve.png"
HELD_OUT_SEED_OFFSET = 7_919  # held-out renders come from another seed, never from the training stream


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def timed_loop(
    stage: str,
    state: RunState,
    budget_seconds: float,
    step: Callable[[float], float],
    current_step: Callable[[], int],
    save: Callable[[], None],
    checkpoint_seconds: float,
    warmup_fraction: float,
    floor: float,
    max_steps: int | None = None,
) -> None:
    """Call `step(lr_scale)` until the stage has used its budget, checkpointing on the way.

    With `max_steps` the stage also stops once `current_step()` reaches it, and the learning-rate
    schedule runs on steps instead of the clock: a run of a known size (tests, smoke runs) whatever
    the machine's speed.
    """
    spent = state.seconds.get(stage, 0.0)
    bar = ProgressBar(stage, budget_seconds)
    started, last_save, loss = time.monotonic(), time.monotonic(), None
    while spent + (time.monotonic() - started) < budget_seconds:
        if max_steps is not None and current_step() >= max_steps:
            break
        progress = (spent + time.monotonic() - started) / budget_seconds
        if max_steps is not None:
            progress = current_step() / max_steps
        loss = step(cosine_schedule(progress, warmup_fraction, floor))
        bar.update(spent + time.monotonic() - started, loss, current_step())
        if time.monotonic() - last_save > checkpoint_seconds:
            state.seconds[stage] = spent + time.monotonic() - started
            save()
            state.save()
            last_save = time.monotonic()
    state.seconds[stage] = spent + time.monotonic() - started
    bar.close(state.seconds[stage], loss, current_step())
    save()
    state.save()


def train_for(
    stage: str,
    trainer: VAETrainer | DiffusionTrainer | Any,
    state: RunState,
    budget_seconds: float,
    checkpoint: Path,
    checkpoint_seconds: float,
    max_steps: int | None = None,
) -> None:
    """A trainer's stage on its config's learning-rate schedule, checkpointing to `checkpoint`.

    Any trainer with `train_step`, `step`, `checkpoint()` and a config with `warmup_fraction` and
    `min_learning_rate_fraction` (the VAE, the diffusion model, the preview decoder).
    """
    timed_loop(
        stage,
        state,
        budget_seconds,
        trainer.train_step,
        lambda: trainer.step,
        lambda: save_checkpoint(checkpoint, trainer.checkpoint()),
        checkpoint_seconds,
        trainer.config.warmup_fraction,
        trainer.config.min_learning_rate_fraction,
        max_steps,
    )


def run_stage(state: RunState, stage: str, train: Callable[[], None]) -> None:
    """`train()` unless a resumed run finished `stage` already; the stage is marked finished after."""
    if stage not in state.finished:
        train()
        state.finish(stage)


@dataclass
class TrainingRun:
    """What every stage of one `train_default_model` run shares: settings, folders, state, clock."""

    config: TrainConfig
    out_dir: Path
    work: Path
    state: RunState
    device: torch.device
    seed: int
    minutes: float
    max_steps: int | None

    @property
    def budget_seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def reserve_seconds(self) -> float:
        return self.config.export_reserve_minutes * 60.0

    @property
    def checkpoint_seconds(self) -> float:
        return self.config.checkpoint_minutes * 60.0


def train_default_model(
    out_dir: Path,
    minutes: float,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = True,
    config: TrainConfig | None = None,
    max_steps: int | None = None,
) -> Path:
    """Train the embedded Landscapes model within `minutes` and export it to `out_dir`; returns out_dir.

    `max_steps` caps each training stage (VAE, then text encoder + UNet) at that many steps, with
    their schedules on steps (see timed_loop): the tests' runs have a size, not a duration.
    """
    config = config or TrainConfig.for_device(device)
    out_dir = Path(out_dir)
    work = work_folder_for(out_dir)
    identity: dict[str, Any] = {"config": config.to_json(), "seed": seed}
    if max_steps is not None:  # only then: the identity of a run sized in minutes stays as it was
        identity["max_steps"] = max_steps
    state = RunState.open(work, identity, resume)
    if state.resumed:
        print(f"resuming from {work} (stages done: {', '.join(state.finished) or 'none'})", flush=True)
    run = TrainingRun(config, out_dir, work, state, torch.device(device), seed, minutes, max_steps)

    captions, images, held_out_images = _render_data(run)  # 1. data
    vae_trainer = _train_vae(run, images, held_out_images)  # 2. VAE
    latents = _encode(run, vae_trainer.vae, images)  # 3. latents of every image, once
    tokenizer = _caption_tokenizer(run, captions)  # 4. tokenizer
    trainer = _train_diffusion(run, captions, latents, tokenizer, images.shape[-1])  # 5. text encoder + UNet
    _export(run, vae_trainer, trainer, tokenizer, latents, images)  # 6. the folder and its report
    return out_dir


def _render_data(run: TrainingRun) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Captions, training images and held-out images, as uint8 (N, 3, H, W).

    Re-rendered on every start (about a second per thousand images; same seed, same bytes).
    """
    started = time.monotonic()
    data = render_dataset(run.config.dataset_size, run.seed)
    held_out = render_dataset(run.config.held_out_size, run.seed + HELD_OUT_SEED_OFFSET)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    held_out_images = torch.from_numpy(held_out.images).permute(0, 3, 1, 2).contiguous()
    run.state.seconds["data"] = run.state.seconds.get("data", 0.0) + time.monotonic() - started
    print(f"data: {len(images)} renders + {len(held_out_images)} held out", flush=True)
    return list(data.captions), images, held_out_images


def _train_vae(run: TrainingRun, images: torch.Tensor, held_out_images: torch.Tensor) -> VAETrainer:
    config, state = run.config, run.state
    vae = build_vae(config.vae).to(run.device)
    trainer = VAETrainer(vae, config.vae, images, torch.Generator().manual_seed(run.seed + 1))
    trainer.restore(load_checkpoint(run.work / "vae.pt"))
    budget = config.vae_budget_fraction * max(
        0.0, run.budget_seconds - state.seconds["data"] - run.reserve_seconds
    )

    def train() -> None:
        trial = trial_for(trainer, run.device, trainer.optimise, "vae compute")
        state.notes["vae_compute"] = trial.describe()
        train_for("vae", trainer, state, budget, run.work / "vae.pt", run.checkpoint_seconds, run.max_steps)
        state.notes["vae_psnr_db"] = round(reconstruction_psnr(vae, held_out_images), 2)
        state.notes["vae_steps"] = trainer.step

    run_stage(state, "vae", train)
    vae.eval().requires_grad_(False)
    print(f"vae: {trainer.step} steps, held-out PSNR {state.notes['vae_psnr_db']} dB", flush=True)
    return trainer


def _encode(run: TrainingRun, vae: torch.nn.Module, images: torch.Tensor) -> EncodedLatents:
    """Every image's posterior, once: the diffusion loop then never touches pixels. Sets the VAE's
    scaling factor from them."""
    path = run.work / "latents.pt"
    if "encode" in run.state.finished and path.is_file():
        saved = load_checkpoint(path)
        latents, scaling_factor = EncodedLatents(saved["mean"], saved["std"]), float(saved["scaling"])
    else:
        started = time.monotonic()
        bar = ProgressBar("encode", len(images), unit="images")
        latents = encode_images(vae, images, on_batch=lambda done: bar.update(done))
        bar.close(len(images))
        scaling_factor = latent_scaling_factor(latents)
        save_checkpoint(path, {"mean": latents.mean, "std": latents.std, "scaling": scaling_factor})
        run.state.seconds["encode"] = time.monotonic() - started
        run.state.finish("encode")
    vae.register_to_config(scaling_factor=scaling_factor)
    print(f"latents: {tuple(latents.mean.shape)}, scaling factor {scaling_factor:.4f}", flush=True)
    return latents


def _caption_tokenizer(run: TrainingRun, captions: list[str]) -> CLIPTokenizer:
    """Learned from the captions and every phrase the captions can use; kept in the work folder."""
    folder = run.work / "tokenizer"
    if (folder / "vocab.json").is_file():
        return CLIPTokenizer.from_pretrained(folder)
    tokenizer = build_caption_tokenizer(
        [*captions, *caption_vocabulary()], max_length=run.config.diffusion.max_length
    )
    save_caption_tokenizer(tokenizer, folder)
    return tokenizer


def _train_diffusion(
    run: TrainingRun, captions: list[str], latents: EncodedLatents, tokenizer: CLIPTokenizer, image_size: int
) -> DiffusionTrainer:
    config, state = run.config, run.state
    torch.manual_seed(run.seed + 2)
    text_encoder = build_text_encoder(config.diffusion, tokenizer).to(run.device)
    latent_size = image_size // LATENT_DOWNSCALE
    unet = build_unet(config.diffusion, config.vae.latent_channels, latent_size).to(run.device)
    trainer = DiffusionTrainer(
        unet,
        text_encoder,
        build_scheduler(config.diffusion.prediction_type),
        config.diffusion,
        latents,
        tokenize(tokenizer, captions),
        tokenize(tokenizer, [""])[0],
        latent_scaling_factor(latents),
        torch.Generator().manual_seed(run.seed + 3),
    )
    trainer.restore(load_checkpoint(run.work / "diffusion.pt"))
    spent_before = sum(v for k, v in state.seconds.items() if k != "diffusion")
    budget = max(0.0, run.budget_seconds - run.reserve_seconds - spent_before)

    def train() -> None:
        trial = trial_for(trainer, run.device, trainer.optimise, "diffusion compute")
        state.notes["diffusion_compute"] = trial.describe()
        checkpoint = run.work / "diffusion.pt"
        train_for("diffusion", trainer, state, budget, checkpoint, run.checkpoint_seconds, run.max_steps)
        state.notes["diffusion_steps"] = trainer.step

    run_stage(state, "diffusion", train)
    trainer.copy_ema_to_models()
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    return trainer


def _export(
    run: TrainingRun,
    vae_trainer: VAETrainer,
    trainer: DiffusionTrainer,
    tokenizer: CLIPTokenizer,
    latents: EncodedLatents,
    images: torch.Tensor,
) -> None:
    """The diffusers folder, our defaults, samples, loss curve, report and model card."""
    config, out_dir, vae = run.config, run.out_dir, vae_trainer.vae
    started = time.monotonic()
    pipeline = assemble_pipeline(vae, trainer.text_encoder, tokenizer, trainer.unet, trainer.scheduler)
    preview = fit_linear_preview(latents, images, trainer.scaling_factor)
    save_pipeline(pipeline, tokenizer, out_dir)
    ModelDefaults(
        width=int(images.shape[-1]),
        height=int(images.shape[-2]),
        steps=config.sample_steps,
        guidance_scale=config.sample_guidance_scale,
        scheduler=config.sample_scheduler,
        preview=preview,
    ).write(out_dir)
    sample_images = generate_samples(
        pipeline.to(run.device),
        config.sample_prompts,
        config.sample_steps,
        config.sample_guidance_scale,
        config.sample_scheduler,
        run.seed,
    )
    write_captioned_grid(sample_images, config.sample_prompts, out_dir / SAMPLE_SHEET, SAMPLE_SHEET_COLUMNS)
    curves = {"VAE (L1 + MSE)": vae_trainer.losses, "UNet (noise MSE)": trainer.losses}
    write_loss_curve(curves, out_dir / LOSS_CURVE)
    run.state.seconds["export"] = time.monotonic() - started
    run.state.save()
    report = _report(
        config, run.state, run.seed, run.minutes, str(run.device), vae, trainer.text_encoder,
        trainer.unet, tokenizer, out_dir, trainer,
    )
    (run.work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_model_card(out_dir, report)
    print(f"exported to {out_dir} ({report['weights_mb']} MB of weights)", flush=True)


def _report(
    config: TrainConfig,
    state: RunState,
    seed: int,
    minutes: float,
    device: str,
    vae: torch.nn.Module,
    text_encoder: torch.nn.Module,
    unet: torch.nn.Module,
    tokenizer: Any,
    out_dir: Path,
    trainer: DiffusionTrainer,
) -> dict[str, Any]:
    last = trainer.losses[-200:]
    return {
        "config": config.to_json(),
        "seed": seed,
        "minutes_budget": minutes,
        "device": device,
        "hardware": hardware_name(device),
        "seconds": {k: round(v, 1) for k, v in state.seconds.items()},
        "parameters": {
            "vae": parameter_count(vae),
            "text_encoder": parameter_count(text_encoder),
            "unet": parameter_count(unet),
        },
        "vocabulary_size": len(tokenizer),
        "scaling_factor": round(float(vae.config.scaling_factor), 5),
        "vae_steps": state.notes.get("vae_steps"),
        "vae_psnr_db": state.notes.get("vae_psnr_db"),
        "diffusion_steps": state.notes.get("diffusion_steps", trainer.step),
        "final_noise_mse": round(sum(last) / max(1, len(last)), 4),
        "compute": {stage: state.notes.get(f"{stage}_compute") for stage in ("vae", "diffusion")},
        "weights_mb": round(weight_bytes(out_dir) / 1e6, 1),
    }


def hardware_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{processor_name()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads"
