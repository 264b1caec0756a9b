"""The EngineService's promises, with a fake engine for exact control: one terminal signal per run,
superseded runs stay silent, errors arrive as messages."""

from __future__ import annotations

import gc
import threading

import pytest

from studio.engine.request import GenerationRequest, GenerationResult, StepEvent
from studio.ui.worker import EngineService
from tests.ui.fake_engine import FakeEngine


@pytest.fixture
def make_service():
    services: list[EngineService] = []

    def make(engine: FakeEngine) -> EngineService:
        services.append(EngineService(lambda: engine))
        return services[-1]

    yield make
    for service in services:
        service.shutdown()


def request(seed: int = 1, steps: int = 3) -> GenerationRequest:
    return GenerationRequest(prompt="x", seed=seed, steps=steps, width=32, height=32, model="fake")


def test_a_new_run_supersedes_the_one_going_and_only_it_reports(qtbot, make_service) -> None:
    engine = FakeEngine()
    engine.step_gate = threading.Event()  # hold the first run at its first step
    service = make_service(engine)
    heard: list[str] = []
    service.finished.connect(lambda result: heard.append(f"finished {result.request.seed}"))
    service.cancelled.connect(lambda: heard.append("cancelled"))
    service.run_started.connect(lambda req: heard.append(f"started {req.seed}"))
    with qtbot.waitSignal(service.run_started, timeout=30_000):
        service.submit(request(seed=1))
    service.submit(request(seed=2))
    service.submit(request(seed=3))  # seed 2 never starts: cancelled while queued
    engine.step_gate.set()
    with qtbot.waitSignal(service.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        pass
    assert heard == ["started 1", "started 3", "finished 3"]
    assert [r.seed for r in engine.requests] == [1, 3]


def test_signals_of_a_superseded_run_are_dropped_by_their_job_id(qtbot, make_service) -> None:
    engine = FakeEngine()
    engine.step_gate = threading.Event()  # hold the first run at its first step
    service = make_service(engine)
    with qtbot.waitSignal(service.run_started, timeout=30_000):
        service.submit(request(seed=1))
    superseded = service._current_run
    service.submit(request(seed=2))
    heard: list[object] = []
    for signal in (service.step, service.finished, service.cancelled, service.failed):
        signal.connect(lambda *args: heard.append(args))
    # As if the worker's signals for the first run arrived late: what they name, not their order, counts.
    worker = service._worker
    worker.step.emit(superseded, StepEvent(0, 1, 1, 3, 999.0, 1.0, None, 0.1))
    worker.finished.emit(superseded, GenerationResult(request(seed=1), (), (), "fake", 0.1))
    worker.failed.emit(superseded, "a stale failure")
    assert heard == []
    engine.step_gate.set()
    with qtbot.waitSignal(service.finished, timeout=30_000) as finished:
        pass
    assert finished.args[0].request.seed == 2
    qtbot.waitUntil(lambda: not service.busy)


def test_cancel_reports_once_and_no_result(qtbot, make_service) -> None:
    engine = FakeEngine()
    service = make_service(engine)
    finished: list[object] = []
    service.finished.connect(finished.append)
    with qtbot.waitSignal(service.step, timeout=30_000):
        service.submit(request(steps=500))
    with qtbot.waitSignal(service.cancelled, timeout=30_000):
        service.cancel()
    qtbot.waitUntil(lambda: not service.busy)
    assert finished == []


def test_engine_errors_arrive_as_messages(qtbot, make_service) -> None:
    service = make_service(FakeEngine(fail_with="Out of memory: try a smaller size."))
    with qtbot.waitSignal(service.failed, timeout=30_000) as failed:
        service.submit(request())
    assert failed.args == ["Out of memory: try a smaller size."]
    with qtbot.waitSignal(service.failed, timeout=30_000) as failed:
        service.request_model_load("missing-model")
    assert "No model at missing-model" in failed.args[0]


@pytest.mark.parametrize(("raised", "told"), [
    (ZeroDivisionError("boom"), "Unexpected error (ZeroDivisionError): boom"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"),
     "Out of memory: try a smaller size"),
])
def test_an_unexpected_exception_is_a_message_not_a_crash(qtbot, make_service, raised, told) -> None:
    class Broken(FakeEngine):
        def generate(self, *args, **kwargs):
            raise raised

    service = make_service(Broken())
    with qtbot.waitSignal(service.failed, timeout=30_000) as failed:
        service.submit(request())
    assert failed.args[0].startswith(told)
    assert service.shutdown(10_000)


def test_a_fake_engine_gate_left_shut_fails_the_test_loudly(qtbot, make_service, monkeypatch) -> None:
    from tests.ui import fake_engine

    monkeypatch.setattr(fake_engine, "GATE_TIMEOUT_S", 0.05)
    engine = FakeEngine()
    engine.step_gate = threading.Event()  # never opened
    service = make_service(engine)
    with qtbot.waitSignal(service.failed, timeout=30_000) as failed:
        service.submit(request())
    assert "step gate stayed shut" in failed.args[0]
    assert fake_engine.gate_timeouts  # what the conftest fails a test on
    fake_engine.gate_timeouts.clear()  # this test meant it


class _InACycle:
    """Garbage only the cycle collector can free; records the thread it dies in."""

    def __init__(self, died_in: list[threading.Thread]) -> None:
        self.died_in = died_in
        self.me = self

    def __del__(self) -> None:
        self.died_in.append(threading.current_thread())


def test_garbage_cycles_die_in_the_gui_thread_never_in_the_engine_thread(qtbot, make_service) -> None:
    # Qt objects destroyed outside their thread crash the app (CI saw a segfault while a model loaded).
    make_service(FakeEngine())
    assert not gc.isenabled()
    died_in: list[threading.Thread] = []
    _InACycle(died_in)
    kept: list[list[object]] = []
    # Allocating far past every threshold: with automatic collection on, this thread would collect.
    busy = threading.Thread(target=lambda: kept.extend([] for _ in range(100_000)))
    busy.start()
    busy.join()
    assert died_in == []
    qtbot.waitUntil(lambda: bool(died_in), timeout=10_000)
    assert died_in == [threading.main_thread()]
