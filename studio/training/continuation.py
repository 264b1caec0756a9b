"""`python main.py train --continue`: improve the shipped model run after run, keeping only what is better.

Each run starts from the shipped folder, trains one part on freshly rendered data (a new seed each
run, so no run sees another's images) for the minutes given, and judges the result on the same
evaluation as the shipped model:

- `diffusion`: text encoder + UNet, on latents of the shipped (fixed) VAE; judged by the attribute
  evaluation (`main.py evaluate`): the mean over the target attributes must rise.
- `decoder`: the VAE decoder alone; the encoder stays, so the latent space the UNet lives in is
  unchanged. Judged by held-out PSNR.
- `preview`: the tiny preview decoder (see preview_decoder.py); judged by how closely it reproduces
  the full VAE decoder.

A better result replaces those parts of the shipped folder; a worse one stays in the run's work
folder and is reported. Every run, shipped or not, is appended to `training_runs.json` and to the
model card's table.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from studio.engine.model_defaults import ModelDefaults
from studio.training.checkpoint import STATE_FILE, RunState, load_checkpoint, save_checkpoint
from studio.training.compute import trial_for
from studio.training.config import ContinuationConfig
from studio.training.dataset import render_dataset
from studio.training.diffusion import DiffusionTrainer, build_scheduler, tokenize
from studio.training.export import (
    SAMPLE_SHEET,
    SAMPLE_SHEET_COLUMNS,
    generate_samples,
    save_fp16,
)
from studio.training.model_card import update_model_card
from studio.training.progress import ProgressBar
from studio.training.run_history import RunHistory, evaluation_score
from studio.training.sheet import write_captioned_grid
from studio.training.train import hardware_name, train_for
from studio.training.vae import EncodedLatents, VAETrainer, encode_images

PARTS = ("diffusion", "decoder", "preview")


@dataclass(frozen=True)
class PartRun:
    """What training one part needs: the candidate folder it changes, its minutes and seed, the device,
    and the work folder and state it resumes from."""

    candidate: Path
    minutes: float
    seed: int
    device: torch.device
    work: Path
    state: RunState
    config: ContinuationConfig

    def fields(self) -> tuple[Path, float, int, torch.device, Path, RunState, ContinuationConfig]:
        return self.candidate, self.minutes, self.seed, self.device, self.work, self.state, self.config


@dataclass
class Outcome:
    """What a continuation run did: its record in the history, and where the result went."""

    record: dict[str, Any]
    shipped: bool
    candidate: Path

    def summary(self) -> str:
        verdict = "replaced the shipped parts" if self.shipped else f"kept aside in {self.candidate}"
        return f"{self.record['part']} run, seed {self.record['seed']}: {self.record['result']}; {verdict}"


def continue_training(
    folder: Path,
    part: str,
    minutes: float,
    seed: int | None = None,
    device: str = "cpu",
    work_root: Path = Path("runs"),
    config: ContinuationConfig | None = None,
    evaluation_prompts: int = 200,
    resume: bool = True,
) -> Outcome:
    """Train `part` of the model in `folder` for `minutes`, judge it, ship it if better, record the run.

    Longer than 60 lines on purpose: train, judge, replace, record and samples are stages recorded in
    the work folder's state, so a run stopped anywhere finishes on the next call; kept in one function
    they read in the order they run, around the one state they share.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got '{part}'")
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes:g}")
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{folder} is not a model folder (no model_index.json)")
    config = config or ContinuationConfig()
    judge = {"diffusion": _judge_by_evaluation, "decoder": _judge_by_psnr, "preview": _judge_preview}[part]
    _import_judging_code(part)  # a broken install fails now, not after the minutes of training
    history = RunHistory.load(folder)
    seed = history.next_seed() if seed is None else seed
    work = Path(work_root) / f"continue-{part}-seed{seed}"
    if seed in history.seeds() and not (work / STATE_FILE).is_file():
        raise ValueError(
            f"seed {seed} was used by an earlier run (its renders are trained on already); "
            "give another --seed or leave it out"
        )
    identity = {"part": part, "seed": seed, "minutes": minutes, "config": _settings_of(part, config)}
    state = RunState.open(work, identity, resume)
    torch_device = torch.device(device)
    started = time.monotonic()
    print(f"continuing {part} of {folder} with seed {seed} for {minutes:g} min (work: {work})", flush=True)

    candidate = work / "candidate"
    if "train" not in state.finished:
        if candidate.exists():
            shutil.rmtree(candidate)
        shutil.copytree(folder, candidate)
        train = {"diffusion": _train_diffusion, "decoder": _train_decoder, "preview": _train_preview}[part]
        details = train(PartRun(candidate, minutes, seed, torch_device, work, state, config))
        state.notes["details"] = details
        state.finish("train")
    details = state.notes["details"]

    # Each later stage is recorded when done, so a run stopped anywhere finishes on the next call
    # without judging twice (the shipped folder may already hold the candidate) or adding two records.
    if "judge" not in state.finished:
        before, after, better = judge(folder, candidate, history, evaluation_prompts)
        state.notes["judgement"] = {"before": before, "after": after, "better": better}
        state.finish("judge")
    before, after, better = (state.notes["judgement"][key] for key in ("before", "after", "better"))
    record = {
        "date": datetime.date.today().isoformat(),
        "part": part,
        "machine": hardware_name(device),
        "minutes": round(details["train_seconds"] / 60, 1),
        "wall_minutes": round((time.monotonic() - started) / 60, 1),  # this invocation: data, eval
        "steps": details["steps"],
        "steps_per_second": round(details["steps"] / max(details["train_seconds"], 1e-9), 3),
        "seed": seed,
        "compute": details["compute"],
        "before": before,
        "after": after,
        "shipped": better,
        "result": _describe_change(part, before, after),
    }
    if better and "replace" not in state.finished:
        _replace_parts(folder, candidate, details["changed"], work)
        state.finish("replace")
    if "record" not in state.finished:
        # The kept evaluation (and the card's table) must describe the shipped model: the judge
        # measured the new UNet; a new decoder changes every picture and the PSNR, so measure again.
        if better and part == "diffusion":
            history.evaluation = after
        elif better and part == "decoder":
            from studio.training.evaluate import measure

            print("evaluating the model with its new decoder", flush=True)
            history.evaluation = measure(folder, evaluation_prompts).record()
        history.add(record)
        history.save(folder)
        state.finish("record")
    if better and part != "preview" and "samples" not in state.finished:
        _write_samples(folder, config)  # the pictures changed: the model card shows the new ones
        state.finish("samples")
    update_model_card(folder, history)
    outcome = Outcome(record, better, candidate)
    print(outcome.summary(), flush=True)
    return outcome


