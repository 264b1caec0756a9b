"""PNG parameters round-trip, and the command line fails in one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import build_parser
from studio.engine.metadata import parameters_text, read_png_metadata, read_request, save_png
from studio.engine.request import GenerationRequest, GenerationResult, Mode, ModelInfo, RequestError
from studio.generate_command import build_request

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
        "Seed: 8, Size: 24x16, Model: landscapes, Precision: bf16/fp32, Resolution: native, "
        "Denoising strength: 0.6"
    )
    # What the run used, not "auto": asking for it again gives the same pixels.
    assert metadata["request"]["precision"] == "bf16"
    assert metadata["request"]["decode_precision"] == "fp32"
    assert metadata["request"]["precision_asked"] == "auto/auto"
    assert metadata["request"]["prompt"] == "a starry night"
    assert metadata["request"]["seed"] == 8
    assert metadata["request"]["init_image"] == {"width": 24, "height": 16}


def test_a_png_carries_its_init_image_and_mask_and_reads_back_as_the_same_request(tmp_path):
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)  # noise: a PNG of several MiB
    mask = np.zeros((900, 1200), np.uint8)
    mask[100:400, 300:700] = 255
    request = GenerationRequest(
        prompt="snowy mountains", mode=Mode.INPAINT, init_image=canvas, mask=mask, seed=3, steps=9,
        strength=0.8, resolution="native", refine_strength=0.3, batch_count=4, model="/models/sd",
    )
    result = GenerationResult(
        request, (), (5,), "sd", 1.0, precision="bf16", working_size=(592, 440), refine_strength=0.3
    )
    path = tmp_path / "out.png"
    save_png(path, canvas, request, 5, result)
    assert "Resolution: native, Generated at: 592x440, Refine strength: 0.3" in read_png_metadata(path)[
        "parameters"
    ]
    repeated = read_request(path)
    assert np.array_equal(repeated.init_image, canvas) and np.array_equal(repeated.mask, mask)
    assert (repeated.seed, repeated.batch_count, repeated.steps) == (5, 1, 9)  # this image's own seed
    assert (repeated.precision.value, repeated.decode_precision.value) == ("bf16", "fp32")
    assert (repeated.resolution.value, repeated.refine_strength) == ("native", 0.3)
    assert repeated.model == "/models/sd"


def test_from_refuses_files_that_record_no_run_it_can_repeat(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(RequestError, match="holds no Latent Studio run"):
        read_request(plain)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(RequestError, match="not a PNG"):
        read_request(text)
    from PIL import PngImagePlugin

    tampered = tmp_path / "tampered.png"
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("latent-studio", '{"prompt": "x", "steps": 0}')
    Image.new("RGB", (8, 8)).save(tampered, pnginfo=chunks)
    with pytest.raises(RequestError, match="cannot be repeated.*steps must be between 1 and 1000"):
        read_request(tampered)


def test_options_given_with_from_change_the_recorded_run(tmp_path):
    recorded = GenerationRequest(prompt="a lake", seed=11, steps=7, guidance_scale=3.0, refine_strength=0.2)
    defaults = ModelInfo("m", "", "cpu", 64, 64, 25, 7.5, "euler")
    options = ["generate", "--from", "x.png", "--seed", "12", "--resolution", "exact"]
    arguments = build_parser().parse_args(options)
    request = build_request(arguments, defaults, recorded)
    assert (request.prompt, request.steps, request.guidance_scale, request.seed) == ("a lake", 7, 3.0, 12)
    assert (request.resolution.value, request.refine_strength) == ("exact", 0.2)
    with pytest.raises(RequestError, match="--prompt is required"):
        build_request(build_parser().parse_args(["generate"]), defaults)


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
    # The 64x64 model runs at its own pixel count in 40x24's shape, 80x48; linear previews show one
    # pixel per latent.
    assert Image.open(previews[0]).size == (80 // 8, 48 // 8)


def test_generate_previews_by_full_vae_decode_are_full_size(tiny_model_dir, tmp_path):
    args = ("--model", str(tiny_model_dir), "--steps", "2", "--size", "32x32", "--resolution", "exact")
    args += ("--out", "img.png")
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


def test_generate_from_a_png_repeats_its_inpainting_run_exactly(tiny_model_dir, tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(tmp_path / "canvas.png")
    mask = np.zeros((80, 100), np.uint8)
    mask[20:60, 30:70] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    first = ("--prompt", "a lake", "--model", str(tiny_model_dir), "--steps", "3", "--seed", "4")
    first += ("--init", "canvas.png", "--mask", "mask.png", "--no-only-masked", "--out", "first.png")
    assert _cli("generate", *first, cwd=tmp_path).returncode == 0
    (tmp_path / "canvas.png").unlink()  # the file alone must be enough
    (tmp_path / "mask.png").unlink()
    done = _cli("generate", "--from", "first.png", "--out", "again.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "first.png") as first_image, Image.open(tmp_path / "again.png") as again:
        assert np.array_equal(np.asarray(first_image), np.asarray(again))
    assert "Generated at: 72x56" in read_png_metadata(tmp_path / "again.png")["parameters"]


def test_the_command_line_steers_from_the_step_k_picture_and_from_repeats_it(tiny_model_dir, tmp_path):
    run = ("--prompt", "a lake", "--model", str(tiny_model_dir), "--steps", "5", "--seed", "2")
    done = _cli("generate", *run, "--x0-at", "2", "--out", "plain.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "plain-x0-step2.png") as guess:
        edited = np.array(guess.convert("RGB"))
    edited[10:30, 5:25] = (250, 220, 40)  # a yellow sun painted on the step-2 picture
    Image.fromarray(edited).save(tmp_path / "edit.png")
    steer = ("--steer-at", "2", "--steer-image", "edit.png", "--steer-prompt", "a sunny day")
    assert _cli("generate", *run, *steer, "--out", "steered.png", cwd=tmp_path).returncode == 0
    (tmp_path / "edit.png").unlink()  # the steered file carries its edit
    assert _cli("generate", "--from", "steered.png", "--out", "again.png", cwd=tmp_path).returncode == 0
    names = ("plain", "steered", "again")
    pixels = {name: np.asarray(Image.open(tmp_path / f"{name}.png")) for name in names}
    assert np.array_equal(pixels["steered"], pixels["again"])
    assert not np.array_equal(pixels["steered"], pixels["plain"])
    steers = read_png_metadata(tmp_path / "steered.png")["request"]["steers"]
    assert [(steer["at_step"], steer["prompt"]) for steer in steers] == [(2, "a sunny day")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "--prompt", "x", "--size", "big"), "size must look like"),
        (("generate", "--prompt", "x", "--model", "/no/such/folder"), "No model at"),
        (("generate", "--prompt", "x", "--steps", "0", "--model", "{tiny}"), "steps must be"),
        (("generate", "--prompt", "x", "--init", "missing.png", "--model", "{tiny}"), "not found"),
        (("generate", "--prompt", "x", "--mask", "m.png", "--model", "{tiny}"), "not found"),
        (("generate", "--prompt", "x", "--steer-prompt", "y", "--model", "{tiny}"), "need --steer-at K"),
        (("generate", "--prompt", "x", "--steer-at", "2", "--model", "{tiny}"), "needs what to change"),
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
    code = (
        "import sys, studio.engine.request, studio.engine.schedulers, studio.engine.resolution\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("mode", [Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE, Mode.INPAINT])
def test_a_saved_result_repeats_its_run_in_every_mode(fp32_engine, tiny_model_dir, tmp_path, mode):
    """What `--from` and the gallery's Restore rely on: the file alone gives the same pixels again."""
    rng = np.random.default_rng(3)
    init = rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)
    mask = np.zeros((48, 56), np.uint8)
    mask[10:30, 12:40] = 255
    request = GenerationRequest(
        prompt="a lake at dawn", mode=mode, seed=21, steps=3, width=56, height=48, strength=0.7,
        model=str(tiny_model_dir), precision="fp32", decode_precision="fp32", scheduler="euler a",
        init_image=None if mode is Mode.TEXT_TO_IMAGE else init, mask=mask if mode is Mode.INPAINT else None,
    )
    result = fp32_engine.generate(request)
    save_png(tmp_path / "result.png", result.images[0], request, result.seeds[0], result)
    again = fp32_engine.generate(read_request(tmp_path / "result.png"))
    assert np.array_equal(again.images[0], result.images[0])


