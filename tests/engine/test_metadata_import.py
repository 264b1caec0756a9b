"""Settings read back from PNGs of ours, AUTOMATIC1111's and ComfyUI's; hostile files end as notes."""

from __future__ import annotations

import io
import json
import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from studio.engine import metadata
from studio.engine.metadata import save_png
from studio.engine.metadata_import import (
    ImportedSettings,
    settings_from_png,
    settings_from_png_bytes,
    settings_from_text_chunks,
)
from studio.engine.request import MAX_SEED, GenerationRequest, GenerationResult, LoraWeight, Mode
from studio.engine.schedulers import SCHEDULER_NAMES

A1111_TEXT = (
    "a cabin by a lake,\n"
    "  morning mist, <lora:misty_style:0.8> golden light\n"
    "Negative prompt: blurry, lowres,\n"
    "watermark\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, "
    'Hires prompt: "night sky, Seed: 999, stars", Seed: 1234, Size: 512x768, Model hash: 6ce0161689, '
    "Model: dreamshaper_8, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 10, "
    'Hires upscaler: Latent, Lora hashes: "misty_style: 1a2b3c, other: 4d5e6f", Version: v1.9.4'
)


def comfyui_graph(positive_text: object = "beautiful scenery, purple galaxy bottle") -> dict:
    """ComfyUI's default text-to-image graph as its "prompt" chunk stores it (API format)."""
    return {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 8566257, "steps": 20, "cfg": 8, "sampler_name": "dpmpp_2m", "scheduler": "karras",
            "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": positive_text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def png_with_text(path, chunks: dict[str, str], compressed: bool = False) -> None:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        if compressed:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)


