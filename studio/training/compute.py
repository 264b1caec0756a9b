"""How a training stage runs on the machine at hand: precision and memory format, chosen by a timed trial.

The fastest setting differs between processors and models (measured in this project: bf16 autocast
with channels_last made the VAE 2.7x faster on a Xeon with AMX, but the 16x16 UNet slower; on an AMD
EPYC with AVX512-BF16 and no AMX, bf16 made the UNet step slower too). So nothing is assumed: each
stage times a few real steps under every candidate and keeps the fastest.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from studio.engine.precision import cpu_has_bf16_hardware as cpu_has_bf16


@dataclass(frozen=True)
class ComputeSettings:
    """Autocast dtype (None: plain fp32) and whether conv weights and inputs use channels_last."""

    name: str
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False

    @contextlib.contextmanager
    def autocast(self, device: torch.device) -> Iterator[None]:
        with torch.autocast(device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            yield

    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


FP32 = ComputeSettings("fp32")
FP32_CHANNELS_LAST = ComputeSettings("fp32 channels_last", channels_last=True)
BF16_CHANNELS_LAST = ComputeSettings("bf16 autocast channels_last", torch.bfloat16, channels_last=True)


def candidate_settings(device: torch.device) -> list[ComputeSettings]:
    if device.type == "cuda":
        return [FP32, BF16_CHANNELS_LAST] if torch.cuda.is_bf16_supported() else [FP32]
    if device.type == "cpu" and cpu_has_bf16():
        return [FP32, FP32_CHANNELS_LAST, BF16_CHANNELS_LAST]
    return [FP32, FP32_CHANNELS_LAST]


@dataclass(frozen=True)
class TrialResult:
    chosen: ComputeSettings
    milliseconds: dict[str, float]  # median step time per candidate

    def describe(self) -> str:
        timings = ", ".join(f"{name} {ms:.0f} ms" for name, ms in self.milliseconds.items())
        return f"{self.chosen.name} (timed trial per step: {timings})"


def choose_by_trial(
    candidates: list[ComputeSettings],
    apply: Callable[[ComputeSettings], None],
    step: Callable[[], object],
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    steps_per_candidate: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> TrialResult:
    """Time `step` under each candidate (after one warm-up step) and apply the fastest.

    `apply` switches the models to a candidate's settings; `step` must be a real training step at
    learning rate 0, so the weights stay as they were. The optimizer's state (Adam's moments and step
    count move even at learning rate 0) and the random generator are put back afterwards: the run
    goes on exactly as it would have without the trial. `clock` is there for tests.
    """
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_generator = generator.get_state()
    milliseconds: dict[str, float] = {}
    for candidate in candidates:
        apply(candidate)
        align_optimizer_state(optimizer)
        step()  # warm-up: oneDNN picks kernels and allocates on the first call
        times = []
        for _ in range(steps_per_candidate):
            started = clock()
            step()
            times.append(clock() - started)
        milliseconds[candidate.name] = 1000 * sorted(times)[len(times) // 2]
    chosen = min(candidates, key=lambda candidate: milliseconds[candidate.name])
    apply(chosen)
    optimizer.load_state_dict(saved_optimizer)
    align_optimizer_state(optimizer)
    generator.set_state(saved_generator)
    return TrialResult(chosen, milliseconds)


def align_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Give each moment buffer its parameter's memory layout (after a switch to or from channels_last).

    The fused AdamW kernel walks parameter, gradient and moments as flat memory: a contiguous moment
    beside a channels_last weight pairs each element with another element's history (checked: the
    weights drift from the unfused result). Copying into `empty_like(param)` keeps the values and
    takes the parameter's strides.
    """
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            for key, value in state.items():
                misaligned = isinstance(value, torch.Tensor) and value.shape == parameter.shape
                if misaligned and value.stride() != parameter.stride():
                    state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def trial_for(
    trainer: Any, device: torch.device, optimise: Callable[[float], Any], label: str = "compute"
) -> TrialResult:
    """`choose_by_trial` for a trainer with `use`, `optimizer` and `generator`, timing `optimise(0)`;
    prints the choice after `label`."""
    result = choose_by_trial(
        candidate_settings(device),
        trainer.use,
        lambda: optimise(0.0),
        trainer.optimizer,
        trainer.generator,
    )
    print(f"{label}: {result.describe()}", flush=True)
    return result
