"""A whole training run at toy scale: the loss falls and the exported folder is a working SD pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from studio.engine.model_defaults import MODEL_DEFAULTS_FILE
from studio.training.checkpoint import work_folder_for
from studio.training.config import TrainConfig
from studio.training.export import MAX_FILE_BYTES
from studio.training.train import train_default_model
from tests.training.conftest import TRAINED_STEPS


def _report(folder: Path) -> dict:
    return json.loads((work_folder_for(folder) / "report.json").read_text())


def test_training_lowers_both_losses(trained: Path) -> None:
    vae_checkpoint = torch.load(work_folder_for(trained) / "vae.pt", weights_only=True)
    diffusion_checkpoint = torch.load(work_folder_for(trained) / "diffusion.pt", weights_only=True)
    for losses in (vae_checkpoint["losses"], diffusion_checkpoint["losses"]):
        assert len(losses) == TRAINED_STEPS  # the run stops at its size, not at a time
        window = max(2, len(losses) // 4)
        assert np.mean(losses[-window:]) < np.mean(losses[:window])


def test_export_is_a_stable_diffusion_folder_that_samples(trained: Path) -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(trained).to(dtype=torch.float32)
    assert pipeline.safety_checker is None
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(
        "a sunny day with the sun on the left over a lake, xylophone",
        num_inference_steps=2,
        height=128,
        width=128,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.shape == (128, 128, 3)
    assert np.isfinite(image).all()
    assert pipeline.vae.config.scaling_factor != pytest.approx(0.18215)  # set from our own latents


def test_export_writes_studio_settings_and_small_files(trained: Path) -> None:
    settings = json.loads((trained / MODEL_DEFAULTS_FILE).read_text())
    assert (settings["width"], settings["height"]) == (128, 128)
    assert settings["scheduler"] in {"ddim", "ddpm", "euler", "euler a", "dpm++ 2m", "dpm++ 2m karras"}
    factors = np.array(settings["preview"]["factors"])
    assert factors.shape == (4, 3) and np.abs(factors).sum() > 0
    assert len(settings["preview"]["bias"]) == 3
    files = [p for p in trained.rglob("*") if p.is_file()]
    assert all(p.stat().st_size < MAX_FILE_BYTES for p in files)
    assert {"README.md", "samples.png", "loss_curve.png", "model_index.json"} <= {p.name for p in files}
    assert any(p.suffix == ".safetensors" for p in (trained / "unet").iterdir())


def test_a_finished_run_resumes_without_training_again(trained: Path) -> None:
    report = _report(trained)
    again = train_default_model(
        trained,
        minutes=report["minutes_budget"],
        config=TrainConfig.tiny(),
        resume=True,
        max_steps=TRAINED_STEPS,
    )
    steps_before = report["diffusion_steps"]
    assert _report(again)["diffusion_steps"] == steps_before
