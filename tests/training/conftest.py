"""A tiny model trained by the real training code, once per session, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.training.config import TrainConfig
from studio.training.train import train_default_model

TRAINED_MINUTES = 0.35


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole toy run (VAE, text encoder + UNet, export); tests that change it work on a copy."""
    torch.manual_seed(0)
    return train_default_model(
        tmp_path_factory.mktemp("run") / "model",
        minutes=TRAINED_MINUTES,
        config=TrainConfig.tiny(),
        resume=False,
    )
