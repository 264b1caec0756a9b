"""Shared fixtures: a tiny random-weight Stable Diffusion folder built in code, once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
_cache = tempfile.mkdtemp(prefix="studio-cache-")
os.environ["STUDIO_CACHE_DIR"] = _cache  # the precision trials' cache: never the user's own


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from studio.training.random_models import save_random_model

    return save_random_model(tmp_path_factory.mktemp("models") / "tiny", kind="tiny")
