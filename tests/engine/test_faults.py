"""Faults inside a run: NaN from a reduced-precision UNet is made again in fp32 (never a black or NaN
picture), running out of memory is survived once with the low-memory options, and the person is told."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.engine import denoising
from studio.engine.engine import Engine
from studio.engine.request import EngineError, GenerationRequest, Mode


@pytest.fixture
def request_for(tiny_model_dir):
    def make(**fields) -> GenerationRequest:
        fields.setdefault("prompt", "a sunny day over a lake")
        fields.setdefault("steps", 3)
        fields.setdefault("decode_precision", "fp32")
        return GenerationRequest(model=str(tiny_model_dir), seed=5, **fields)

    return make


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))


def _unet(engine: Engine):
    return engine._model.pipelines[Mode.TEXT_TO_IMAGE].unet


def _nan_from_the_unet(engine: Engine, only_under_autocast: bool) -> list[bool]:
    """Makes the UNet's last layer give NaN (under bf16 autocast only, or always); returns a list that
    records, per UNet call, whether it ran under autocast."""
    calls: list[bool] = []

    def hook(module, inputs, output):
        reduced = torch.is_autocast_enabled("cpu")
        calls.append(reduced)
        return torch.full_like(output, float("nan")) if reduced or not only_under_autocast else output

    _unet(engine).conv_out.register_forward_hook(hook)  # inside the UNet: under its autocast
    return calls


def test_nan_in_bf16_is_made_again_in_fp32_with_the_fp32_pixels(request_for, fresh_cache):
    expected = Engine(device="cpu").generate(request_for(precision="fp32")).images[0]
    engine = Engine(device="cpu")
    engine.load_model(request_for().model, "bf16", "fp32")
    calls = _nan_from_the_unet(engine, only_under_autocast=True)
    result = engine.generate(request_for(precision="bf16", batch_count=2))
    assert True in calls and False in calls  # the bf16 pass ran, then the fp32 one
    assert np.isfinite(result.images[0]).all() and result.images[0].any()
    assert np.array_equal(result.images[0], expected)  # exactly what an fp32 run gives
    assert result.precision == "bf16"  # what was asked: the same request falls back the same way
    assert "NaN in bf16 on image 1" in result.notes[0] and "fp32" in result.notes[0]
    assert "image 2" in result.notes[1]
    later = _unet(engine)
    assert later.conv_out.weight.dtype == torch.float32
    assert later.conv_out.weight.is_contiguous(memory_format=torch.channels_last)  # bf16's layout again


def test_nan_in_fp32_is_an_error_not_a_black_picture(request_for, fresh_cache):
    engine = Engine(device="cpu")
    engine.load_model(request_for().model, "fp32", "fp32")
    _nan_from_the_unet(engine, only_under_autocast=False)
    with pytest.raises(EngineError, match="NaN"):
        engine.generate(request_for(precision="fp32"))


def _out_of_memory_first(monkeypatch, failures: int) -> list[int]:
    """denoise raises torch.OutOfMemoryError for its first `failures` calls."""
    calls: list[int] = []
    real_denoise = denoising.denoise

    def denoise(run, stage):
        calls.append(1)
        if len(calls) <= failures:
            raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")
        return real_denoise(run, stage)

    monkeypatch.setattr(denoising, "denoise", denoise)
    return calls


def test_out_of_memory_turns_on_the_low_memory_options_and_runs_again(request_for, monkeypatch, fresh_cache):
    plain = Engine(device="cpu").generate(request_for(precision="fp32")).images[0]
    engine = Engine(device="cpu")
    calls = _out_of_memory_first(monkeypatch, failures=1)
    result = engine.generate(request_for(precision="fp32"))
    assert len(calls) == 2
    assert np.abs(result.images[0].astype(int) - plain).max() <= 2  # slicing and tiling: same picture
    assert engine.attention_slicing and engine.vae_tiling
    assert "Ran out of memory" in result.notes[0] and "attention slicing" in result.notes[0]
    vae = engine._model.pipelines[Mode.TEXT_TO_IMAGE].vae
    assert vae.use_tiling
    after = engine.generate(request_for(precision="fp32"))  # the next run works, and says nothing
    assert after.notes == () and len(calls) == 3


def test_out_of_memory_twice_is_one_clear_error_and_the_engine_stays_usable(
    request_for, monkeypatch, fresh_cache
):
    engine = Engine(device="cpu")
    _out_of_memory_first(monkeypatch, failures=2)
    with pytest.raises(EngineError, match="Out of memory at .* even with attention slicing"):
        engine.generate(request_for(precision="fp32"))
    assert engine.generate(request_for(precision="fp32")).images[0].shape[2] == 3
