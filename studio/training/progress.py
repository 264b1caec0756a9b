"""A stage's progress bar on stderr (tqdm), and the loss-curve PNG.

The curve is drawn with Pillow rather than matplotlib: matplotlib is not a dependency of the app, and
a headless training machine should not need a plotting stack (and its font cache warm-up) for one
line chart.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm


class ProgressBar:
    """A stage's tqdm bar, fed how far the stage is (seconds spent, or items done) with the loss and
    step beside it: a stage sized in minutes moves by the clock, not by a count tqdm could keep."""

    def __init__(self, stage: str, total: float, stream: TextIO | None = None, unit: str = "time") -> None:
        stream = stream or sys.stderr
        # A terminal redraws a few times a second; a log file gets a line every 30 s.
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        self._bar = tqdm(
            total=max(total, 1e-9),
            desc=stage,
            unit="s" if unit == "time" else unit,
            file=stream,
            dynamic_ncols=True,
            mininterval=0.25 if interactive else 30.0,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}{postfix}]",
        )

    def update(self, done: float, loss: float | None = None, step: int | None = None) -> None:
        postfix = {}
        if loss is not None:
            postfix["loss"] = f"{loss:.4f}"
        if step is not None:
            postfix["step"] = step
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(min(done, self._bar.total) - self._bar.n)

    def close(self, done: float, loss: float | None = None, step: int | None = None) -> None:
        self.update(done, loss, step)
        self._bar.close()


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Running mean over `window` values, so a noisy per-step loss reads as a curve."""
    out, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        out.append(total / min(index + 1, window))
    return out


def write_loss_curve(
    curves: dict[str, Sequence[float]], path: Path, width: int = 720, height: int = 260
) -> Path:
    """One panel per curve (log-scale loss against step), raw in light grey and smoothed in colour."""
    panels = [(name, list(values)) for name, values in curves.items() if values]
    image = Image.new("RGB", (width, max(1, len(panels)) * height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, 16, 24, 28
    for panel, (name, values) in enumerate(panels):
        y0 = panel * height
        logs = [math.log10(max(v, 1e-8)) for v in values]
        low, high = min(logs), max(logs)
        if high - low < 1e-6:
            high = low + 1.0
        plot_w, plot_h = width - left - right, height - top - bottom

        def point(
            index: int,
            log_value: float,
            count: int = len(values),
            low: float = low,
            high: float = high,
            plot_w: int = plot_w,
            plot_h: int = plot_h,
            y0: int = y0,
        ) -> tuple[float, float]:
            x = left + plot_w * index / max(1, count - 1)
            y = y0 + top + plot_h * (1 - (log_value - low) / (high - low))
            return x, y

        draw.rectangle((left, y0 + top, left + plot_w, y0 + top + plot_h), outline="black")
        draw.text(
            (left, y0 + 6), f"{name}: loss (log scale) per step, {len(values)} steps", fill="black", font=font
        )
        for fraction in (0.0, 0.5, 1.0):
            log_value = low + (high - low) * fraction
            _, y = point(0, log_value)
            draw.text((4, y - 6), f"{10**log_value:.3g}", fill="black", font=font)
        draw.text((left, y0 + top + plot_h + 6), "0", fill="black", font=font)
        draw.text((left + plot_w - 40, y0 + top + plot_h + 6), str(len(values)), fill="black", font=font)
        draw.line([point(i, v) for i, v in enumerate(logs)], fill=(200, 200, 200), width=1)
        smoothed = [math.log10(max(v, 1e-8)) for v in smooth(values, max(1, len(values) // 50))]
        draw.line([point(i, v) for i, v in enumerate(smoothed)], fill=(30, 90, 200), width=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