def test_our_own_png_restores_every_setting_it_records(tmp_path):
    canvas = np.zeros((64, 96, 3), np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[10:30, 20:50] = 255
    request = GenerationRequest(
        prompt="a lighthouse at dusk", negative_prompt="fog", mode=Mode.INPAINT, steps=30,
        guidance_scale=6.0, scheduler="dpm++ 2m karras", width=96, height=64, strength=0.6,
        init_image=canvas, mask=mask, mask_feather_px=6, inpaint_only_masked=True, inpaint_padding_px=40,
        model="/models/sd15", loras=(LoraWeight("/loras/misty_style.safetensors", 0.8),),
    )
    path = tmp_path / "ours.png"
    save_png(path, canvas, request, 77, GenerationResult(request, (), (77,), "sd15", 1.0))
    imported = settings_from_png(path)
    assert imported.source == "Latent Studio"
    assert imported.values == {
        "prompt": "a lighthouse at dusk", "negative_prompt": "fog", "model": "/models/sd15", "seed": 77,
        "steps": 30, "guidance_scale": 6.0, "strength": 0.6, "width": 96, "height": 64,
        "mask_feather_px": 6, "inpaint_padding_px": 40, "scheduler": "dpm++ 2m karras",
        "inpaint_only_masked": True,
    }
    assert imported.not_restored == ("LoRA 'misty_style'",)  # never loaded from a path in a file
    assert imported.summary().startswith("Restored prompt, negative prompt, seed, steps, CFG, sampler, size")
    assert imported.summary().endswith("from a Latent Studio PNG; not restored: LoRA 'misty_style'")


@pytest.mark.parametrize("compressed", [False, True], ids=["tEXt", "iTXt-compressed"])
def test_an_automatic1111_png_restores_prompts_and_settings(tmp_path, compressed):
    path = tmp_path / "a1111.png"
    png_with_text(path, {"parameters": A1111_TEXT}, compressed)
    imported = settings_from_png(path)
    assert imported.source == "AUTOMATIC1111"
    assert imported.values == {
        "prompt": "a cabin by a lake,\nmorning mist, golden light",  # the LoRA tag taken out
        "negative_prompt": "blurry, lowres,\nwatermark",
        "steps": 28, "scheduler": "dpm++ 2m karras", "guidance_scale": 6.5,
        "seed": 1234,  # not the "Seed: 999" inside the quoted hires prompt
        "width": 512, "height": 768,
    }  # no strength: with hires fix, "Denoising strength" is the second pass's
    assert imported.not_restored == (
        "LoRA 'misty_style'", "model 'dreamshaper_8' (pick it by hand)", "hires fix settings", "clip skip",
    )
    assert imported.summary() == (
        "Restored prompt, negative prompt, seed, steps, CFG, sampler and size from an AUTOMATIC1111 PNG; "
        "not restored: LoRA 'misty_style', model 'dreamshaper_8' (pick it by hand), hires fix settings, "
        "clip skip"
    )


def test_an_automatic1111_img2img_file_restores_its_denoising_strength():
    imported = settings_from_text_chunks(
        {"parameters": "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Denoising strength: 0.35"}
    )
    assert imported.values == {"prompt": "a cat", "steps": 20, "scheduler": "euler a", "guidance_scale": 7.0,
                               "seed": 5, "strength": 0.35}
    assert "negative_prompt" not in imported.values  # none written: the user's own is kept


def test_a_comfyui_png_restores_the_sampler_prompts_and_size(tmp_path):
    path = tmp_path / "comfy.png"
    png_with_text(path, {"prompt": json.dumps(comfyui_graph()), "workflow": '{"nodes": "editor layout"}'})
    imported = settings_from_png(path)
    assert imported.source == "ComfyUI"
    assert imported.values == {
        "seed": 8566257, "steps": 20, "guidance_scale": 8.0, "scheduler": "dpm++ 2m karras",
        "width": 512, "height": 768, "prompt": "beautiful scenery, purple galaxy bottle",
        "negative_prompt": "text, watermark",
    }
    assert imported.not_restored == ("model 'v1-5-pruned-emaonly.safetensors' (pick it by hand)",)


def test_a_comfyui_prompt_whose_text_is_a_link_is_reported_not_guessed():
    graph = comfyui_graph(positive_text=["10", 0])
    graph["10"] = {"class_type": "StringConcatenate", "inputs": {"string_a": "a", "string_b": "b"}}
    imported = settings_from_text_chunks({"prompt": json.dumps(graph)})
    assert "prompt" not in imported.values
    assert imported.values["negative_prompt"] == "text, watermark"
    assert "ComfyUI positive prompt (its text comes from another node)" in imported.not_restored


def test_a_comfyui_prompt_is_followed_through_controlnet_but_a_combined_one_is_reported():
    graph = comfyui_graph()
    graph["3"]["inputs"] |= {"positive": ["11", 0], "negative": ["11", 1]}
    graph["11"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["12", 0], "negative": ["7", 0], "control_net": ["13", 0], "image": ["14", 0]}}
    graph["12"] = {"class_type": "ConditioningCombine", "inputs": {
        "conditioning_1": ["6", 0], "conditioning_2": ["15", 0]}}
    graph["15"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red boat", "clip": ["4", 1]}}
    imported = settings_from_text_chunks({"prompt": json.dumps(graph)})
    assert imported.values["negative_prompt"] == "text, watermark"  # through the ControlNet node
    assert "prompt" not in imported.values
    assert "ComfyUI positive prompt built from several text nodes" in imported.not_restored


@pytest.mark.parametrize(("sampler", "schedule", "expected", "note"), [
    ("euler", "normal", "euler", None),
    ("euler_ancestral", "normal", "euler a", None),
    ("ddim", "ddim_uniform", "ddim", "schedule 'ddim_uniform' (unknown here)"),
    ("dpmpp_2m", "normal", "dpm++ 2m", None),
    ("euler_ancestral", "karras", "euler a", "Karras schedule (none for Euler a here)"),
    ("dpmpp_2m_sde", "karras", None, "sampler 'dpmpp_2m_sde' (unknown here)"),
])
def test_comfyui_sampler_names_map_to_ours(sampler, schedule, expected, note):
    graph = comfyui_graph()
    graph["3"]["inputs"] |= {"sampler_name": sampler, "scheduler": schedule}
    imported = settings_from_text_chunks({"prompt": json.dumps(graph)})
    assert imported.values.get("scheduler") == expected
    assert (note in imported.not_restored) if note else len(imported.not_restored) == 1  # the model only


def test_out_of_range_numbers_are_clamped_or_refused_and_said():
    described = {"steps": 5000, "guidance_scale": 999, "seed": -1, "width": 100000, "height": 100,
                 "strength": float("nan"), "mask_feather_px": True, "inpaint_padding_px": 20.5,
                 "scheduler": "LCM Karras", "prompt": "a\x00b\x1b[31m\ttab\nline\u202e"}
    imported = settings_from_text_chunks({"latent-studio": json.dumps(described)})  # NaN as JSON writes it
    assert imported.values == {"steps": 1000, "guidance_scale": 50.0, "width": 2048, "height": 96,
                               "prompt": "ab[31m\ttab\nline\u202e"}
    assert set(imported.not_restored) == {
        "steps 5000 clamped to 1000", "CFG 999 clamped to 50", "seed -1 (outside 0..4294967295)",
        "width 100000 clamped to 2048", "height 100 rounded down to 96", "strength nan (not a number)",
        "mask blur true (not a whole number)", "inpaint padding 20.5 (not a whole number)",
        "sampler 'LCM Karras' (unknown here)",
    }


def test_a_seed_too_big_for_us_is_not_restored_and_a_huge_prompt_is_cut():
    imported = settings_from_text_chunks(
        {"parameters": "x" * 20_000 + "\nSteps: 20, Seed: 1099511627776, CFG scale: inf, Size: 30x64"}
    )
    assert imported.values == {"prompt": "x" * 10_000, "steps": 20, "width": 64, "height": 64}
    assert "seed 1099511627776 (outside 0..4294967295)" in imported.not_restored
    assert "CFG 'inf' (not a number)" in imported.not_restored
    assert "prompt cut to 10,000 characters" in imported.not_restored


@pytest.mark.parametrize(("chunks", "note"), [
    ({"latent-studio": "[" * 100_000}, "Latent Studio settings (nested too deeply)"),
    ({"latent-studio": "9" * 5000}, "Latent Studio settings (not valid JSON)"),
    ({"latent-studio": "[1, 2]"}, "Latent Studio settings (not a JSON object)"),
    ({"prompt": "just a prompt, not a graph"}, "ComfyUI settings (not valid JSON)"),
    ({"prompt": '{"1": {"class_type": "SaveImage"}}'}, "ComfyUI graph without a KSampler"),
])
def test_malformed_chunks_end_in_a_note(chunks, note):
    assert note in settings_from_text_chunks(chunks).not_restored


def test_a_broken_chunk_of_ours_falls_back_to_the_automatic1111_one():
    chunks = {"latent-studio": "{oops", "parameters": "a fox\nSteps: 9, Seed: 3, CFG scale: 4"}
    imported = settings_from_text_chunks(chunks)
    assert imported.source == "AUTOMATIC1111"
    assert (imported.values["prompt"], imported.values["steps"]) == ("a fox", 9)
    assert imported.not_restored == ("Latent Studio settings (not valid JSON)",)


def test_files_without_settings_say_so(tmp_path):
    plain, jpeg, text = tmp_path / "plain.png", tmp_path / "photo.jpg", tmp_path / "notes.png"
    Image.new("RGB", (8, 8)).save(plain)
    Image.new("RGB", (8, 8)).save(jpeg)
    text.write_text("not a picture")
    assert settings_from_png(plain) == ImportedSettings()
    assert settings_from_png(plain).summary() == "This PNG carries no generation settings"
    for path in (jpeg, text, tmp_path):
        assert settings_from_png(path).summary() == "No generation settings restored: not a readable PNG"
    assert settings_from_png(tmp_path / "gone.png").summary() == (
        "No generation settings restored: the file was not found")


# --- hostile input: nothing raises, and whatever is restored is inside the app's ranges ---

def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_TEXT)
    info.add_itxt("prompt", json.dumps(comfyui_graph()), zip=True)
    Image.new("RGB", (16, 16), "teal").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Mostly numbers near the ranges' edges, so clamping is exercised, not only refusals.