def _settings_of(part: str, config: ContinuationConfig) -> dict[str, Any]:
    """The settings a part's training depends on: a run resumes only if these are unchanged."""
    if part == "diffusion":
        return {"dataset_size": config.dataset_size, "diffusion": dataclasses.asdict(config.diffusion)}
    if part == "decoder":
        return {"dataset_size": config.dataset_size, "vae": dataclasses.asdict(config.vae)}
    return {"preview": dataclasses.asdict(config.preview)}


def _import_judging_code(part: str) -> None:
    if part in ("diffusion", "decoder"):
        import studio.engine.engine  # noqa: F401  (evaluate.measure runs the app's own engine)
        import studio.training.evaluate  # noqa: F401
    if part == "preview":
        import studio.training.preview_decoder  # noqa: F401


# --- training, one function per part ---------------------------------------------------------------


def _train_diffusion(run: PartRun) -> dict[str, Any]:
    candidate, minutes, seed, device, work, state, config = run.fields()
    vae = AutoencoderKL.from_pretrained(candidate / "vae", torch_dtype=torch.float32).to(device)
    text_encoder = CLIPTextModel.from_pretrained(candidate / "text_encoder", torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(candidate / "unet", torch_dtype=torch.float32)
    tokenizer = CLIPTokenizer.from_pretrained(candidate / "tokenizer")
    text_encoder, unet = text_encoder.to(device), unet.to(device)
    scheduler_config = json.loads((candidate / "scheduler" / "scheduler_config.json").read_text())
    scheduler = build_scheduler(scheduler_config.get("prediction_type", "epsilon"))

    data = render_dataset(config.dataset_size, seed)
    saved = load_checkpoint(work / "latents.pt")
    if saved is None:
        images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
        bar = ProgressBar("encode", len(images), unit="images")
        latents = encode_images(vae, images, on_batch=lambda done: bar.update(done))
        bar.close(len(images))
        save_checkpoint(work / "latents.pt", {"mean": latents.mean, "std": latents.std})
    else:
        latents = EncodedLatents(saved["mean"], saved["std"])
    del vae

    trainer = DiffusionTrainer(
        unet,
        text_encoder,
        scheduler,
        config.diffusion,
        latents,
        tokenize(tokenizer, data.captions),
        tokenize(tokenizer, [""])[0],
        float(json.loads((candidate / "vae" / "config.json").read_text())["scaling_factor"]),
        torch.Generator().manual_seed(seed),
    )
    trainer.restore(load_checkpoint(work / "diffusion.pt"))
    trial = trial_for(trainer, device, trainer.optimise)
    checkpoint_seconds = config.checkpoint_minutes * 60
    train_for("diffusion", trainer, state, minutes * 60, work / "diffusion.pt", checkpoint_seconds)
    trainer.copy_ema_to_models()
    unet.to(memory_format=torch.contiguous_format)
    save_fp16(unet, candidate / "unet")
    save_fp16(text_encoder, candidate / "text_encoder")
    last = trainer.losses[-200:]
    return {
        "train_seconds": state.seconds["diffusion"],
        "steps": trainer.step,
        "compute": trial.describe(),
        "final_noise_mse": round(sum(last) / max(1, len(last)), 4),
        "changed": ["unet", "text_encoder"],
    }


def _train_decoder(run: PartRun) -> dict[str, Any]:
    candidate, minutes, seed, device, work, state, config = run.fields()
    vae = AutoencoderKL.from_pretrained(candidate / "vae", torch_dtype=torch.float32).to(device)
    data = render_dataset(config.dataset_size, seed)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    trainer = VAETrainer(vae, config.vae, images, torch.Generator().manual_seed(seed), decoder_only=True)
    trainer.restore(load_checkpoint(work / "decoder.pt"))
    trial = trial_for(trainer, device, trainer.optimise)
    train_for("decoder", trainer, state, minutes * 60, work / "decoder.pt", config.checkpoint_minutes * 60)
    vae.to(memory_format=torch.contiguous_format)
    save_fp16(vae, candidate / "vae")
    return {
        "train_seconds": state.seconds["decoder"],
        "steps": trainer.step,
        "compute": trial.describe(),
        "changed": ["vae"],
    }


def _train_preview(run: PartRun) -> dict[str, Any]:
    from studio.training.preview_decoder import train_preview_decoder

    return train_preview_decoder(run)


def _write_samples(folder: Path, config: ContinuationConfig) -> None:
    from diffusers import StableDiffusionPipeline

    defaults = (ModelDefaults.read(folder) or ModelDefaults()).or_else(
        ModelDefaults(steps=25, guidance_scale=4.5, scheduler="dpm++ 2m")
    )
    pipeline = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    images = generate_samples(
        pipeline, config.sample_prompts, defaults.steps, defaults.guidance_scale, defaults.scheduler
    )
    write_captioned_grid(images, config.sample_prompts, folder / SAMPLE_SHEET, SAMPLE_SHEET_COLUMNS)


# --- judging: the same measure before and after -----------------------------------------------------


def _judge_by_evaluation(
    folder: Path, candidate: Path, history: RunHistory, prompts: int
) -> tuple[dict, dict, bool]:
    from studio.training.evaluate import measure

    if history.evaluation is None or history.evaluation.get("prompts") != prompts:
        print("evaluating the shipped model (once; kept in training_runs.json)", flush=True)
        history.evaluation = measure(folder, prompts).record()
    after = measure(candidate, prompts).record()
    return history.evaluation, after, evaluation_score(after) > evaluation_score(history.evaluation)


def _judge_by_psnr(
    folder: Path, candidate: Path, history: RunHistory, prompts: int
) -> tuple[dict, dict, bool]:
    from studio.training.evaluate import held_out_psnr

    before = {"vae_psnr_db": round(held_out_psnr(folder), 2)}
    after = {"vae_psnr_db": round(held_out_psnr(candidate), 2)}
    return before, after, after["vae_psnr_db"] > before["vae_psnr_db"]


def _judge_preview(
    folder: Path, candidate: Path, history: RunHistory, prompts: int
) -> tuple[dict, dict, bool]:
    from studio.training.preview_decoder import preview_fidelity

    before = preview_fidelity(folder)
    after = preview_fidelity(candidate)
    return before, after, after["preview_psnr_db"] > before["preview_psnr_db"]


def _describe_change(part: str, before: dict, after: dict) -> str:
    if part == "diffusion":
        return f"mean target accuracy {evaluation_score(before):.1%} -> {evaluation_score(after):.1%}"
    key = "vae_psnr_db" if part == "decoder" else "preview_psnr_db"
    return f"{key.replace('_db', '')} {before[key]:.2f} -> {after[key]:.2f} dB"


def _replace_parts(folder: Path, candidate: Path, parts: list[str], work: Path) -> None:
    """Swap the trained subfolders in; the old ones move to the work folder's `replaced/`, not away.

    Each part is copied beside its old one first (`unet.new`) and then renamed into place, so the
    shipped folder never holds half a part; run again after a stop, it finishes the swap and keeps
    the first backup (the original), never a copy of the new part.
    """
    replaced = work / "replaced"
    replaced.mkdir(parents=True, exist_ok=True)
    for name in parts:
        old, new, staged = folder / name, candidate / name, folder / f"{name}.new"
        if staged.exists():
            shutil.rmtree(staged)
        shutil.copytree(new, staged)
        if old.exists():
            backup = replaced / name
            if backup.exists():
                shutil.rmtree(old)  # an earlier, stopped swap already kept the original
            else:
                shutil.move(old, backup)
        os.replace(staged, old)
