"""Any canvas size with any model: the model runs at its native size and the result fits the canvas."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine import images
from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, Mode, RequestError, Resolution
from studio.engine.resolution import DEFAULT_REFINE_STRENGTH, native_working_size, plan_sizes

NATIVE = 64  # the tiny test model: 8x8 latents, 8x VAE


@pytest.fixture(scope="module")
def engine(fp32_engine) -> Engine:
    return fp32_engine


@pytest.fixture
def request_for(tiny_model_dir):
    def make(**fields) -> GenerationRequest:
        fields.setdefault("prompt", "a sunny day over a lake")
        fields.setdefault("steps", 3)
        fields.update(precision="fp32", decode_precision="fp32")
        return GenerationRequest(model=str(tiny_model_dir), **fields)

    return make


def _picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# ---- the plan ---------------------------------------------------------------------------------------
def test_the_working_size_keeps_the_native_pixel_count_in_the_canvas_shape():
    assert native_working_size(512, 384, 128, 128) == (144, 112)  # 4:3 at about 128*128 pixels
    assert native_working_size(1024, 1024, 512, 512) == (512, 512)
    assert native_working_size(700, 500, 1024, 1024) == (1208, 864)  # SDXL, 7:5
    width, height = native_working_size(4000, 40, 128, 128)  # extreme shapes stay on the 8-pixel grid
    assert (width, height) == (1280, 16)


def test_refine_is_on_by_default_only_for_sd_class_models_up_to_twice_native():
    two_x = GenerationRequest(width=1024, height=768)
    assert plan_sizes(two_x, 512, 512, refine_by_default=True).refine_strength == DEFAULT_REFINE_STRENGTH
    assert plan_sizes(two_x, 512, 512, refine_by_default=False).refine_strength == 0
    four_x = GenerationRequest(width=2048, height=2048)
    assert plan_sizes(four_x, 512, 512, refine_by_default=True).refine_strength == 0
    asked = GenerationRequest(width=2048, height=2048, refine_strength=0.2)
    assert plan_sizes(asked, 128, 128, refine_by_default=False).refine_strength == 0.2
    smaller = GenerationRequest(width=256, height=256, refine_strength=0.5)  # nothing upscaled
    assert plan_sizes(smaller, 512, 512, refine_by_default=True).refine_strength == 0


def test_exact_runs_at_the_output_size_and_the_size_follows_the_init_image():
    plan = plan_sizes(GenerationRequest(width=512, height=384, resolution="exact"), 128, 128, True)
    assert (plan.working_width, plan.working_height) == (512, 384) and not plan.scaled
    sketch = GenerationRequest(mode=Mode.IMAGE_TO_IMAGE, init_image=_picture(300, 200))
    plan = plan_sizes(sketch, 128, 128, False)
    assert (plan.output_width, plan.output_height) == (300, 200)
    assert plan.describe() == "Generating at 160x104, shown at 300x200"
    with pytest.raises(RequestError, match="differs from the init image"):
        plan_sizes(sketch.replace(width=64, height=64), 128, 128, False)


# ---- the engine -------------------------------------------------------------------------------------
def test_native_is_the_working_size_run_scaled_to_the_output(engine, request_for):
    native = engine.generate(request_for(width=128, height=96, refine_strength=0))
    assert native.images[0].shape == (96, 128, 3) and native.working_size == (72, 56)
    working = engine.generate(request_for(width=72, height=56, resolution=Resolution.EXACT))
    assert working.working_size is None
    assert np.array_equal(native.images[0], images.resize(working.images[0], 128, 96))


def test_previews_are_at_the_working_size_and_a_refine_pass_follows(engine, request_for):
    events = []
    result = engine.generate(request_for(width=128, height=96, steps=4), on_step=events.append)
    assert result.refine_strength == DEFAULT_REFINE_STRENGTH  # SD-class model, 1.7x native
    first_pass = [event for event in events if not event.refining]
    refine_pass = [event for event in events if event.refining]
    assert [event.step for event in first_pass] == [1, 2, 3, 4]
    assert first_pass[0].preview.shape == (7, 9, 3)  # 72x56 in latents
    assert len(refine_pass) == 1  # diffusers' int(4 * 0.35) steps of the redraw
    assert refine_pass[0].preview.shape == (12, 16, 3)  # the output size in latents
    assert refine_pass[-1].noise_level == 0.0
    unrefined = engine.generate(request_for(width=128, height=96, steps=4, refine_strength=0))
    assert not np.array_equal(result.images[0], unrefined.images[0])


def test_image_to_image_scales_the_sketch_down_and_the_result_up(engine, request_for):
    sketch = _picture(256, 128, seed=3)
    request = request_for(mode=Mode.IMAGE_TO_IMAGE, init_image=sketch, strength=0.5, refine_strength=0)
    result = engine.generate(request)
    assert result.images[0].shape == (128, 256, 3) and result.working_size == (88, 48)
    small = engine.generate(request.replace(init_image=images.resize(sketch, 88, 48), resolution="exact"))
    assert np.array_equal(result.images[0], images.resize(small.images[0], 256, 128))


@pytest.mark.parametrize("refine_strength", [0.0, 0.3])
def test_inpainting_a_large_canvas_keeps_every_pixel_outside_the_feathered_mask(
    engine, request_for, refine_strength
):
    canvas = _picture(700, 500, seed=5)
    mask = np.zeros((500, 700), np.uint8)
    mask[150:300, 200:420] = 255
    request = request_for(
        mode=Mode.INPAINT, init_image=canvas, mask=mask, strength=1.0, mask_feather_px=6,
        inpaint_only_masked=False, refine_strength=refine_strength,
    )
    result = engine.generate(request)
    assert result.images[0].shape == canvas.shape and result.working_size == (72, 56)
    assert result.refine_strength == refine_strength
    outside = images.feather_mask(mask, 6) == 0
    assert np.array_equal(result.images[0][outside], canvas[outside])
    assert not np.array_equal(result.images[0][mask > 0], canvas[mask > 0])


def test_only_the_masked_area_still_crops_at_native_size(engine, request_for):
    canvas = _picture(700, 500, seed=6)
    mask = np.zeros((500, 700), np.uint8)
    mask[40:90, 600:680] = 255
    request = request_for(mode=Mode.INPAINT, init_image=canvas, mask=mask, inpaint_only_masked=True)
    result = engine.generate(request)
    assert result.working_size is None  # the crop's own business: planned at the output size
    outside = images.feather_mask(mask, request.mask_feather_px) == 0
    assert np.array_equal(result.images[0][outside], canvas[outside])