def test_a_decompression_bomb_or_an_unwritable_out_end_in_one_line_before_any_work(tiny_model_dir, tmp_path):
    Image.new("1", (20_000, 20_000)).save(tmp_path / "bomb.png")  # 400 megapixels in a few kilobytes
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    cases = [
        (("--init", "bomb.png"), "decompression bombs"),
        (("--out", "a-file/result.png"), "cannot write to a-file"),
        (("--out", "a-folder"), "is a folder"),
    ]
    for args, message in cases:
        done = _cli("generate", "--prompt", "x", "--steps", "2", "--model", str(tiny_model_dir), *args,
                    cwd=tmp_path)
        assert done.returncode != 0 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        if "--out" in args:
            assert "loading model" not in done.stderr  # said before the model loads, not after the run


def test_a_write_that_fails_half_way_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    request = GenerationRequest(prompt="a lake", seed=1, width=16, height=16)
    image = np.zeros((16, 16, 3), np.uint8)
    result = GenerationResult(request, (image,), (1,), "m", 0.1)
    (tmp_path / "kept.png").write_bytes(b"the last good file")

    def full_disk(self, target, *args, **kwargs):
        target.write(b"\x89PNG half")  # into the hidden file atomic_write gives it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    for name in ("new.png", "kept.png"):
        with pytest.raises(OSError, match="No space"):
            save_png(tmp_path / name, image, request, 1, result)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.png"]  # no half file, no temporary
    assert (tmp_path / "kept.png").read_bytes() == b"the last good file"


def test_an_init_photo_comes_upright_as_its_exif_says(tmp_path):
    from studio.engine.picture_files import read_picture

    photo = Image.new("RGB", (40, 30), (0, 0, 255))
    photo.paste((255, 0, 0), (0, 0, 20, 30))  # red left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to show"
    photo.save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    upright = read_picture(tmp_path / "photo.jpg")
    assert upright.shape == (40, 30, 3) and upright[2, 15, 0] > 150  # the red half is now on top


def test_a_mask_of_another_size_is_refused_with_the_fix_or_scaled_when_asked(tmp_path):
    Image.new("RGB", (64, 48), "white").save(tmp_path / "init.png")
    mask = Image.new("L", (32, 24), 0)
    mask.paste(255, (0, 0, 16, 24))  # the left half
    mask.save(tmp_path / "mask.png")
    defaults = ModelInfo("m", "m", "cpu", 64, 64, 20, 7.0, "euler", "fp32", "fp32", "")
    arguments = ["generate", "--prompt", "x", "--init", str(tmp_path / "init.png"),
                 "--mask", str(tmp_path / "mask.png")]
    with pytest.raises(RequestError, match="32x24 but the init image is 64x48: pass --scale-mask"):
        build_request(build_parser().parse_args(arguments), defaults)
    request = build_request(build_parser().parse_args([*arguments, "--scale-mask"]), defaults)
    assert request.mask.shape == (48, 64)
    assert request.mask[:, :30].min() == 255 and request.mask[:, 34:].max() == 0  # still the left half
