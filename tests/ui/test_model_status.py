"""The model's state is a state: a failed load says so, a failed run leaves a ready model ready."""

from __future__ import annotations

from studio.engine.request import ModelInfo
from studio.ui.model_status import ModelState, ModelStatus

INFO = ModelInfo("Tiny", "/models/tiny", "cpu", 64, 64, 12, 6.0, "euler", "fp32", "bf16", "measured")


def test_loading_then_failing_says_not_loaded_and_a_later_failure_keeps_a_ready_model(qtbot) -> None:
    status = ModelStatus()
    assert (status.state, status.title) == (ModelState.NONE, "no model")
    with qtbot.waitSignal(status.changed):
        status.loading("/models/tiny")
    assert status.title == "loading model…" and status.label == "Model: loading /models/tiny…"
    status.load_failed()
    assert status.state is ModelState.NONE and "see the message" in status.label
    status.loading("")
    status.ready(INFO)
    assert status.title == "Tiny" and status.label == "Model: Tiny (cpu fp32, decode bf16, native 64×64)"
    with qtbot.assertNotEmitted(status.changed):
        status.load_failed()  # a run failed, not a load: the model is still there
    assert status.state is ModelState.READY and "measured" in status.tooltip
