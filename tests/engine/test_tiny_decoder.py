"""Previews through a tiny autoencoder: the model's own, a folder the person names, or TAESD from
the local Hugging Face cache; linear stays the fallback."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderTiny

from studio.engine.engine import Engine
from studio.engine.request import GenerationRequest, PreviewMethod


def _save_tiny_autoencoder(folder, latent_channels: int = 4):
    torch.manual_seed(0)
    AutoencoderTiny(
        latent_channels=latent_channels,
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(folder, safe_serialization=True)
    return folder


def _preview_sizes(engine, tiny_model_dir, **fields) -> set[tuple[int, ...]]:
    events = []
    request = GenerationRequest(
        prompt="a lake", steps=2, width=64, height=48, resolution="exact", model=str(tiny_model_dir),
        preview_method=PreviewMethod.AUTO, precision="fp32", decode_precision="fp32", **fields,
    )
    engine.generate(request, on_step=events.append)
    return {event.preview.shape for event in events}


def test_a_named_folder_gives_full_size_previews_and_clearing_it_goes_back_to_linear(
    tiny_model_dir, tmp_path
):
    folder = _save_tiny_autoencoder(tmp_path / "taesd")
    engine = Engine(device="cpu")
    assert _preview_sizes(engine, tiny_model_dir) == {(6, 8, 3)}  # linear: a pixel per latent
    assert _preview_sizes(engine, tiny_model_dir, tiny_decoder=str(folder)) == {(48, 64, 3)}
    assert _preview_sizes(engine, tiny_model_dir) == {(6, 8, 3)}


def test_taesd_is_found_in_the_local_hugging_face_cache(tiny_model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--madebyollin--taesd" / "snapshots" / "0123abcd"
    _save_tiny_autoencoder(snapshot)
    (tmp_path / "hub" / "models--madebyollin--taesd" / "refs").mkdir()
    (tmp_path / "hub" / "models--madebyollin--taesd" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert _preview_sizes(Engine(device="cpu"), tiny_model_dir) == {(48, 64, 3)}


@pytest.mark.parametrize("problem", ["other family", "broken"])
def test_an_unusable_tiny_decoder_falls_back_to_linear_with_a_warning(tiny_model_dir, tmp_path, problem):
    folder = tmp_path / "bad"
    if problem == "other family":
        _save_tiny_autoencoder(folder, latent_channels=16)
    else:
        _save_tiny_autoencoder(folder)
        (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="preview decoder"):
        sizes = _preview_sizes(Engine(device="cpu"), tiny_model_dir, tiny_decoder=str(folder))
    assert sizes == {(6, 8, 3)}
