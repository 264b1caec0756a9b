"""SDXL folders run through the same engine: every mode, previews with SDXL's factors, precision."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.engine import Engine
from studio.engine.images import feather_mask
from studio.engine.precision import time_unet_step
from studio.engine.request import GenerationRequest, Mode, PreviewMethod
from studio.training.random_models import save_random_model


@pytest.fixture(scope="module")
def sdxl_dir(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("models") / "tiny-sdxl", kind="tiny-sdxl")


@pytest.fixture(scope="module")
def engine(sdxl_dir) -> Engine:
    engine = Engine(device="cpu")
    engine.load_model(str(sdxl_dir), "fp32", "fp32")
    return engine


def test_an_sdxl_folder_loads_as_sdxl_with_its_own_preview_factors(engine, sdxl_dir):
    pipeline = engine._model.pipelines[Mode.TEXT_TO_IMAGE]
    assert type(pipeline).__name__ == "StableDiffusionXLPipeline"
    assert type(engine._model.pipelines[Mode.INPAINT]).__name__ == "StableDiffusionXLInpaintPipeline"
    assert engine._model.linear_preview.bias != (0.0, 0.0, 0.0)  # SDXL's published factors have a bias
    assert engine.model_info.width == 64  # sample size 8 x the VAE's factor 8


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_runs_with_a_preview_per_step(engine, sdxl_dir, mode):
    picture = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :32] = 255
    events = []
    request = GenerationRequest(
        prompt="snowy mountains at dusk", steps=3, seed=2, model=str(sdxl_dir), mode=mode,
        width=64, height=48, precision="fp32", decode_precision="fp32", preview_method=PreviewMethod.LINEAR,
        init_image=None if mode is Mode.TEXT_TO_IMAGE else picture,
        mask=mask if mode is Mode.INPAINT else None,
    )
    result = engine.generate(request, on_step=events.append)
    assert result.images[0].shape == (48, 64, 3)
    assert events and all(event.preview is not None for event in events)
    if mode is Mode.INPAINT:
        outside = feather_mask(mask, request.mask_feather_px) == 0
        assert outside.any() and np.array_equal(result.images[0][outside], picture[outside])


def test_the_precision_trial_feeds_sdxl_its_extra_inputs(engine):
    assert time_unet_step(engine._model.pipelines[Mode.TEXT_TO_IMAGE], None) > 0


def test_a_single_file_checkpoint_takes_its_config_folders_pipeline_class(sdxl_dir, tiny_model_dir, tmp_path):
    from studio.engine.loading import _pipeline_class_of
    from studio.engine.request import EngineError

    assert _pipeline_class_of(str(sdxl_dir)).__name__ == "StableDiffusionXLPipeline"
    assert _pipeline_class_of(str(tiny_model_dir)).__name__ == "StableDiffusionPipeline"
    (tmp_path / "model_index.json").write_text('{"_class_name": "NoSuchPipeline"}')
    with pytest.raises(EngineError, match="cannot load single files"):
        _pipeline_class_of(str(tmp_path))