numbers = st.integers(-10, 5000) | st.floats(-5, 100) | st.integers() | st.floats()
leaves = numbers | st.none() | st.booleans() | st.text(max_size=20)
links = st.tuples(st.sampled_from(["1", "2", "3", 1, True]), st.integers(0, 2)).map(list)
ours = st.dictionaries(
    st.sampled_from(["prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width", "height",
                     "strength", "scheduler", "model", "mask_feather_px", "inpaint_only_masked",
                     "inpaint_padding_px", "loras", "steers"]),
    leaves | st.sampled_from(["Euler a", "dpm++ 2m", "lcm karras"]) | json_values,
)
comfyui_nodes = st.fixed_dictionaries({
    "class_type": st.sampled_from(["KSampler", "KSamplerAdvanced", "CLIPTextEncode", "EmptyLatentImage",
                                   "ConditioningCombine", "CheckpointLoaderSimple", "Other"]),
    "inputs": st.dictionaries(
        st.sampled_from(["seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise",
                         "positive", "negative", "latent_image", "text", "width", "height", "ckpt_name",
                         "conditioning_1"]),
        leaves | links | st.sampled_from(["euler", "dpmpp_2m", "karras", "normal"]),
    ),
})
comfyui_graphs = st.builds(  # mostly with a sampler at "1", for the rest of the graph to be read
    lambda first, rest: {"1": first} | rest,
    comfyui_nodes.map(lambda node: node | {"class_type": "KSampler"}) | json_values,
    st.dictionaries(st.sampled_from(["2", "3", "4"]), comfyui_nodes | json_values),
)
a1111_values = (numbers.map(str) | st.text(max_size=12) | st.sampled_from(["Euler a", "DPM++ 2M", "Karras"])
                | st.tuples(numbers, numbers).map(lambda size: f"{size[0]}x{size[1]}"))
