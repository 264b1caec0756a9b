"""Pause, paint, resume: a paused run carries on exactly, and a steer enters the latent where the
picture changed, is recorded in the result and repeats from it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from studio.engine import images, steering
from studio.engine.control import RunControl
from studio.engine.engine import Engine
from studio.engine.metadata import read_request, save_png
from studio.engine.request import Cancelled, GenerationRequest, Mode, PausedEvent, RequestError, Steer


@pytest.fixture(scope="module")
def engine(fp32_engine) -> Engine:
    return fp32_engine


def _picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _requests(model: str) -> dict[str, GenerationRequest]:
    base = GenerationRequest(
        prompt="a sunny day over a lake", steps=6, seed=3, model=model, precision="fp32",
        decode_precision="fp32", width=96, height=64, refine_strength=0,
    )
    mask = np.zeros((64, 96), np.uint8)
    mask[10:40, 20:70] = 255
    sketch = _picture(96, 64)
    return {
        "text-to-image": base,
        "euler a": base.replace(scheduler="euler a"),
        "image-to-image": base.replace(mode=Mode.IMAGE_TO_IMAGE, init_image=sketch, strength=0.7),
        "inpaint": base.replace(mode=Mode.INPAINT, init_image=sketch, mask=mask, inpaint_only_masked=False),
        "inpaint, only masked": base.replace(mode=Mode.INPAINT, init_image=sketch, mask=mask),
    }


def _paused_run(engine, request, pause_at: int, answer):
    """Runs `request`, pausing after step `pause_at`; `answer(event)` gives the steer to resume with."""
    control = RunControl()
    events: list[PausedEvent] = []

    def on_step(event) -> None:
        if event.step == pause_at and not event.refining:
            control.pause()

    def on_pause(event: PausedEvent) -> None:
        events.append(event)
        control.resume(answer(event))

    result = engine.generate(request, on_step=on_step, control=control, on_pause=on_pause)
    return result, events


@pytest.mark.parametrize(
    "kind", ["text-to-image", "euler a", "image-to-image", "inpaint", "inpaint, only masked"]
)
def test_resuming_without_a_change_gives_the_uninterrupted_pixels(engine, tiny_model_dir, kind):
    request = _requests(str(tiny_model_dir))[kind]
    uninterrupted = engine.generate(request).images[0]
    resumed, paused = _paused_run(engine, request, 2, lambda event: None)
    assert [event.step for event in paused] == [2]
    assert paused[0].picture.shape == uninterrupted.shape  # the x0 guess, at the output size
    assert np.array_equal(resumed.images[0], uninterrupted)
    # The app sends the canvas back: unchanged, it changes nothing either.
    unchanged, _ = _paused_run(engine, request, 2, lambda event: Steer(2, image=event.picture))
    assert np.array_equal(unchanged.images[0], uninterrupted)
    assert unchanged.request.steers == ()  # nothing changed, so nothing is recorded


def test_an_edit_made_while_paused_changes_the_result_and_the_result_repeats_it(
    engine, tiny_model_dir, tmp_path
):
    request = _requests(str(tiny_model_dir))["text-to-image"]

    def paint_a_block(event: PausedEvent) -> Steer:
        edited = np.array(event.picture, copy=True)
        edited[8:30, 8:40] = (250, 220, 40)
        return Steer(event.step, image=edited, guidance_scale=5.0)

    steered, _ = _paused_run(engine, request, 3, paint_a_block)
    assert not np.array_equal(steered.images[0], engine.generate(request).images[0])
    (recorded,) = steered.request.steers
    assert (recorded.at_step, recorded.image_index, recorded.guidance_scale) == (3, 0, 5.0)
    # The result's request is a planned steer now: running it makes the same pixels, also from its file.
    assert np.array_equal(engine.generate(steered.request).images[0], steered.images[0])
    path = tmp_path / "steered.png"
    save_png(path, steered.images[0], steered.request, steered.seeds[0], steered)
    assert np.array_equal(engine.generate(read_request(path)).images[0], steered.images[0])


def test_a_prompt_change_holds_for_the_rest_of_the_run(engine, tiny_model_dir):
    request = _requests(str(tiny_model_dir))["text-to-image"]
    changed = engine.generate(request.replace(steers=(Steer(2, prompt="a starry night with the moon"),)))
    assert not np.array_equal(changed.images[0], engine.generate(request).images[0])
    with pytest.raises(RequestError, match="started with guidance"):
        engine.generate(request.replace(steers=(Steer(2, guidance_scale=1.0),)))


def test_cancel_while_paused_ends_the_run(engine, tiny_model_dir):
    request = _requests(str(tiny_model_dir))["text-to-image"]
    control, paused = RunControl(), threading.Event()
    outcome: list[object] = []

    def run() -> None:
        def on_step(event) -> None:
            if event.step == 2:
                control.pause()

        try:
            outcome.append(engine.generate(request, on_step=on_step, control=control,
                                           on_pause=lambda _event: paused.set()))
        except Cancelled as cancelled:
            outcome.append(cancelled)

    worker = threading.Thread(target=run)
    worker.start()
    assert paused.wait(60)
    control.cancel()
    worker.join(60)
    assert not worker.is_alive() and isinstance(outcome[0], Cancelled)


def test_the_latent_moves_only_in_the_cells_the_edit_touches(engine):
    pipe = engine._model.pipelines[Mode.TEXT_TO_IMAGE]
    pipe.scheduler.set_timesteps(10)
    shown = _picture(96, 64, seed=1)
    edited = np.array(shown, copy=True)
    edited[16:24, 40:48] = 0  # exactly latent cells (2, 5): rows 16-23, columns 40-47
    latents = torch.randn(1, 4, 8, 12)
    place = images.Placement(96, 64, 96, 64)
    timestep = pipe.scheduler.timesteps[4]
    with torch.inference_mode():
        steer = Steer(1, image=edited)
        region = steering.changed_region(steer, shown)
        moved = steering.move_latents(pipe, latents, steer, shown, region, place, 8, timestep)
    changed_cells = (moved - latents).abs().amax(dim=1)[0] > 0
    assert changed_cells.nonzero().tolist() == [[2, 5]]
    alpha_bar = float(pipe.scheduler.alphas_cumprod[int(timestep)])
    scale = float(steering.signal_scale(pipe.scheduler, timestep, latents))
    assert scale == pytest.approx(alpha_bar**0.5, rel=1e-5)  # as the forward process scales x0
    assert float(steering.signal_scale(pipe.scheduler, None, latents)) == 1.0  # after the last step


def test_a_steer_image_of_another_size_is_refused_in_words(engine, tiny_model_dir):
    request = _requests(str(tiny_model_dir))["text-to-image"]
    with pytest.raises(RequestError, match="steer with a picture of the output size"):
        engine.generate(request.replace(steers=(Steer(2, image=_picture(32, 32)),)))


def test_a_branch_keeps_the_steps_before_it_and_draws_fresh_noise_after(engine, tiny_model_dir):
    request = _requests(str(tiny_model_dir))["euler a"].replace(preview_kind="x0")
    original, branched = [], []
    first = engine.generate(request, on_step=original.append).images[0]
    branch = request.replace(steers=(Steer(3, noise_seed=77),))
    second = engine.generate(branch, on_step=branched.append).images[0]
    for before, after in zip(original[:3], branched[:3], strict=True):
        assert np.array_equal(before.preview, after.preview)  # the composition decided before step 3
    assert not np.array_equal(first, second)
    assert np.array_equal(engine.generate(branch).images[0], second)  # and it repeats
