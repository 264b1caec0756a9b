"""A tiny model trained by the real training code, once per session, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.training.config import TrainConfig
from studio.training.train import train_default_model

TRAINED_STEPS = 48  # per stage: a run of a known size, however fast the machine (timing is for benchmarks/)
TRAINED_MINUTES = 30.0  # a budget the steps never reach


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole toy run (VAE, text encoder + UNet, export); tests that change it work on a copy."""
    torch.manual_seed(0)
    return train_default_model(
        tmp_path_factory.mktemp("run") / "model",
        minutes=TRAINED_MINUTES,
        config=TrainConfig.tiny(),
        max_steps=TRAINED_STEPS,
        resume=False,
    )
