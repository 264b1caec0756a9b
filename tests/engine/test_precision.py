"""Precision: auto measures per model and machine, explicit choices are kept, reduced decodes never
show NaN, and the same precision gives the same pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.engine import precision as precision_module
from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, Precision


@pytest.fixture
def request_for(tiny_model_dir):
    def make(**fields) -> GenerationRequest:
        fields.setdefault("prompt", "a sunny day over a lake")
        fields.setdefault("steps", 3)
        return GenerationRequest(model=str(tiny_model_dir), seed=3, **fields)

    return make


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "precision.json"


def _pretend(monkeypatch, *, hardware: bool, fp32_s: float, bf16_s: float, decode=(50.0, 2.0)):
    """Stand-ins for the processor check and the timed trials, so that the choice itself is tested."""
    monkeypatch.setattr(precision_module, "cpu_has_bf16_hardware", lambda: hardware)
    timings = {None: fp32_s, torch.bfloat16: bf16_s}
    monkeypatch.setattr(precision_module, "time_unet_step", lambda pipeline, dtype: timings[dtype])
    monkeypatch.setattr(precision_module, "trial_decode", lambda vae, dtype: decode)


def test_fp32_runs_in_fp32_without_any_trial(tiny_model_dir, monkeypatch, fresh_cache):
    monkeypatch.setattr(precision_module, "time_unet_step", pytest.fail)
    info = Engine(device="cpu").load_model(str(tiny_model_dir), Precision.FP32)
    assert (info.precision, info.decode_precision) == ("fp32", "fp32")


def test_auto_without_bf16_hardware_stays_fp32_and_says_why(tiny_model_dir, monkeypatch, fresh_cache):
    _pretend(monkeypatch, hardware=False, fp32_s=1.0, bf16_s=0.1)
    info = Engine(device="cpu").load_model(str(tiny_model_dir))
    assert (info.precision, info.decode_precision) == ("fp32", "fp32")
    assert "no bf16 in this processor" in info.precision_reason


@pytest.mark.parametrize(
    ("fp32_s", "bf16_s", "decode", "expected"),
    [
        (3.0, 1.0, (50.0, 2.0), ("bf16", "bf16")),  # a big UNet on AMX: both gain
        (1.0, 1.2, (55.0, 4.0), ("fp32", "bf16")),  # a small overhead-bound UNet, a conv-heavy decoder
        (3.0, 1.0, (35.0, 2.0), ("bf16", "fp32")),  # a decode that bf16 would visibly change
        (3.0, 1.0, (50.0, 0.8), ("bf16", "fp32")),  # a decode that bf16 would slow down
    ],
)
def test_auto_keeps_what_measured_faster(
    tiny_model_dir, monkeypatch, fresh_cache, fp32_s, bf16_s, decode, expected
):
    _pretend(monkeypatch, hardware=True, fp32_s=fp32_s, bf16_s=bf16_s, decode=decode)
    info = Engine(device="cpu").load_model(str(tiny_model_dir))
    assert (info.precision, info.decode_precision) == expected
    assert "UNet step" in info.precision_reason and "dB" in info.precision_reason


def test_auto_is_measured_once_per_model_and_machine(tiny_model_dir, monkeypatch, fresh_cache):
    _pretend(monkeypatch, hardware=True, fp32_s=3.0, bf16_s=1.0)
    Engine(device="cpu").load_model(str(tiny_model_dir))
    assert "bf16" in json.loads(fresh_cache.read_text()).popitem()[1]["unet"]
    # A second process (here: engine) reads the choice instead of timing again.
    monkeypatch.setattr(precision_module, "time_unet_step", pytest.fail)
    assert Engine(device="cpu").load_model(str(tiny_model_dir)).precision == "bf16"


def test_an_unreadable_cache_is_measured_again(tiny_model_dir, monkeypatch, fresh_cache):
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text("{not json")
    _pretend(monkeypatch, hardware=True, fp32_s=3.0, bf16_s=1.0)
    assert Engine(device="cpu").load_model(str(tiny_model_dir)).precision == "bf16"
    assert json.loads(fresh_cache.read_text())  # rewritten whole


def test_bf16_is_close_to_fp32_and_repeats_itself_exactly(tiny_model_dir, request_for, fresh_cache):
    engine = Engine(device="cpu")
    fp32 = engine.generate(request_for(precision="fp32", decode_precision="fp32"))
    bf16 = engine.generate(request_for(precision="bf16", decode_precision="bf16"))
    again = engine.generate(request_for(precision="bf16", decode_precision="bf16"))
    assert (bf16.precision, bf16.decode_precision) == ("bf16", "bf16")
    assert (fp32.precision, fp32.decode_precision) == ("fp32", "fp32")
    difference = np.abs(bf16.images[0].astype(int) - fp32.images[0].astype(int))
    assert 0 < difference.mean() < 8  # rounding, not another picture
    assert np.array_equal(bf16.images[0], again.images[0])
    # The UNet's own forward is back after each run: nothing of the autocast is left behind.
    assert "forward" not in engine._model.pipelines["text-to-image"].unet.__dict__
    back = engine.generate(request_for(precision="fp32", decode_precision="fp32"))
    assert np.array_equal(back.images[0], fp32.images[0])


def test_a_reduced_decode_that_overflows_is_redone_in_fp32(tiny_model_dir, request_for, fresh_cache):
    engine = Engine(device="cpu")
    expected = engine.generate(request_for(precision="fp32", decode_precision="fp32")).images[0]
    vae = engine._model.pipelines["text-to-image"].vae
    original_decode = vae.decode

    def overflowing_decode(latents, return_dict=True):
        decoded = original_decode(latents, return_dict=return_dict)
        if torch.is_autocast_enabled("cpu"):  # what an fp16/bf16 overflow looks like
            return (torch.full_like(decoded[0], float("inf")),)
        return decoded

    vae.decode = overflowing_decode
    result = engine.generate(request_for(precision="fp32", decode_precision="bf16"))
    assert result.decode_precision == "bf16"
    assert np.array_equal(result.images[0], expected)


def test_the_trial_decode_compares_a_real_picture(tiny_model_dir):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tiny_model_dir / "vae")
    psnr, gain = precision_module.trial_decode(vae, torch.bfloat16, size=64)
    assert 20 < psnr < 200 and gain > 0
    picture = precision_module.trial_picture(64)
    assert picture.shape == (64, 64, 3) and picture.std() > 20  # not a flat image


def test_the_command_line_asks_and_records_precision(tiny_model_dir, tmp_path, fresh_cache):
    import subprocess
    import sys

    from studio.engine.metadata import read_png_metadata
    from tests.engine.test_metadata_and_cli import ROOT

    args = ["--model", str(tiny_model_dir), "--steps", "2", "--seed", "1", "--precision", "bf16"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "generate", "--prompt", "a lake", *args, "--out", "a.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "precision: UNet bf16" in done.stderr
    recorded = read_png_metadata(tmp_path / "a.png")
    assert recorded["request"]["precision"] == "bf16"
    assert recorded["request"]["decode_precision"] in ("bf16", "fp32")
    assert "Precision: bf16/" in recorded["parameters"]