a1111_lines = st.lists(
    st.tuples(st.sampled_from(["Steps", "Sampler", "CFG scale", "Seed", "Size", "Denoising strength",
                               "Mask blur", "Schedule type", "Hires steps", "Model"]) | st.text(max_size=8),
              a1111_values),
    max_size=8,
).map(lambda pairs: ", ".join(f"{key}: {value}" for key, value in pairs))
a1111_texts = st.tuples(st.text(max_size=40), a1111_lines).map("\nNegative prompt: ".join)
chunk_texts = st.text() | json_values.map(json.dumps)
shaped_chunks = st.fixed_dictionaries({}, optional={
    "latent-studio": ours.map(json.dumps) | chunk_texts, "parameters": a1111_texts | chunk_texts,
    "prompt": comfyui_graphs.map(json.dumps) | chunk_texts, "workflow": chunk_texts,
})
comfyui_only = comfyui_graphs.map(lambda graph: {"prompt": json.dumps(graph)})  # ours and A1111's go first
any_chunks = shaped_chunks | comfyui_only | st.dictionaries(st.text(), chunk_texts, max_size=4)


def png_carrying(chunks: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)  # latin-1 as tEXt, anything else as iTXt
    Image.new("L", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


VALID_PNG = _png_bytes()
damaged_pngs = st.builds(
    lambda start, junk, cut: (VALID_PNG[:start] + junk + VALID_PNG[start + len(junk):])[:cut],
    st.integers(0, len(VALID_PNG)), st.binary(max_size=12), st.integers(0, len(VALID_PNG)),
)
after_the_signature = st.binary(max_size=600).map(lambda tail: VALID_PNG[:8] + tail)
any_bytes = st.binary(max_size=600) | after_the_signature | damaged_pngs | shaped_chunks.map(png_carrying)

def test_text_after_the_pixels_is_read_and_a_cut_off_file_keeps_the_text_before_them(monkeypatch):
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, format="PNG")
    body = b"parameters\0a heron\nSteps: 12, Seed: 4, CFG scale: 3"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    after_pixels = plain.getvalue()[:-12] + chunk + plain.getvalue()[-12:]  # just before IEND
    assert settings_from_png_bytes(after_pixels).values == {"prompt": "a heron", "steps": 12, "seed": 4,
                                                            "guidance_scale": 3.0}
    # Past the decoding limit only the text before the pixels is read: a small file cannot cost 1 GB.
    monkeypatch.setattr(metadata, "MAX_DECODED_PIXELS", 63)
    assert settings_from_png_bytes(after_pixels).source == ""
    cut_in_the_pixels = VALID_PNG[: VALID_PNG.index(b"IDAT") + 10]
    assert settings_from_png_bytes(cut_in_the_pixels).source == "AUTOMATIC1111"


INTEGER_RANGES = {"seed": (0, MAX_SEED), "steps": (1, 1000), "width": (64, 2048), "height": (64, 2048),
                  "mask_feather_px": (0, 128), "inpaint_padding_px": (0, 512)}


def assert_sane(imported: ImportedSettings) -> None:
    assert imported.source in ("", "Latent Studio", "AUTOMATIC1111", "ComfyUI")
    assert all(isinstance(note, str) for note in imported.not_restored)
    line = imported.summary()
    assert isinstance(line, str) and "\n" not in line and line
    for name, value in imported.values.items():
        if name in INTEGER_RANGES:
            low, high = INTEGER_RANGES[name]
            assert type(value) is int and low <= value <= high, (name, value)
        elif name == "guidance_scale":
            assert type(value) is float and 0.0 <= value <= 50.0
        elif name == "strength":
            assert type(value) is float and 0.0 < value <= 1.0
        elif name == "scheduler":
            assert value in SCHEDULER_NAMES
        elif name == "inpaint_only_masked":
            assert type(value) is bool
        else:
            assert name in ("prompt", "negative_prompt", "model"), name
            assert isinstance(value, str) and len(value) <= 10_000
            assert not any(ord(c) < 32 and c not in "\n\t" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    for name in ("width", "height"):
        assert imported.values.get(name, 64) % 8 == 0
    assert not math.isnan(imported.values.get("guidance_scale", 0.0))


@settings(max_examples=200, deadline=None)
@given(any_bytes)
def test_any_bytes_read_as_a_png_never_raise(data):
    assert_sane(settings_from_png_bytes(data))


@settings(max_examples=200, deadline=None)
@given(any_chunks)
def test_any_text_chunks_never_raise_and_stay_in_range(chunks):
    assert_sane(settings_from_text_chunks(chunks))
