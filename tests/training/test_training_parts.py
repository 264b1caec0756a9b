"""The training pieces on their own: schedules, preview fit, resumable state, loss curve, eval prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.training.captions import parse_caption
from studio.training.checkpoint import RunState, save_checkpoint
from studio.training.diffusion import cosine_schedule
from studio.training.evaluate import evaluation_prompts
from studio.training.export import fit_linear_preview
from studio.training.progress import write_loss_curve
from studio.training.vae import EncodedLatents


def test_learning_rate_warms_up_then_decays_to_the_floor() -> None:
    assert cosine_schedule(0.0, 0.1, 0.05) == pytest.approx(0.0)
    assert cosine_schedule(0.1, 0.1, 0.05) == pytest.approx(1.0)
    assert cosine_schedule(0.55, 0.1, 0.05) == pytest.approx(0.525)
    assert cosine_schedule(1.0, 0.1, 0.05) == pytest.approx(0.05)
    assert cosine_schedule(1.7, 0.1, 0.05) == pytest.approx(0.05)  # past the budget: stays at the floor


def test_preview_fit_recovers_a_linear_latent_to_rgb_map() -> None:
    generator = torch.Generator().manual_seed(0)
    factors = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.25, -0.1], [-0.15, 0.1, 0.3], [0.2, 0.05, 0.0]])
    bias = torch.tensor([0.1, -0.05, 0.2])
    scaling = 2.0
    latents = 0.3 * torch.randn(64, 4, 4, 4, generator=generator)  # small enough that RGB never clips
    rgb = torch.einsum("nchw,cd->ndhw", latents * scaling, factors) + bias[:, None, None]
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    images = pixels.repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)  # each cell one flat 8x8 colour
    fitted = fit_linear_preview(
        EncodedLatents(latents.half(), torch.zeros_like(latents).half()), images, scaling
    )
    assert np.allclose(fitted.factors, factors.numpy(), atol=0.01)
    assert np.allclose(fitted.bias, bias.numpy(), atol=0.01)


def test_run_state_resumes_the_same_run_and_moves_another_aside(tmp_path: Path) -> None:
    identity = {"config": {"channels": (16, 32)}, "seed": 0}
    state = RunState.open(tmp_path / "work", identity, resume=True)
    state.seconds["vae"] = 12.0
    state.finish("vae")
    save_checkpoint(tmp_path / "work" / "vae.pt", {"step": torch.tensor(3)})

    again = RunState.open(tmp_path / "work", identity, resume=True)
    assert again.resumed and again.finished == ["vae"] and again.seconds["vae"] == 12.0

    other = RunState.open(tmp_path / "work", {**identity, "seed": 1}, resume=True)
    assert not other.resumed
    assert not (tmp_path / "work" / "vae.pt").exists()  # no weights of the seed-0 run leak into seed 1
    (aside,) = tmp_path.glob("work.old-*")  # ...but they are kept, moved aside
    assert (aside / "vae.pt").is_file()

    fresh = RunState.open(tmp_path / "work", identity, resume=False)
    assert not fresh.resumed


def test_loss_curve_is_a_png_with_one_panel_per_curve(tmp_path: Path) -> None:
    path = write_loss_curve(
        {"vae": [1.0, 0.5, 0.25, 0.2], "unet": [0.9, 0.3]}, tmp_path / "curve.png", height=200
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[1] == 400


def test_evaluation_prompts_are_fixed_and_name_their_scenes() -> None:
    scenes, prompts = evaluation_prompts(20, seed=0)
    assert evaluation_prompts(20, seed=0)[1] == prompts
    assert evaluation_prompts(20, seed=1)[1] != prompts
    for scene, prompt in zip(scenes, prompts, strict=True):
        named = parse_caption(prompt)
        assert named["time"] == [scene.time]
        assert named["ground"] == [scene.ground]
        assert named.get("mountains", ["none"]) == [scene.mountains]


def test_checkpoint_files_are_plain_tensors(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"losses": [1.0, 0.5], "step": 2})
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    assert loaded == {"losses": [1.0, 0.5], "step": 2}
    assert json.dumps(loaded["losses"])


def test_model_defaults_file_round_trips_and_a_malformed_one_is_named(tmp_path) -> None:
    from studio.engine.model_defaults import MODEL_DEFAULTS_FILE, ModelDefaults
    from studio.engine.previews import LinearPreview
    from studio.engine.request import EngineError

    preview = LinearPreview(((1.0, 0.0, 0.5),) * 4, (0.1, 0.2, 0.3))
    written = ModelDefaults(128, 96, 25, 4.5, "dpm++ 2m", preview)
    written.write(tmp_path)
    assert ModelDefaults.read(tmp_path) == written
    assert ModelDefaults.read(tmp_path / "elsewhere") is None
    (tmp_path / MODEL_DEFAULTS_FILE).write_text('{"width": "wide"}')
    with pytest.raises(EngineError, match=f"{MODEL_DEFAULTS_FILE}.*'width' must be a number"):
        ModelDefaults.read(tmp_path)
