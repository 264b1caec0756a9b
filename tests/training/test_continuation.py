"""`train --continue` at toy scale: each part trains from a trained folder, is judged, and replaces the
shipped parts only when better; the run is recorded either way. Also the timed compute trial."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from studio.cli import main
from studio.engine.engine import Engine
from studio.engine.previews import PREVIEW_DECODER_FOLDER
from studio.engine.request import GenerationRequest, PreviewMethod
from studio.training import continuation
from studio.training.compute import FP32, FP32_CHANNELS_LAST, align_optimizer_state, choose_by_trial
from studio.training.config import ContinuationConfig, PreviewDecoderConfig
from studio.training.model_card import RUNS_HEADING, replace_section
from studio.training.run_history import FIRST_CONTINUATION_SEED, HISTORY_FILE, RunHistory

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

    outcome = continuation.continue_training(
        shipped, "decoder", MINUTES, 7, "cpu", tmp_path / "runs", TINY, evaluation_prompts=4
    )

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
    assert RunHistory.load(shipped).evaluation["prompts"] == 4  # measured again with the new decoder


def test_a_preview_decoder_is_shipped_and_becomes_the_default_preview(shipped, tmp_path, monkeypatch):
    judged = []

    def judge_and_accept(*args):  # the real measurement; a few seconds of training need not win it
        before, after, better = real_judge(*args)
        judged.append(better)
        return before, after, True

    real_judge = continuation._judge_preview
    monkeypatch.setattr(continuation, "_judge_preview", judge_and_accept)
    outcome = continuation.continue_training(shipped, "preview", 0.1, None, "cpu", tmp_path / "runs", TINY)

    record = outcome.record
    assert record["before"]["method"] == "linear" and record["after"]["method"] == "tiny decoder"
    assert judged == [record["after"]["preview_psnr_db"] > record["before"]["preview_psnr_db"]]
    assert outcome.shipped and (shipped / PREVIEW_DECODER_FOLDER / "config.json").is_file()
    defaults = (shipped / "README.md").read_text().split("## Defaults")[1].split("\n## ")[0]
    assert "tiny preview decoder" in defaults  # the card says what the app now shows
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
    with pytest.warns(UserWarning, match="preview decoder .* not loaded"):
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
        continuation.continue_training(tmp_path, "diffusion", 1.0, work_root=tmp_path / "runs")
    RunHistory(runs=[{"seed": 5}]).save(shipped)
    with pytest.raises(ValueError, match="seed 5 was used by an earlier run"):
        continuation.continue_training(shipped, "decoder", 1.0, seed=5, work_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_part_without_continue_is_refused(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "model"), "--part", "decoder"]) == 1
    assert "--part chooses what a --continue run trains" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_a_run_stopped_while_replacing_finishes_once_on_the_next_call(shipped, tmp_path, monkeypatch):
    monkeypatch.setattr(
        continuation, "_judge_by_psnr", lambda *args: ({"vae_psnr_db": 20.0}, {"vae_psnr_db": 21.0}, True)
    )
    original_vae = _file_bytes(shipped / "vae")
    real_write_samples = continuation._write_samples

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(continuation, "_write_samples", stopped)
    with pytest.raises(KeyboardInterrupt):
        continuation.continue_training(
            shipped, "decoder", MINUTES, 9, "cpu", tmp_path / "runs", TINY, evaluation_prompts=4
        )
    monkeypatch.setattr(continuation, "_write_samples", real_write_samples)
    monkeypatch.setattr(continuation, "_judge_by_psnr", lambda *args: pytest.fail("judged twice"))
    outcome = continuation.continue_training(
        shipped, "decoder", MINUTES, 9, "cpu", tmp_path / "runs", TINY, evaluation_prompts=4
    )

    assert outcome.shipped
    assert [run["seed"] for run in RunHistory.load(shipped).runs] == [9]  # one record, not two
    work = tmp_path / "runs" / "continue-decoder-seed9"
    assert _file_bytes(work / "replaced" / "vae") == original_vae  # the backup is the original
    assert _file_bytes(shipped / "vae") == _file_bytes(outcome.candidate / "vae")
    assert not list(shipped.glob("*.new"))


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
    applied, now = [], [0.0]

    def step() -> None:  # a step's cost is how far it moves the trial's clock: no real waiting
        now[0] += 0.02 if applied[-1] is FP32 else 0.002

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    result = choose_by_trial(
        [FP32, FP32_CHANNELS_LAST],
        applied.append,
        step,
        optimizer,
        torch.Generator(),
        steps_per_candidate=2,
        clock=lambda: now[0],
    )
    assert result.chosen is FP32_CHANNELS_LAST and applied[-1] is FP32_CHANNELS_LAST
    assert result.milliseconds["fp32"] > result.milliseconds["fp32 channels_last"]
    assert "fp32 channels_last (timed trial per step:" in result.describe()


def test_the_history_file_is_plain_json(shipped):
    RunHistory(runs=[{"seed": 3}]).save(shipped)
    assert json.loads((shipped / HISTORY_FILE).read_text()) == {"runs": [{"seed": 3}], "evaluation": None}


def test_the_trial_leaves_no_trace_in_the_optimizer_or_the_random_stream():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    generator = torch.Generator().manual_seed(3)

    def step(learning_rate: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        inputs = torch.randn(2, 3, 8, 8, generator=generator)
        memory_format = torch.channels_last if model.weight.stride()[1] == 1 else torch.contiguous_format
        model(inputs.contiguous(memory_format=memory_format)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    def use(settings) -> None:
        model.to(memory_format=settings.memory_format())

    step(1e-2)  # moments exist, laid out for the contiguous weights
    before = {k: v.clone() for k, v in optimizer.state[model.weight].items()}
    generator_before = generator.get_state()

    result = choose_by_trial([FP32_CHANNELS_LAST, FP32], use, lambda: step(0.0), optimizer, generator)

    after = optimizer.state[model.weight]
    assert all(torch.equal(before[key], after[key]) for key in before)  # values, including the step count
    assert after["exp_avg"].stride() == model.weight.stride()  # laid out like the weights it belongs to
    assert torch.equal(generator.get_state(), generator_before)
    assert result.chosen in (FP32, FP32_CHANNELS_LAST)


def test_fused_adam_moments_follow_their_weights_into_channels_last():
    torch.manual_seed(0)
    start, first, second = (torch.randn(4, 3, 3, 3) for _ in range(3))
    fused, plain = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    optimizers = [torch.optim.AdamW([fused], lr=1e-2, fused=True), torch.optim.AdamW([plain], lr=1e-2)]
    for weight, optimizer in zip((fused, plain), optimizers, strict=True):
        weight.grad = first.clone()
        optimizer.step()
    fused.data = fused.data.contiguous(memory_format=torch.channels_last)  # as ComputeSettings.use does
    align_optimizer_state(optimizers[0])
    for weight, optimizer in zip((fused, plain), optimizers, strict=True):
        weight.grad = torch.empty_like(weight).copy_(second)
        optimizer.step()
    assert torch.allclose(fused, plain, atol=1e-6)  # without the alignment they differ by ~1e-2


def test_evaluate_record_keeps_the_figures_in_the_card_and_history(shipped, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert main(["evaluate", "--model", str(shipped), "--prompts", "3", "--steps", "2", "--record"]) == 0
    evaluation = RunHistory.load(shipped).evaluation
    assert evaluation["prompts"] == 3 and set(evaluation["accuracy"]) >= {"time", "body_pos"}
    assert evaluation["timing"].endswith("torch threads, OMP_WAIT_POLICY=PASSIVE")
    card = (shipped / "README.md").read_text()
    assert f"{evaluation['vae_psnr_db']:.2f} dB" in card and "OMP_WAIT_POLICY=PASSIVE" in card
    assert "OMP_WAIT_POLICY=PASSIVE" in capsys.readouterr().out  # the printed table says it too

    assert main(["evaluate", "--model", str(tmp_path / "nothing"), "--record"]) == 1
    assert "--record needs a model folder" in capsys.readouterr().err
