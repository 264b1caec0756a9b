"""The engine end to end on a tiny random-weight model: every mode, previews, cancel, seeds, sizes."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.engine import Engine
from studio.engine.images import feather_mask
from studio.engine.request import Cancelled, GenerationRequest, Mode, PreviewKind, PreviewMethod, StepEvent


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    engine = Engine(device="cpu")
    engine.load_model(str(tiny_model_dir))
    return engine


@pytest.fixture
def request_for(tiny_model_dir):
    def make(**fields) -> GenerationRequest:
        fields.setdefault("prompt", "a sunny day over a lake")
        fields.setdefault("steps", 4)
        return GenerationRequest(model=str(tiny_model_dir), **fields)

    return make


def _picture(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "scheduler", ["ddim", "ddpm", "euler", "euler a", "dpm++ 2m", "dpm++ 2m karras", "lcm"]
)
@pytest.mark.parametrize("kind", [PreviewKind.NOISY_LATENT, PreviewKind.PREDICTED_CLEAN])
def test_every_step_sends_one_preview(engine, request_for, scheduler, kind):
    events: list[StepEvent] = []
    result = engine.generate(
        request_for(steps=5, scheduler=scheduler, preview_kind=kind), on_step=events.append
    )
    assert [event.step for event in events] == [1, 2, 3, 4, 5]
    assert all(event.total_steps == 5 for event in events)
    assert all(event.preview is not None and event.preview.dtype == np.uint8 for event in events)
    assert events[0].preview.shape == (8, 8, 3)  # latent resolution: cheap to send
    assert events[-1].noise_level == 0.0 and events[0].noise_level > events[-2].noise_level > 0
    assert result.images[0].shape == (64, 64, 3)


def test_x0_preview_differs_from_x_t_preview(engine, request_for):
    noisy, clean = [], []
    engine.generate(request_for(seed=1), on_step=noisy.append)
    engine.generate(request_for(seed=1, preview_kind=PreviewKind.PREDICTED_CLEAN), on_step=clean.append)
    assert not np.array_equal(noisy[0].preview, clean[0].preview)


def test_vae_preview_is_full_size(engine, request_for):
    events = []
    engine.generate(request_for(preview_method=PreviewMethod.VAE), on_step=events.append)
    assert events[0].preview.shape == (64, 64, 3)


def test_previews_off_sends_steps_without_images(engine, request_for):
    events = []
    engine.generate(request_for(preview_kind=PreviewKind.OFF), on_step=events.append)
    assert len(events) == 4 and all(event.preview is None for event in events)


def test_same_request_gives_identical_pixels(engine, request_for):
    first = engine.generate(request_for(seed=42)).images[0]
    second = engine.generate(request_for(seed=42)).images[0]
    other = engine.generate(request_for(seed=43)).images[0]
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_batch_image_i_is_reproducible_alone(engine, request_for):
    batch = engine.generate(request_for(seed=10, batch_count=3))
    assert batch.seeds == (10, 11, 12)
    alone = engine.generate(request_for(seed=12)).images[0]
    assert np.array_equal(batch.images[2], alone)


def test_cancel_stops_within_one_step_and_gives_no_result(engine, request_for):
    steps_seen = []
    with pytest.raises(Cancelled):
        engine.generate(
            request_for(steps=20), on_step=steps_seen.append, should_stop=lambda: len(steps_seen) >= 3
        )
    assert len(steps_seen) == 3
    # ready for the next request straight away
    assert engine.generate(request_for(steps=2)).images[0].shape == (64, 64, 3)


@pytest.mark.parametrize(("width", "height"), [(61, 37), (8, 8), (100, 72)])
def test_any_size_comes_back_exactly(engine, request_for, width, height):
    result = engine.generate(request_for(width=width, height=height, steps=2))
    assert result.images[0].shape == (height, width, 3)


def test_image_to_image_follows_strength(engine, request_for):
    sketch = _picture(70, 50)
    events = []
    result = engine.generate(
        request_for(mode=Mode.IMAGE_TO_IMAGE, init_image=sketch, strength=0.5, steps=10),
        on_step=events.append,
    )
    assert len(events) == 5  # diffusers' strength: int(10 * 0.5) steps of denoising
    assert result.images[0].shape == sketch.shape


def test_low_strength_stays_closer_to_the_sketch(engine, request_for):
    sketch = _picture(64, 64)

    def distance(strength: float) -> float:
        image = engine.generate(
            request_for(mode=Mode.IMAGE_TO_IMAGE, init_image=sketch, strength=strength, steps=10)
        )
        return float(np.abs(image.images[0].astype(float) - sketch).mean())

    assert distance(0.2) < distance(1.0)


@pytest.mark.parametrize("only_masked", [False, True])
def test_inpainting_keeps_every_pixel_outside_the_feathered_mask(engine, request_for, only_masked):
    picture = _picture(90, 70)
    mask = np.zeros((70, 90), np.uint8)
    mask[20:40, 30:55] = 255
    steps: list[StepEvent] = []
    result = engine.generate(
        request_for(
            mode=Mode.INPAINT,
            init_image=picture,
            mask=mask,
            mask_feather_px=3,
            strength=1.0,
            inpaint_only_masked=only_masked,
            inpaint_padding_px=6,
        ),
        on_step=steps.append,
    ).images[0]
    outside = feather_mask(mask, 3) == 0
    assert result.shape == picture.shape
    assert np.array_equal(result[outside], picture[outside])
    assert not np.array_equal(result[mask > 0], picture[mask > 0])
    # The UI is told where the run may change the canvas on each pass's first step, from the same
    # feathering as the blend.
    area = steps[0].repaint_area
    assert area is not None and all((event.repaint_area is area) == (event.step == 1) for event in steps)
    assert np.array_equal(area.weights, np.rint(feather_mask(mask, 3) * 255))
    rows, cols = np.flatnonzero((~outside).any(axis=1)), np.flatnonzero((~outside).any(axis=0))
    assert area.changed == (cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
    assert (area.crop is not None) == only_masked


def test_model_can_change_between_requests(engine, tiny_model_dir, tmp_path):
    from studio.training.random_models import save_random_model

    other = save_random_model(tmp_path / "other", seed=5)
    image = engine.generate(GenerationRequest(prompt="x", steps=2, model=str(other))).images[0]
    assert engine.model_info.source == str(other)
    assert image.shape == (64, 64, 3)
    engine.load_model(str(tiny_model_dir))


def test_low_memory_options_give_the_same_picture(tiny_model_dir, request_for):
    exact = request_for(seed=3, width=96, height=64, precision="fp32", decode_precision="fp32")
    plain = Engine(device="cpu").generate(exact).images[0]
    sliced = Engine(device="cpu", attention_slicing=True).generate(exact).images[0]
    assert np.abs(plain.astype(int) - sliced).max() <= 2  # slicing only reorders the same sums
    tiled_engine = Engine(device="cpu", vae_tiling=True)
    tiled_engine.load_model(exact.model, "fp32", "fp32")
    vae = tiled_engine._model.pipelines[Mode.TEXT_TO_IMAGE].vae
    # The tiny model's 12x8 latent is smaller than a real VAE's tile: shrink the tile so that the
    # decode really goes through tiles and their blended seams, as a 2048 px picture does with SD.
    vae.tile_latent_min_size, vae.tile_sample_min_size = 8, 8 * tiled_engine._model.vae_scale_factor
    tiles = []
    real_tiled_decode = vae.tiled_decode
    vae.tiled_decode = lambda *args, **kwargs: tiles.append(1) or real_tiled_decode(*args, **kwargs)
    tiled = tiled_engine.generate(exact).images[0]
    assert tiles, "the decode never went through tiles"
    # Tiles see less around each pixel, so the picture is close but not equal: far closer to the
    # untiled one than another seed's picture is.
    another_seed = Engine(device="cpu").generate(exact.replace(seed=4)).images[0]
    assert np.abs(plain.astype(int) - tiled).mean() < np.abs(plain.astype(int) - another_seed).mean() / 3


@pytest.mark.parametrize("scheduler", ["ddim", "euler a", "dpm++ 2m"])
@pytest.mark.parametrize("mode", [Mode.IMAGE_TO_IMAGE, Mode.INPAINT])
def test_noise_level_reaches_zero_in_every_mode(engine, request_for, mode, scheduler):
    mask = np.full((64, 64), 255, np.uint8)
    full, cut = [], []
    engine.generate(request_for(steps=10, scheduler=scheduler), on_step=full.append)
    engine.generate(
        request_for(
            mode=mode,
            init_image=_picture(64, 64),
            mask=mask if mode is Mode.INPAINT else None,
            strength=0.5,
            steps=10,
            scheduler=scheduler,
        ),
        on_step=cut.append,
    )
    # The strength cut starts half-way down the schedule: the levels are those of the full run's
    # second half, ending at 0 (they never reached 0 when counted from the uncut schedule).
    assert [event.noise_level for event in cut] == pytest.approx(
        [event.noise_level for event in full[-len(cut) :]]
    )
    assert cut[-1].noise_level == 0.0 and cut[0].noise_level < full[0].noise_level


@pytest.mark.parametrize("scheduler", ["ddpm", "euler a"])  # the samplers that add fresh noise each step
def test_samplers_with_fresh_noise_make_the_same_pixels_again_from_the_seed(engine, request_for, scheduler):
    request = request_for(scheduler=scheduler, seed=9)
    assert np.array_equal(engine.generate(request).images[0], engine.generate(request).images[0])


@pytest.mark.parametrize("scheduler", ["ddim", "euler a", "dpm++ 2m", "lcm"])
@pytest.mark.parametrize("mode", [Mode.IMAGE_TO_IMAGE, Mode.INPAINT])
def test_the_last_step_of_every_mode_reports_no_noise_left(engine, request_for, mode, scheduler):
    """Image-to-image and inpainting start part-way down the schedule; their noise level must still
    fall to 0 at their last step, not stop at the uncut schedule's level."""
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    events = []
    engine.generate(
        request_for(mode=mode, init_image=_picture(64, 64), mask=mask if mode is Mode.INPAINT else None,
                    strength=0.6, steps=10, scheduler=scheduler),
        on_step=events.append,
    )
    levels = [event.noise_level for event in events]
    assert levels[-1] == 0.0 and all(a > b for a, b in zip(levels, levels[1:-1], strict=False))


@pytest.mark.parametrize("mode", [Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE])
def test_the_first_step_carries_the_schedule_the_run_walks(engine, request_for, mode):
    from studio.engine.schedulers import make_scheduler

    events = []
    init = _picture(64, 64) if mode is Mode.IMAGE_TO_IMAGE else None
    engine.generate(request_for(mode=mode, init_image=init, strength=0.5, steps=10, scheduler="ddim"),
                    on_step=events.append)
    scheduler = make_scheduler("ddim", engine._model.scheduler_config)
    scheduler.set_timesteps(10)
    expected = scheduler.timesteps[-len(events):].numpy()  # image-to-image: the strength cut
    schedule = events[0].schedule
    assert np.array_equal(schedule.timesteps, expected.astype(float))
    assert np.allclose(schedule.alpha_bar, scheduler.alphas_cumprod[expected].double().numpy())
    assert all(event.schedule is None for event in events[1:])
    assert all(event.latent_std > 0 and event.predicted_noise_std > 0 for event in events)
