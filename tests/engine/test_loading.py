"""Model sources: clear messages for everything a user might point the loader at."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from studio.engine.engine import Engine
from studio.engine.request import EngineError


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu")


def test_folder_loads_with_model_defaults(engine, tiny_model_dir):
    info = engine.load_model(str(tiny_model_dir))
    assert (info.width, info.height) == (64, 64)
    assert info.name == "tiny"


def test_studio_settings_file_sets_defaults_and_preview(engine, tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "with_settings"
    shutil.copytree(tiny_model_dir, folder)
    factors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    (folder / "latent_studio.json").write_text(
        json.dumps(
            {
                "width": 96,
                "height": 80,
                "steps": 12,
                "guidance_scale": 3.0,
                "scheduler": "DPM++ 2M Karras",
                "preview": {"factors": factors, "bias": [0, 0, 0]},
            }
        )
    )
    info = engine.load_model(str(folder))
    assert (info.width, info.height, info.steps, info.guidance_scale) == (96, 80, 12, 3.0)
    assert info.scheduler == "dpm++ 2m karras"
    # The file's preview factors are the previews' own: latent channels 0-2 become red, green and blue.
    latents = torch.zeros(1, 4, 2, 2)
    latents[0, 0] = 1.0  # full red: (1 + 1) * 127.5
    latents[0, 2, 0, 0] = -1.0  # no blue in one pixel
    rgb = engine._model.linear_preview.to_rgb(latents)
    assert rgb[..., 0].min() == 255 and rgb[..., 1].max() == 128 and rgb[0, 0, 2] == 0 and rgb[1, 1, 2] == 128


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "No model at"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no model_index.json"),
        (lambda p: (p / "w.ckpt").write_bytes(b"x") and p / "w.ckpt", "pickled checkpoint"),
        (lambda p: (p / "w.safetensors").write_bytes(b"x") and p / "w.safetensors", "config"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "not a model"),
    ],
)
def test_bad_sources_explain_themselves(engine, tmp_path, make, message):
    with pytest.raises(EngineError, match=message):
        engine.load_model(str(make(tmp_path)))


def test_hub_id_offline_says_what_to_do(engine):
    with pytest.raises(EngineError, match="hf download"):
        engine.load_model("nobody/no-such-model")


def test_folder_with_only_pickled_weights_is_refused(engine, tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(EngineError, match="pickled"):
        engine.load_model(str(folder))


def test_missing_embedded_model_names_the_fix(monkeypatch, tmp_path, engine):
    import studio.engine.loading as loading

    monkeypatch.setattr(loading, "EMBEDDED_MODEL_DIR", tmp_path / "nothing")
    with pytest.raises(EngineError, match="main.py train"):
        engine.load_model("")


def test_a_checkpoint_without_a_config_folder_says_where_to_name_one(engine, tmp_path):
    """Nothing named and nothing in the local Hugging Face cache: the message says what is missing
    and where the app and the command line take a config folder."""
    import torch
    from safetensors.torch import save_file

    checkpoint = tmp_path / "weights-only.safetensors"  # the keys of an SD 1.x UNet's first layer
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3)}, checkpoint)
    with pytest.raises(EngineError, match="Config for model files.*--config") as raised:
        engine.load_model(str(checkpoint))
    assert "weights-only.safetensors" in str(raised.value)


def test_a_named_config_folder_goes_to_diffusers_with_the_checkpoint(tiny_model_dir, tmp_path, monkeypatch):
    from diffusers import StableDiffusionPipeline

    asked = {}

    def from_single_file(path, **options):
        asked.update(options, path=path)
        raise OSError("stop here: converting a real checkpoint is diffusers' part")

    monkeypatch.setattr(StableDiffusionPipeline, "from_single_file", from_single_file)
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    engine = Engine(device="cpu")
    engine.single_file_config = str(tiny_model_dir)  # what the app's worker sets from the setting
    with pytest.raises(EngineError, match="stop here"):
        engine.load_model(str(checkpoint))
    assert asked["path"] == str(checkpoint) and asked["config"] == str(tiny_model_dir)
    assert asked["local_files_only"] is True


class _WritesAMarker:
    """A pickle payload: unpickling it calls Path.touch on the marker, as a hostile checkpoint would
    run any code it likes."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_a_hostile_pickled_checkpoint_never_runs_its_code_with_or_without_opt_in(tiny_model_dir, tmp_path):
    import torch

    marker = tmp_path / "the-payload-ran"
    checkpoint = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {"weight": _WritesAMarker(marker)}}, checkpoint)
    with pytest.raises(EngineError, match="pickled checkpoint, which can run arbitrary code"):
        Engine(device="cpu").load_model(str(checkpoint))
    assert not marker.exists()
    trusting = Engine(device="cpu", allow_pickled_weights=True, single_file_config=str(tiny_model_dir))
    # Opted in, it still loads with weights_only (diffusers' torch.load): the payload's global is refused.
    with pytest.raises(EngineError, match="Unable to load weights from checkpoint"):
        trusting.load_model(str(checkpoint))
    assert not marker.exists()
    torch.load(checkpoint, weights_only=False)  # the payload is real: a plain load runs it
    assert marker.exists()


def test_another_config_for_the_loaded_checkpoint_loads_it_again(tiny_model_dir, tmp_path, monkeypatch):
    import dataclasses

    import studio.engine.engine as engine_module

    configs, real_load = [], engine_module.load_model

    def load(source, device, dtype, config, allow_pickled):  # the tiny folder stands in for a checkpoint
        configs.append(config)
        model = real_load(str(tiny_model_dir), device, dtype, None, allow_pickled)
        return dataclasses.replace(model, info=dataclasses.replace(model.info, source=source))

    monkeypatch.setattr(engine_module, "load_model", load)
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    engine = Engine(device="cpu")
    engine.single_file_config = "sd15-a"
    engine.load_model(str(checkpoint), "fp32", "fp32")
    engine.load_model(str(checkpoint), "fp32", "fp32")  # loaded already: nothing to do
    engine.single_file_config = "sd15-b"
    engine.load_model(str(checkpoint), "fp32", "fp32")
    assert configs == ["sd15-a", "sd15-b"]


def _index_without_a_unet(folder):
    index = json.loads((folder / "model_index.json").read_text())
    index.pop("unet")
    index.update(_class_name="FluxPipeline", transformer=["diffusers", "FluxTransformer2DModel"])
    (folder / "model_index.json").write_text(json.dumps(index))


def _cut_in_half(file):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: shutil.rmtree(folder / "vae"), "no vae folder .*Copy the whole model folder again"),
        (lambda folder: _cut_in_half(folder / "unet" / "diffusion_pytorch_model.safetensors"),
         "damaged or cut short"),
        (lambda folder: (folder / "model_index.json").write_text("{not json"), "model_index.json is damaged"),
        (_index_without_a_unet, "FluxPipeline model, which Latent Studio cannot run"),
    ],
    ids=["a part missing", "truncated weights", "damaged index", "unsupported architecture"],
)
def test_a_damaged_or_foreign_model_folder_says_what_is_wrong_and_the_loaded_model_stays(
    tiny_model_dir, tmp_path, damage, message
):
    engine = Engine(device="cpu")
    engine.load_model(str(tiny_model_dir))
    folder = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, folder)
    damage(folder)
    with pytest.raises(EngineError, match=message):
        engine.load_model(str(folder))
    assert engine.load_model(str(tiny_model_dir)).source == str(tiny_model_dir)  # the earlier one still loads
