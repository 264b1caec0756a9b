"""Recipe trials at toy scale: each variant trains from scratch on the shipped VAE's latents and is
judged by the real evaluation; a finished trial is not run twice; v-prediction reaches the sampler."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from studio.cli import main
from studio.engine.loading import load_model
from studio.engine.schedulers import make_scheduler
from studio.training import recipe_trials
from studio.training.config import TrainConfig
from studio.training.diffusion import sample_timesteps
from studio.training.recipe_trials import (
    RESULTS_FILE,
    VARIANTS,
    Variant,
    results_table,
    run_recipe_trials,
    variants_named,
)

TINY_BASE = dataclasses.replace(TrainConfig.tiny().diffusion, batch_size=8)
TOY_VARIANTS = (
    Variant("baseline"),
    Variant("high-noise timesteps", {"timestep_sampling": "high_noise"}),
    Variant("v-prediction", {"prediction_type": "v_prediction"}),
)


@pytest.fixture
def shipped(trained: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "shipped"
    shutil.copytree(trained, folder)
    return folder


def _run(shipped: Path, work: Path, variants=TOY_VARIANTS) -> list[dict]:
    return run_recipe_trials(
        shipped, 0.03, variants, work, dataset_size=48, evaluation_prompts=4, base=TINY_BASE
    )


def test_every_variant_is_trained_judged_and_tabled(shipped, tmp_path):
    shipped_bytes = {p: p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    results = _run(shipped, tmp_path / "trials")

    assert [result["variant"] for result in results] == [variant.name for variant in TOY_VARIANTS]
    for result in results:
        assert result["steps"] > 0
        assert set(result["accuracy"]) >= {"time", "body", "body_pos", "mountains", "ground", "trees"}
        assert all(0.0 <= value <= 1.0 for value in result["accuracy"].values())
    assert json.loads((tmp_path / "trials" / RESULTS_FILE).read_text()) == results
    table = results_table(results)
    assert table.count("\n") == 1 + len(TOY_VARIANTS) and "| v-prediction |" in table
    # The shipped folder is only read: its VAE and tokenizer are borrowed, nothing is written there.
    assert {p: p.read_bytes() for p in shipped.rglob("*") if p.is_file()} == shipped_bytes

    # The v-prediction model is evaluated as one: its scheduler says so, and the engine samples with it.
    model = tmp_path / "trials" / "v-prediction" / "model"
    assert json.loads((model / "scheduler" / "scheduler_config.json").read_text())["prediction_type"] == (
        "v_prediction"
    )
    loaded = load_model(str(model), torch.device("cpu"), torch.float32)
    sampler = make_scheduler(loaded.info.scheduler, loaded.scheduler_config)
    assert sampler.config.prediction_type == "v_prediction"


def test_a_judged_variant_is_not_run_again(shipped, tmp_path, monkeypatch):
    first = _run(shipped, tmp_path / "trials", TOY_VARIANTS[:1])

    def must_not_train(*args, **kwargs):
        raise AssertionError("a judged variant was trained again")

    monkeypatch.setattr(recipe_trials, "_train_and_judge", must_not_train)
    assert _run(shipped, tmp_path / "trials", TOY_VARIANTS[:1]) == first


def test_unknown_variants_and_bad_budgets_are_refused(shipped, tmp_path, capsys):
    assert main(["recipe-trials", "--variant", "bigger", "--work", str(tmp_path / "t")]) == 1
    assert "unknown variant bigger" in capsys.readouterr().err
    assert variants_named(["high-noise-timesteps", "V-prediction"]) == (VARIANTS[1], VARIANTS[2])
    with pytest.raises(ValueError, match="minutes must be positive"):
        run_recipe_trials(shipped, 0, TOY_VARIANTS, tmp_path / "t")
    with pytest.raises(ValueError, match="not a model folder"):
        run_recipe_trials(tmp_path, 1, TOY_VARIANTS, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_high_noise_sampling_puts_half_the_draws_in_the_noisiest_quarter():
    generator = torch.Generator().manual_seed(0)
    uniform = sample_timesteps(20000, 1000, "uniform", generator)
    high = sample_timesteps(20000, 1000, "high_noise", generator)
    for draws in (uniform, high):
        assert int(draws.min()) >= 0 and int(draws.max()) <= 999
    assert abs((uniform >= 750).float().mean().item() - 0.25) < 0.02
    assert abs((high >= 750).float().mean().item() - 0.5) < 0.02
    with pytest.raises(ValueError, match="timestep sampling must be one of"):
        sample_timesteps(4, 1000, "logit", generator)
