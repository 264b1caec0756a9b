"""`python main.py recipe-trials`: short from-scratch runs at a fixed budget that decide the recipe.

Each variant changes one thing of the shipped diffusion recipe (`DiffusionConfig`) and trains a fresh
text encoder + UNet for the same minutes on the same cached latents of the shipped VAE (the VAE and
tokenizer stay fixed, so only the recipe differs). Every result is exported into a copy of the shipped
folder and judged by the same 200-prompt evaluation as the shipped model (`evaluate.measure`), so the
table says which choice buys most per CPU-minute before a long run commits to it.

Results go to `<work>/results.json` as each variant ends; a stopped call resumes with the variants
not yet judged (a variant stopped mid-training restarts from its last checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTokenizer

from studio.training.checkpoint import RunState, load_checkpoint, save_checkpoint
from studio.training.compute import trial_for
from studio.training.config import DiffusionConfig
from studio.training.dataset import render_dataset
from studio.training.diffusion import (
    DiffusionTrainer,
    build_scheduler,
    build_text_encoder,
    build_unet,
    tokenize,
)
from studio.training.export import save_fp16
from studio.training.progress import ProgressBar
from studio.training.run_history import TARGET_ATTRIBUTES, evaluation_score
from studio.training.train import hardware_name, train_for
from studio.training.vae import LATENT_DOWNSCALE, EncodedLatents, encode_images

RESULTS_FILE = "results.json"
TRIAL_SEED = 2001  # renders no continuation run (seeds from 1001 up, one per run) will reach soon


@dataclass(frozen=True)
class Variant:
    """One recipe choice: a name for the table and the DiffusionConfig fields it changes."""

    name: str
    changes: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def config(self, base: DiffusionConfig) -> DiffusionConfig:
        return dataclasses.replace(base, **self.changes)


# The questions of issue 8, item 5: each variant but the last differs from the baseline in one choice.
VARIANTS = (
    Variant("baseline", {}, "the from-scratch recipe: uniform t, epsilon, width 64 at 16x16, batch 64"),
    Variant(
        "high-noise timesteps",
        {"timestep_sampling": "high_noise"},
        "half the draws in the noisiest quarter, where the layout is decided",
    ),
    Variant("v-prediction", {"prediction_type": "v_prediction"}, "predict v instead of the noise"),
    Variant(
        "width 32 at 16x16",
        {"unet_block_out_channels": (32, 128, 192)},
        "the 16x16 level costs most per channel: fewer channels there, more steps per minute",
    ),
    Variant(
        "batch 32, lr 4.2e-4",
        {"batch_size": 32, "learning_rate": 4.2e-4},
        "twice the updates of half the size; learning rate scaled by sqrt(1/2) as for Adam",
    ),
    # v-prediction and high-noise timesteps, which each beat the baseline (docs/training.md), together.
    Variant(
        "v-prediction, high-noise timesteps",
        {"prediction_type": "v_prediction", "timestep_sampling": "high_noise"},
        "the two winners of the single-change trials together",
    ),
)


def variants_named(names: Sequence[str] | None) -> tuple[Variant, ...]:
    if not names:
        return VARIANTS
    # "high-noise timesteps" or its folder name "high-noise-timesteps": the second needs no quotes.
    known = {_slug(variant.name): variant for variant in VARIANTS}
    unknown = [name for name in names if _slug(name) not in known]
    if unknown:
        raise ValueError(f"unknown variant {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[_slug(name)] for name in names)


def run_recipe_trials(
    shipped: Path,
    minutes: float,
    variants: Sequence[Variant] = VARIANTS,
    work: Path = Path("runs/recipe-trials"),
    dataset_size: int = 12000,
    evaluation_prompts: int = 200,
    device: str = "cpu",
    base: DiffusionConfig | None = None,
) -> list[dict[str, Any]]:
    """Train and judge each variant for `minutes`; returns every result so far (also in results.json)."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes:g}")
    shipped, work = Path(shipped), Path(work)
    if not (shipped / "model_index.json").is_file():
        raise ValueError(f"{shipped} is not a model folder (no model_index.json)")
    base = base or DiffusionConfig()
    results = _load_results(work)
    torch_device = torch.device(device)
    data, latents = _cached_latents(shipped, work, dataset_size, torch_device)
    tokenizer = CLIPTokenizer.from_pretrained(shipped / "tokenizer")
    token_ids, empty_ids = tokenize(tokenizer, data.captions), tokenize(tokenizer, [""])[0]
    scaling_factor = float(json.loads((shipped / "vae" / "config.json").read_text())["scaling_factor"])
    latent_size = int(data.images.shape[1]) // LATENT_DOWNSCALE
    for variant in variants:
        config = variant.config(base)
        identity = {"variant": variant.name, "minutes": minutes, "config": dataclasses.asdict(config)}
        if any(result["identity"] == json.loads(json.dumps(identity)) for result in results):
            print(f"{variant.name}: judged already (in {work / RESULTS_FILE})", flush=True)
            continue
        folder = work / _slug(variant.name)
        state = RunState.open(folder, identity, resume=True)
        torch.manual_seed(TRIAL_SEED)  # every variant starts from the same kind of initialisation
        text_encoder = build_text_encoder(config, tokenizer).to(torch_device)
        unet = build_unet(config, latents.mean.shape[1], latent_size).to(torch_device)
        trainer = DiffusionTrainer(
            unet,
            text_encoder,
            build_scheduler(config.prediction_type),
            config,
            latents,
            token_ids,
            empty_ids,
            scaling_factor,
            torch.Generator().manual_seed(TRIAL_SEED),
        )
        print(f"{variant.name}: {variant.why}", flush=True)
        record = _train_and_judge(variant, trainer, shipped, folder, state, minutes, evaluation_prompts)
        record["identity"] = identity
        results.append(json.loads(json.dumps(record)))
        _save_results(work, results)
        print(results_table(results), flush=True)
    return results


