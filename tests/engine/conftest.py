"""Engine fixtures: one fp32 engine on the tiny test model per test module."""

from __future__ import annotations

import pytest

from studio.engine.engine import Engine


@pytest.fixture(scope="module")
def fp32_engine(tiny_model_dir) -> Engine:
    """fp32 throughout, so pixel comparisons do not depend on this processor's bf16 choice."""
    engine = Engine(device="cpu")
    engine.load_model(str(tiny_model_dir), "fp32", "fp32")
    return engine
