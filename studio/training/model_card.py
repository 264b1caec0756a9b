"""The model card (README.md in the exported folder), written from the run's own measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.engine.model_defaults import MODEL_DEFAULTS_FILE, ModelDefaults
from studio.engine.previews import PREVIEW_DECODER_FOLDER

EVALUATION_HEADING = "## Evaluation"
DEFAULTS_HEADING = f"## Defaults ({MODEL_DEFAULTS_FILE})"


def _defaults(folder: Path) -> str:
    """The card's "Defaults" line, from the folder's settings and whether it ships a preview decoder."""
    defaults = ModelDefaults.read(folder) or ModelDefaults()
    previews = "linear latent-to-RGB preview factors fitted by least squares on the training images"
    if (folder / PREVIEW_DECODER_FOLDER / "config.json").is_file():
        previews = (
            f"per-step previews from the tiny preview decoder in `{PREVIEW_DECODER_FOLDER}/` (true colour, "
            f"full size), with {previews} as the fallback"
        )
    return (
        f"{_shown(defaults.width)}x{_shown(defaults.height)}, {_shown(defaults.steps)} steps, "
        f"guidance {_shown(defaults.guidance_scale)}, sampler {_shown(defaults.scheduler)}; "
        f"{previews}."
    )


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def write_model_card(
    folder: Path, report: dict[str, Any], evaluation: str | None = None, notes: str = ""
) -> Path:
    """README.md from a training report; `evaluation` is the table evaluate_model printed, if run.

    Longer than 60 lines on purpose: it is the card's text top to bottom, and split into pieces the
    card would no longer read as one page in the code.
    """
    folder = Path(folder)
    config = report["config"]
    seconds = report["seconds"]
    parameters = report["parameters"]
    total = sum(seconds.values())
    vae_config, diffusion = config["vae"], config["diffusion"]
    vae_channels = tuple(vae_config["block_out_channels"])
    unet_channels = tuple(diffusion["unet_block_out_channels"])
    unet_blocks = ", ".join(diffusion["unet_down_block_types"])
    scaling = report.get("scaling_factor", "(see vae/config.json)")
    empty = diffusion["empty_caption_fraction"]
    crop = vae_config["crop"]
    vae_pieces = "whole 128-px images" if crop >= 128 else f"random {crop}-px crops"
    lines = [
        "# Landscapes: the embedded default model of Latent Studio",
        "",
        "A small latent diffusion model (Stable Diffusion 1.x layout: AutoencoderKL + CLIP text encoder + "
        "UNet2DConditionModel, scaled-linear DDPM schedule) trained from scratch by `python main.py train` "
        "on procedurally rendered 128x128 landscapes. It paints only that world: sky by time of day, sun or "
        "moon in a third of the width, mountains, ground, trees and clouds.",
        "",
        "## Data",
        f"- {config['dataset_size']} renders of the Landscapes world (`studio/training/world.py`, "
        f"contract in world-spec.md), seed {report['seed']}, each with a caption naming every attribute "
        f'present; about {empty:.0%} of captions are dropped to "" during training for classifier-free '
        "guidance.",
        f"- {config['held_out_size']} held-out renders from another seed for the VAE's PSNR.",
        "",
        "## Sizes",
        "| part | parameters | shape |",
        "| --- | --- | --- |",
        f"| VAE (AutoencoderKL) | {parameters['vae'] / 1e6:.2f} M | channels {vae_channels}, 8x down, "
        f"{vae_config['latent_channels']} latent channels, scaling factor {scaling} |",
        f"| text encoder (CLIPTextModel) | {parameters['text_encoder'] / 1e6:.2f} M | "
        f"{diffusion['text_layers']} layers, hidden {diffusion['text_hidden_size']}, "
        f"{diffusion['max_length']} tokens, BPE vocabulary {report['vocabulary_size']} |",
        f"| UNet2DConditionModel | {parameters['unet'] / 1e6:.2f} M | channels {unet_channels}, blocks "
        f"{unet_blocks}, cross-attention dim {diffusion['text_hidden_size']} |",
        "",
        f"Weights: {report['weights_mb']} MB in fp16 safetensors, every file under 16 MiB.",
        "",
        "## Training",
        f"- Hardware: {report['hardware']} (device `{report['device']}`); budget "
        f"{report['minutes_budget']} min, used {_minutes(total)}.",
        f"- Rendering {_minutes(seconds.get('data'))}.",
        *(
            f"- {stage} precision, chosen by a timed trial: {choice}."
            for stage, choice in report.get("compute", {}).items()
            if choice
        ),
        f"- VAE {_minutes(seconds.get('vae'))}: {report['vae_steps']} steps of {vae_config['batch_size']} "
        f"{vae_pieces}, L1 + MSE + {vae_config['kl_weight']:g} KL, AdamW "
        f"{vae_config['learning_rate']:g} with warm-up + cosine.",
        f"- Encoding the dataset once: {_minutes(seconds.get('encode'))}.",
        f"- Text encoder + UNet {_minutes(seconds.get('diffusion'))}: {report['diffusion_steps']} steps of "
        f"batch {diffusion['batch_size']} on cached latents, {diffusion['prediction_type']} prediction, "
        f"min-SNR-{diffusion['min_snr_gamma']:g} weighting, AdamW {diffusion['learning_rate']:g} with "
        "warm-up + cosine, EMA of the weights.",
        f"- Export, samples and model card: {_minutes(seconds.get('export'))}.",
        f"- Final noise-prediction MSE (mean of the last 200 steps): {report['final_noise_mse']}; VAE "
        f"held-out PSNR: {report['vae_psnr_db']} dB. Loss curves: `loss_curve.png`.",
        "",
        DEFAULTS_HEADING,
        _defaults(folder),
        "",
        "## Samples",
        "![samples](samples.png)",
        "",
        EVALUATION_HEADING,
        evaluation.strip() if evaluation else "Not evaluated yet: `main.py evaluate --model <folder>`.",
        "",
    ]
    if notes:
        lines += ["## Notes", notes.strip(), ""]
    path = folder / "README.md"
    path.write_text("\n".join(lines))
    return path


RUNS_HEADING = "## Training runs"


def replace_section(card: str, heading: str, body: str) -> str:
    """The card with the section under `heading` (up to the next "## ") replaced, or appended."""
    section = f"{heading}\n{body.strip()}\n"
    start = card.find(f"{heading}\n")
    if start < 0:
        return card.rstrip("\n") + "\n\n" + section
    end = card.find("\n## ", start + len(heading))
    return card[:start] + section + (card[end:] if end >= 0 else "")


def update_model_card(folder: Path, history: Any) -> Path:
    """After a `train --continue` run: the evaluation of the shipped weights and the table of runs."""
    path = Path(folder) / "README.md"
    card = path.read_text() if path.is_file() else "# Landscapes\n"
    card = replace_section(card, DEFAULTS_HEADING, _defaults(Path(folder)))
    if history.evaluation is not None:
        card = replace_section(card, EVALUATION_HEADING, _evaluation_table(history.evaluation))
    runs = (
        "Every run of `python main.py train` and `train --continue` on these weights; a run replaces "
        "the shipped parts only when it is better on the evaluation (`training_runs.json` has the "
        "figures).\n\n" + history.table()
    )
    card = replace_section(card, RUNS_HEADING, runs)
    path.write_text(card)
    return path


def _evaluation_table(evaluation: dict[str, Any]) -> str:
    from studio.training.evaluate import ATTRIBUTES  # deferred: evaluate imports torch and diffusers

    lines = [
        f"`python main.py evaluate` on the shipped weights: {evaluation['prompts']} prompts, the model's "
        "default steps, guidance and sampler, fixed seeds.",
        "",
        "| attribute | model | target |",
        "| --- | --- | --- |",
    ]
    for key, label in ATTRIBUTES:
        target = "-" if key == "clouds" else ">= 95%"
        lines.append(f"| {label} | {evaluation['accuracy'][key]:.1%} | {target} |")
    lines.append(f"| VAE PSNR, 256 held-out renders | {evaluation['vae_psnr_db']:.2f} dB | >= 30 dB |")
    timing = evaluation.get("timing", "CPU")
    lines.append(f"| seconds per image ({timing}) | {evaluation['seconds_per_image']:.2f} s | <= 1.0 s |")
    return "\n".join(lines)