def _train_and_judge(
    variant: Variant,
    trainer: DiffusionTrainer,
    shipped: Path,
    folder: Path,
    state: RunState,
    minutes: float,
    evaluation_prompts: int,
) -> dict[str, Any]:
    from studio.training.evaluate import measure

    checkpoint = folder / "diffusion.pt"
    trainer.restore(load_checkpoint(checkpoint))  # a stopped call goes on; a trained one is judged
    if "train" not in state.finished:
        state.notes["compute"] = trial_for(trainer, trainer.unet.device, trainer.optimise).describe()
        train_for("diffusion", trainer, state, minutes * 60, checkpoint, checkpoint_seconds=3 * 60)
        state.finish("train")
    candidate = folder / "model"
    if candidate.exists():
        shutil.rmtree(candidate)
    shutil.copytree(shipped, candidate)
    trainer.copy_ema_to_models()
    trainer.unet.to(memory_format=torch.contiguous_format)
    save_fp16(trainer.unet, candidate / "unet")
    save_fp16(trainer.text_encoder, candidate / "text_encoder")
    trainer.scheduler.save_pretrained(candidate / "scheduler")  # v-prediction must reach the sampler
    started = time.monotonic()
    evaluation = measure(candidate, evaluation_prompts, measure_vae=False).record()
    last = trainer.losses[-200:]
    return {
        "variant": variant.name,
        "why": variant.why,
        "date": time.strftime("%Y-%m-%d"),
        "machine": hardware_name(str(trainer.unet.device)),
        "minutes": round(state.seconds["diffusion"] / 60, 1),
        "steps": trainer.step,
        "steps_per_second": round(trainer.step / max(state.seconds["diffusion"], 1e-9), 3),
        "compute": state.notes["compute"],
        "final_loss": round(sum(last) / max(1, len(last)), 4),
        "accuracy": evaluation["accuracy"],
        "seconds_per_image": evaluation["seconds_per_image"],
        "evaluation_minutes": round((time.monotonic() - started) / 60, 1),
    }


def _cached_latents(
    shipped: Path, work: Path, dataset_size: int, device: torch.device
) -> tuple[Any, EncodedLatents]:
    """The trial renders and their latents under the shipped VAE, encoded once for every variant."""
    data = render_dataset(dataset_size, TRIAL_SEED)
    saved = load_checkpoint(work / "latents.pt")
    if saved is not None and len(saved["mean"]) == dataset_size:
        return data, EncodedLatents(saved["mean"], saved["std"])
    vae = AutoencoderKL.from_pretrained(shipped / "vae", torch_dtype=torch.float32).to(device)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    bar = ProgressBar("encode", len(images), unit="images")
    latents = encode_images(vae, images, on_batch=lambda done: bar.update(done))
    bar.close(len(images))
    save_checkpoint(work / "latents.pt", {"mean": latents.mean, "std": latents.std})
    return data, latents


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per variant, the target attributes and their mean (evaluation_score)."""
    header = ["variant", "steps", "steps/s", *TARGET_ATTRIBUTES, "mean", "s/image"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for result in results:
        accuracy = result["accuracy"]
        cells = [
            result["variant"],
            str(result["steps"]),
            f"{result['steps_per_second']:.2f}",
            *(f"{accuracy[key]:.1%}" for key in TARGET_ATTRIBUTES),
            f"{evaluation_score(result):.1%}",
            f"{result['seconds_per_image']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    """"batch 32, lr 4.2e-4" -> "batch-32-lr-4-2e-4": a folder name, and a name needing no quotes."""
    return "-".join("".join(char if char.isalnum() else " " for char in name.lower()).split())


def _load_results(work: Path) -> list[dict[str, Any]]:
    path = work / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _save_results(work: Path, results: list[dict[str, Any]]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    temporary = work / f"{RESULTS_FILE}.tmp"
    temporary.write_text(json.dumps(results, indent=2) + "\n")
    temporary.replace(work / RESULTS_FILE)
