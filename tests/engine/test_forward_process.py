"""The forward-process explorer: q(x_t | x_0) for the person's picture, from x_0 to pure noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.engine.forward_process import FORWARD_STOPS, stop_timesteps
from studio.engine.previews import to_uint8_image
from studio.engine.request import Cancelled, GenerationRequest, Mode, RequestError


def _picture(width: int = 60, height: int = 44) -> np.ndarray:
    """A sky over a field with a sun, at a size off the VAE grid (the padding must go)."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[: height // 2] = (110, 160, 230)
    picture[height // 2 :] = (60, 150, 60)
    picture[6:14, 8:16] = (255, 220, 60)
    return picture


def _request(model_dir, seed: int = 7, resolution: str = "exact") -> GenerationRequest:
    return GenerationRequest(
        mode=Mode.IMAGE_TO_IMAGE, init_image=_picture(), seed=seed, model=str(model_dir),
        precision="fp32", decode_precision="fp32", resolution=resolution,
    )


@pytest.fixture
def explore(fp32_engine, tiny_model_dir):
    def explore(seed: int = 7):
        request = _request(tiny_model_dir, seed)
        frames = []
        fp32_engine.explore_forward(request, frames.append)
        return request, frames

    return explore


def test_the_stops_run_from_x0_to_the_last_training_timestep(explore):
    _request, frames = explore()
    assert [frame.index for frame in frames] == list(range(FORWARD_STOPS + 1))
    assert {frame.count for frame in frames} == {FORWARD_STOPS + 1}
    assert frames[0].timestep is None and frames[0].alpha_bar == 1.0 and frames[0].sigma == 0.0
    timesteps = [frame.timestep for frame in frames[1:]]
    assert timesteps == stop_timesteps(1000) and timesteps[-1] == 999
    alpha_bars = [frame.alpha_bar for frame in frames]
    assert all(later < earlier for earlier, later in zip(alpha_bars, alpha_bars[1:], strict=False))
    assert all(frame.picture.shape == (44, 60, 3) and frame.picture.dtype == np.uint8 for frame in frames)


def test_t0_is_the_vae_reconstruction_of_the_canvas(explore, fp32_engine):
    """x_0 decodes to exactly what diffusers' own VAE round trip (mean latent, decode) makes."""
    request, frames = explore()
    vae = fp32_engine._model.pipelines[Mode.TEXT_TO_IMAGE].vae
    # Padded to the VAE's grid by repeating the edges, as the engine pads every picture.
    grid = fp32_engine._model.vae_scale_factor
    padded = np.pad(request.init_image, ((0, -44 % grid), (0, -60 % grid), (0, 0)), mode="edge")
    sample = torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.inference_mode():
        reconstruction = vae(sample, sample_posterior=False).sample
    expected = to_uint8_image(reconstruction[0])[:44, :60]
    difference = np.abs(frames[0].picture.astype(int) - expected.astype(int))
    assert difference.max() <= 1, difference.max()  # float rounding: the latent scaled in and out


def test_the_last_timestep_is_noise_and_the_noise_is_the_seeds(explore):
    """At t = 999 the latent is unit Gaussian noise (mean ~0, std ~1); the noise is the seed's, the
    same a text-to-image run of that seed starts from, and another seed gives another."""
    _request, frames = explore()
    last = frames[-1]
    assert abs(last.latent_mean) < 0.15, last.latent_mean
    assert abs(last.latent_std - 1.0) < 0.1, last.latent_std
    assert all(np.array_equal(frame.noise, last.noise) for frame in frames)
    _request, again = explore()
    assert np.array_equal(again[-1].picture, last.picture)
    _request, other = explore(seed=8)
    assert not np.array_equal(other[-1].picture, last.picture)
    assert np.array_equal(other[0].picture, frames[0].picture)  # x_0 has no noise in it


def test_the_explorer_needs_a_picture_and_stops_when_told(fp32_engine, tiny_model_dir):
    with pytest.raises(RequestError, match="needs a picture"):
        fp32_engine.explore_forward(GenerationRequest(model=str(tiny_model_dir)), lambda frame: None)
    frames = []
    request = _request(tiny_model_dir)
    with pytest.raises(Cancelled):
        fp32_engine.explore_forward(request, frames.append, should_stop=lambda: len(frames) >= 3)
    assert len(frames) == 3


def test_the_noise_shown_is_what_a_text_to_image_run_of_the_seed_starts_from(explore, fp32_engine):
    _request, frames = explore(seed=7)
    model = fp32_engine._model
    pipeline = model.pipelines[Mode.TEXT_TO_IMAGE]
    grid = model.vae_scale_factor
    first_latent = pipeline.prepare_latents(
        1, 4, 44 + -44 % grid, 60 + -60 % grid, torch.float32, torch.device("cpu"),
        torch.Generator("cpu").manual_seed(7),
    )
    assert model.linear_preview is not None
    assert np.array_equal(frames[0].noise, model.linear_preview.to_rgb(first_latent))


def test_the_canvas_is_noised_at_the_size_runs_work_at(fp32_engine, tiny_model_dir):
    """With the model's own resolution (the default) a run scales the canvas to the model's pixel
    count, so the explorer does too: it shows what the model sees."""
    native = fp32_engine.load_model(str(tiny_model_dir), "fp32", "fp32")
    frames = []
    fp32_engine.explore_forward(_request(tiny_model_dir, resolution="native"), frames.append)
    height, width = frames[0].picture.shape[:2]
    assert (width, height) != (60, 44)
    assert abs(width * height - native.width * native.height) <= 0.15 * native.width * native.height
    assert abs(width / height - 60 / 44) < 0.15
