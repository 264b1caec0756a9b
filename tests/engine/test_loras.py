"""LoRAs: loaded from local .safetensors through diffusers, weighted, removed exactly, refused when
pickled, broken or made for another model, and the model stays usable after a refusal."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from studio.engine.engine import Engine
from studio.engine.loras import is_few_step_lora
from studio.engine.metadata import read_png_metadata
from studio.engine.request import EngineError, GenerationRequest, LoraWeight, RequestError
from studio.training.random_models import save_random_lora

EXACT = {"precision": "fp32", "decode_precision": "fp32"}


@pytest.fixture(scope="module")
def lora_files(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    return [save_random_lora(tiny_model_dir, folder / f"style{seed}.safetensors", seed) for seed in (1, 2)]


@pytest.fixture(scope="module")
def engine(fp32_engine) -> Engine:
    return fp32_engine


@pytest.fixture
def picture(engine, tiny_model_dir):
    def make(*loras: LoraWeight) -> np.ndarray:
        request = GenerationRequest(
            prompt="a sunny day over a lake", steps=3, seed=4, model=str(tiny_model_dir), loras=loras, **EXACT
        )
        return engine.generate(request).images[0]

    return make


def test_a_lora_changes_the_picture_by_its_weight_and_leaves_no_trace(picture, lora_files):
    base = picture()
    full = picture(LoraWeight(str(lora_files[0]), 1.0))
    half = picture(LoraWeight(str(lora_files[0]), 0.5))
    off = picture(LoraWeight(str(lora_files[0]), 0.0))
    assert np.abs(full.astype(int) - base).mean() > 1
    assert 0 < np.abs(half.astype(int) - base).mean() < np.abs(full.astype(int) - base).mean()
    assert np.abs(off.astype(int) - base).max() <= 1  # weight 0 is the base model
    assert np.array_equal(picture(), base)  # unloaded: exactly the base model again


def test_two_loras_combine_and_each_counts(picture, lora_files):
    first, second = (LoraWeight(str(path), 0.8) for path in lora_files)
    both = picture(first, second)
    assert not np.array_equal(both, picture(first))
    assert not np.array_equal(both, picture(second))
    assert np.array_equal(both, picture(first, second))  # the same request, the same pixels


def test_a_pickled_lora_is_refused_and_its_code_never_runs(picture, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    pickled = tmp_path / "evil_lora.pt"
    pickled.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(EngineError, match="pickled LoRA"):
        picture(LoraWeight(str(pickled)))
    assert not marker.exists()


@pytest.mark.parametrize("problem", ["missing", "truncated", "text", "wrong model"])
def test_a_bad_lora_is_explained_and_the_model_still_works(picture, lora_files, tmp_path, problem):
    base = picture()
    path = tmp_path / "bad.safetensors"
    if problem == "truncated":
        path.write_bytes(lora_files[0].read_bytes()[:200])
    elif problem == "text":
        path.write_text("not a LoRA")
    elif problem == "wrong model":
        import torch
        from safetensors.torch import save_file

        save_file({"unet.down_blocks.0.nonsense.lora_A.weight": torch.zeros(4, 4)}, path)
    with pytest.raises(EngineError) as refused:
        picture(LoraWeight(str(path)))
    message = str(refused.value)
    expected = "not found" if problem == "missing" else "Could not load the LoRA bad.safetensors"
    assert expected in message
    assert np.array_equal(picture(), base)


def test_lora_requests_are_checked_and_parsed():
    assert LoraWeight.parse("style.safetensors:0.6") == LoraWeight("style.safetensors", 0.6)
    assert LoraWeight.parse("style.safetensors") == LoraWeight("style.safetensors", 1.0)
    with pytest.raises(RequestError, match="LoRA weight"):
        GenerationRequest(loras=(LoraWeight("a.safetensors", 9.0),))
    with pytest.raises(RequestError, match="twice"):
        GenerationRequest(loras=(LoraWeight("a.safetensors"), LoraWeight("a.safetensors", 0.5)))
    assert is_few_step_lora("/models/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors")
    assert not is_few_step_lora("/models/styles/watercolour.safetensors")


def test_the_command_line_takes_loras_and_records_them(tiny_model_dir, lora_files, tmp_path):
    from tests.engine.test_metadata_and_cli import ROOT

    args = ["--model", str(tiny_model_dir), "--steps", "2", "--lora", f"{lora_files[0]}:0.7"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "generate", "--prompt", "a lake", *args, "--out", "l.png"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    recorded = read_png_metadata(tmp_path / "l.png")
    assert recorded["parameters"].startswith("a lake <lora:style1:0.7>")
    assert recorded["request"]["loras"] == [{"path": str(lora_files[0]), "weight": 0.7}]


def test_an_lcm_checkpoint_brings_few_step_defaults_and_runs_them(tiny_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "tiny-distilled"
    shutil.copytree(tiny_model_dir, folder)
    config_file = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text()) | {"_class_name": "LCMScheduler"}
    config_file.write_text(json.dumps(config))
    index_file = folder / "model_index.json"  # where diffusers reads the scheduler class from
    index = json.loads(index_file.read_text()) | {"scheduler": ["diffusers", "LCMScheduler"]}
    index_file.write_text(json.dumps(index))
    engine = Engine(device="cpu")
    info = engine.load_model(str(folder), "fp32", "fp32")
    assert info.few_step and (info.scheduler, info.steps, info.guidance_scale) == ("lcm", 4, 1.0)
    steps = []
    request = GenerationRequest(
        prompt="a lake", model=str(folder), scheduler=info.scheduler, steps=info.steps,
        guidance_scale=info.guidance_scale, **EXACT,
    )
    engine.generate(request, on_step=steps.append)
    assert [event.step for event in steps] == [1, 2, 3, 4]
    assert not Engine(device="cpu").load_model(str(tiny_model_dir), "fp32", "fp32").few_step
