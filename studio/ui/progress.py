"""Progress text from step events: step i/N, iterations per second and the time left."""

from __future__ import annotations

from dataclasses import dataclass

from studio.engine.request import StepEvent


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 over the whole batch
    text: str
    iterations_per_second: float
    seconds_left: float


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"


def describe_step(event: StepEvent) -> Progress:
    done = event.image_index * event.total_steps + event.step
    total = max(1, event.batch_count * event.total_steps)
    rate = done / event.elapsed_s if event.elapsed_s > 0 else 0.0
    seconds_left = (total - done) / rate if rate > 0 else 0.0
    text = f"{'Refining' if event.refining else 'Step'} {event.step}/{event.total_steps}"
    if event.batch_count > 1:
        text += f" · image {event.image_index + 1}/{event.batch_count}"
    text += f" · {rate:.1f} it/s · {format_duration(seconds_left)} left"
    return Progress(done / total, text, rate, seconds_left)
