"""`train --continue` at toy scale: each part trains from a trained folder, is judged, and replaces the
shipped parts only when better; the run is recorded either way. Also the timed compute trial."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from studio.engine.engine import Engine
from studio.engine.previews import PREVIEW_DECODER_FOLDER
from studio.engine.request import GenerationRequest, PreviewMethod
from studio.training import continuation
from studio.training.compute import FP32, FP32_CHANNELS_LAST, choose_by_trial
from studio.training.config import ContinuationConfig, PreviewDecoderConfig, TrainConfig
from studio.training.model_card import RUNS_HEADING, replace_section
from studio.training.run_history import FIRST_CONTINUATION_SEED, HISTORY_FILE, RunHistory
from studio.training.train import train_default_model

TINY = ContinuationConfig(
    dataset_size=48,
    checkpoint_minutes=0.02,
    preview=PreviewDecoderConfig(dataset_size=32, batch_size=4),
    sample_prompts=("a sunny day with the sun on the left over a lake",),
)
TINY = dataclasses.replace(
    TINY,
    diffusion=dataclasses.replace(TINY.diffusion, batch_size=8),
    vae=dataclasses.replace(TINY.vae, batch_size=2),
)
MINUTES = 0.04


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return train_default_model(
        tmp_path_factory.mktemp("run") / "model", minutes=0.3, config=TrainConfig.tiny(), resume=False
    )


@pytest.fixture
def shipped(trained: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "shipped"
    shutil.copytree(trained, folder)
    return folder


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.safetensors"))}


def test_a_diffusion_run_that_is_not_better_leaves_the_shipped_weights_alone(shipped, tmp_path):
    attributes = ("time", "body", "body_pos", "mountains", "ground", "trees", "clouds")
    perfect = {"prompts": 4, "accuracy": dict.fromkeys(attributes, 1.0), "vae_psnr_db": 40.0}
    perfect["seconds_per_image"] = 0.1
    RunHistory(evaluation=perfect).save(shipped)
    before = _file_bytes(shipped)

    outcome = continuation.continue_training(
        shipped, "diffusion", MINUTES, None, "cpu", tmp_path / "runs", TINY, evaluation_prompts=4
    )

    assert not outcome.shipped
    assert _file_bytes(shipped) == before
    assert (outcome.candidate / "unet").is_dir()  # kept aside, not thrown away
    assert _file_bytes(outcome.candidate) != before
    history = RunHistory.load(shipped)
    assert [run["seed"] for run in history.runs] == [FIRST_CONTINUATION_SEED]
    assert history.runs[0]["steps"] > 0 and history.runs[0]["shipped"] is False
    assert "mean target accuracy 100.0% ->" in history.runs[0]["result"]
    card = (shipped / "README.md").read_text()
    assert RUNS_HEADING in card and f"| {FIRST_CONTINUATION_SEED} |" in card


def test_a_better_decoder_replaces_only_the_vae(shipped, tmp_path, monkeypatch):
    monkeypatch.setattr(
        continuation, "_judge_by_psnr", lambda *args: ({"vae_psnr_db": 20.0}, {"vae_psnr_db": 21.0}, True)
    )
    before = _file_bytes(shipped)
    samples_before = (shipped / "samples.png").read_bytes()

    outcome = continuation.continue_training(shipped, "decoder", MINUTES, 7, "cpu", tmp_path / "runs", TINY)

    after = _file_bytes(shipped)
    changed = {name for name in before if before[name] != after[name]}
    assert changed and all(name.startswith("vae/") for name in changed)
    assert after == {k: v for k, v in _file_bytes(outcome.candidate).items() if k in after}
    # The encoder, and so the latent space the UNet was trained in, is exactly as it was.
    from diffusers import AutoencoderKL

    old = AutoencoderKL.from_pretrained(tmp_path / "runs" / "continue-decoder-seed7" / "replaced" / "vae")
    new = AutoencoderKL.from_pretrained(shipped / "vae")
    for (name, a), b in zip(old.encoder.state_dict().items(), new.encoder.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(old.decoder.conv_out.weight, new.decoder.conv_out.weight)
    assert RunHistory.load(shipped).runs[-1]["result"] == "vae_psnr 20.00 -> 21.00 dB"
    assert (shipped / "samples.png").read_bytes() != samples_before  # the card shows the new pictures


def test_a_preview_decoder_is_shipped_and_becomes_the_default_preview(shipped, tmp_path):
    outcome = continuation.continue_training(shipped, "preview", 0.1, None, "cpu", tmp_path / "runs", TINY)

    record = outcome.record
    assert record["before"]["method"] == "linear" and record["after"]["method"] == "tiny decoder"
    assert outcome.shipped == (record["after"]["preview_psnr_db"] > record["before"]["preview_psnr_db"])
    assert outcome.shipped, record  # even a few seconds of training beat a 4x3 linear map here
    engine = Engine(device="cpu")
    engine.load_model(str(shipped))
    shown = {}
    for method in (PreviewMethod.AUTO, PreviewMethod.LINEAR):
        events = []
        request = GenerationRequest(prompt="a sunny day", steps=2, model=str(shipped), preview_method=method)
        engine.generate(request, on_step=events.append)
        shown[method] = events[-1].preview
    assert shown[PreviewMethod.AUTO].shape == (128, 128, 3)  # full size, from the tiny decoder
    assert shown[PreviewMethod.LINEAR].shape == (16, 16, 3)


def test_a_broken_preview_decoder_falls_back_to_linear_previews(shipped):
    folder = shipped / PREVIEW_DECODER_FOLDER
    folder.mkdir()
    (folder / "config.json").write_text('{"_class_name": "AutoencoderTiny"}')
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    engine = Engine(device="cpu")
    with pytest.warns(UserWarning, match="preview decoder not loaded"):
        engine.load_model(str(shipped))
    events = []
    engine.generate(GenerationRequest(prompt="a lake", steps=2, model=str(shipped)), on_step=events.append)
    assert events[-1].preview.shape == (16, 16, 3)


def test_bad_arguments_are_refused_before_any_work(shipped, tmp_path):
    with pytest.raises(ValueError, match="part must be one of"):
        continuation.continue_training(shipped, "vae", 1.0, work_root=tmp_path)
    with pytest.raises(ValueError, match="minutes must be positive"):
        continuation.continue_training(shipped, "diffusion", 0, work_root=tmp_path)
    with pytest.raises(ValueError, match="not a model folder"):
        continuation.continue_training(tmp_path, "diffusion", 1.0, work_root=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_each_run_gets_a_seed_no_earlier_run_used():
    history = RunHistory(runs=[{"seed": 0}, {"seed": FIRST_CONTINUATION_SEED}])
    assert history.next_seed() == FIRST_CONTINUATION_SEED + 1


def test_model_card_sections_are_replaced_in_place_or_appended():
    card = "# Card\n\n## Evaluation\nold table\n\n## Notes\nkeep me\n"
    card = replace_section(card, "## Evaluation", "new table")
    assert card == "# Card\n\n## Evaluation\nnew table\n\n## Notes\nkeep me\n"
    card = replace_section(card, RUNS_HEADING, "| runs |")
    assert card.endswith(f"keep me\n\n{RUNS_HEADING}\n| runs |\n")


def test_the_trial_keeps_the_fastest_setting_and_applies_it():
    applied = []

    def step() -> None:
        time.sleep(0.02 if applied[-1] is FP32 else 0.002)

    result = choose_by_trial([FP32, FP32_CHANNELS_LAST], applied.append, step, steps_per_candidate=2)
    assert result.chosen is FP32_CHANNELS_LAST and applied[-1] is FP32_CHANNELS_LAST
    assert result.milliseconds["fp32"] > result.milliseconds["fp32 channels_last"]
    assert "fp32 channels_last (timed trial per step:" in result.describe()


def test_the_history_file_is_plain_json(shipped):
    RunHistory(runs=[{"seed": 3}]).save(shipped)
    assert json.loads((shipped / HISTORY_FILE).read_text()) == {"runs": [{"seed": 3}], "evaluation": None}
