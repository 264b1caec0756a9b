"""PNG parameters round-trip, and the command line fails in one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.engine.metadata import parameters_text, read_png_metadata, save_png
from studio.engine.request import GenerationRequest, GenerationResult, Mode

ROOT = Path(__file__).resolve().parents[2]


def test_png_carries_a1111_parameters_and_the_full_request(tmp_path):
    request = GenerationRequest(
        prompt="a starry night",
        negative_prompt="clouds",
        seed=7,
        steps=12,
        guidance_scale=5.5,
        scheduler="dpm++ 2m karras",
        mode=Mode.IMAGE_TO_IMAGE,
        init_image=np.zeros((16, 24, 3), np.uint8),
        strength=0.6,
    )
    path = tmp_path / "out.png"
    result = GenerationResult(request, (), (8,), "landscapes", 1.0, precision="bf16", decode_precision="fp32")
    save_png(path, np.zeros((16, 24, 3), np.uint8), request, 8, result)
    metadata = read_png_metadata(path)
    assert metadata["parameters"] == (
        "a starry night\nNegative prompt: clouds\nSteps: 12, Sampler: DPM++ 2M Karras, CFG scale: 5.5, "
        "Seed: 8, Size: 24x16, Model: landscapes, Precision: bf16/fp32, Denoising strength: 0.6"
    )
    # What the run used, not "auto": asking for it again gives the same pixels.
    assert metadata["request"]["precision"] == "bf16"
    assert metadata["request"]["decode_precision"] == "fp32"
    assert metadata["request"]["precision_asked"] == "auto/auto"
    assert metadata["request"]["prompt"] == "a starry night"
    assert metadata["request"]["seed"] == 8
    assert metadata["request"]["init_image"] == {"width": 24, "height": 16}


def test_text_to_image_parameters_leave_out_strength():
    text = parameters_text(GenerationRequest(prompt="day"), 1, 128, 128, "m")
    assert "Denoising strength" not in text and "Negative prompt" not in text


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_generate_writes_pngs_with_parameters_and_previews(tiny_model_dir, tmp_path):
    done = _cli(
        "generate",
        "--prompt",
        "a lake",
        "--model",
        str(tiny_model_dir),
        "--steps",
        "3",
        "--seed",
        "5",
        "--size",
        "40x24",
        "--batch",
        "2",
        "--out",
        "img.png",
        "--previews",
        "steps",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for index, seed in ((0, 5), (1, 6)):
        metadata = read_png_metadata(tmp_path / f"img-{index}.png")
        assert f"Seed: {seed}, Size: 40x24" in metadata["parameters"]
    previews = sorted((tmp_path / "steps").glob("*.png"))
    assert len(previews) == 6
    assert Image.open(previews[0]).size == (40 // 8, 24 // 8)  # linear previews: one pixel per latent


def test_generate_previews_by_full_vae_decode_are_full_size(tiny_model_dir, tmp_path):
    args = ("--model", str(tiny_model_dir), "--steps", "2", "--size", "32x32", "--out", "img.png")
    previews = ("--previews", "steps", "--preview-method", "vae")
    done = _cli("generate", "--prompt", "a lake", *args, *previews, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Image.open(next((tmp_path / "steps").glob("*.png"))).size == (32, 32)


def test_train_needs_a_folder_to_write_or_one_to_continue(tmp_path):
    done = _cli("train", "--minutes", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert "give either --out FOLDER (train from scratch) or --continue [FOLDER]" in done.stderr
    done = _cli("train", "--continue", str(tmp_path), "--minutes", "1", cwd=tmp_path)
    assert done.returncode == 1 and "is not a model folder" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "--prompt", "x", "--size", "big"), "size must look like"),
        (("generate", "--prompt", "x", "--model", "/no/such/folder"), "No model at"),
        (("generate", "--prompt", "x", "--steps", "0", "--model", "{tiny}"), "steps must be"),
        (("generate", "--prompt", "x", "--init", "missing.png", "--model", "{tiny}"), "not found"),
        (("generate", "--prompt", "x", "--mask", "m.png", "--model", "{tiny}"), "not found"),
    ],
)
def test_bad_arguments_end_in_one_line(tiny_model_dir, tmp_path, args, message):
    args = tuple(arg.replace("{tiny}", str(tiny_model_dir)) for arg in args)
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].count("error") >= 1


def test_engine_and_training_never_import_qt():
    code = (
        "import sys, studio.engine.engine, studio.engine.metadata, studio.training.sketches\n"
        "print(any('PySide6' in m for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_request_types_do_not_import_torch():
    code = "import sys, studio.engine.request, studio.engine.schedulers; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
