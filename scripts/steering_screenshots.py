"""Screenshots of pause, paint, resume and of the Forward tab, from the real app driven like a user.

Starts the app on an X display (under xvfb-run when there is none) with the embedded model and
drives it with xdotool: Ctrl+Enter, Ctrl+P once three quarters of the steps are done, a yellow sun
brushed into the left third of the paused picture, Ctrl+P again; each state captured with
ImageMagick's `import` (docs/app_paused.png, docs/app_paused_edit.png, docs/app_resumed.png). Then a
second launch that opens on the Forward tab, a painted scene and its forward process
(docs/app_forward.png). Needs: apt-get install xvfb xdotool imagemagick (and Qt's xcb libraries).

    python scripts/steering_screenshots.py [--steps 100] [--pause-at 0.75]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from screenshots import (
    DOCS,
    ROOT,
    click,
    find_canvas,
    find_swatch,
    on_a_display,
    run,
    run_quietly,
    screenshot,
    stroke,
    wait_for,
    window_title,
)

PROMPT = "a sunny day with green grass"  # names no sun: the painted one is the person's doing
SUN = "#ffd83a"  # the palette's sun colour
SKY, GRASS = "#6fa8dc", "#4f9a3a"


def write_settings(path: Path, steps: int, info_tab: str) -> None:
    path.write_text(
        "[parameters]\n"
        f'prompt="{PROMPT}"\n'
        f"steps={steps}\nguidance_scale=4.5\nwidth=256\nheight=256\nsize_chosen=true\nmodel=\n"
        "use_canvas_as_init=false\npreview_kind=x0\n"
        "[seed]\nseed=3\nlocked=true\nafter_run=keep\n"
        "[tools]\nbrush_size=44\n"
        f"[window]\ninfo_tab={info_tab}\n"
    )


class App:
    """One app process on the display, its window found by title."""

    def __init__(self, settings: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "studio.ui.app", "--settings", str(settings),
             "-geometry", "1560x960+20+20"],
            # XDG_DATA_HOME: the results go to a gallery of their own, not this machine's user's.
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(settings.parent / "data")},
        )
        self.window = wait_for(
            lambda: run_quietly("xdotool", "search", "--onlyvisible", "--name", "Latent Studio").split(),
            60, "the window",
        )[-1]
        wait_for(self._model_ready, 300, "the model to load", poll_s=0.5)
        run("xdotool", "windowfocus", "--sync", self.window)  # no window manager gives it the keyboard
        time.sleep(0.5)
        self.canvas = find_canvas(screenshot(self.window))

    def _model_ready(self) -> bool:
        title = window_title(self.window)
        busy = "loading model…" in title or "no model" in title
        return title.startswith("Latent Studio — ") and not busy

    def at(self, u: float, v: float) -> tuple[int, int]:
        left, top, width, height = self.canvas
        return left + round(u * width), top + round(v * height)

    def key(self, *keys: str) -> None:
        run("xdotool", "key", "--window", self.window, *keys)

    def park_pointer(self) -> None:  # on the status bar: no brush outline on the canvas, no tooltip
        left, _top, width, _height = self.canvas
        geometry = run("xdotool", "getwindowgeometry", "--shell", self.window)
        window_height = int(geometry.split("HEIGHT=")[1].split()[0])
        run("xdotool", "mousemove", "--window", self.window, str(left + width // 2), str(window_height - 6))

    def save(self, path: Path) -> None:
        self.park_pointer()
        time.sleep(0.6)
        screenshot(self.window).save(path)
        print(f"saved {path}: '{window_title(self.window)}'")

    def paint_disc(self, colour: str, u: float, v: float) -> None:
        click(self.window, *find_swatch(screenshot(self.window), colour))
        for radius in (0.0, 0.03, 0.06):
            points = [(u + radius, v), (u, v + radius), (u - radius, v), (u, v - radius), (u + radius, v)]
            stroke(self.window, [self.at(*point) for point in points])

    def quit(self) -> None:
        self.process.terminate()  # SIGTERM closes without asking about the painting
        self.process.wait(60)


def find_slider_handle(image) -> tuple[int, int]:
    """The Forward tab's slider handle at its left end: the groove is the row of the Result dock (the
    lower left of the window) whose pixels are mostly its border grey (171, 171, 171)."""
    pixels = np.asarray(image).astype(int)
    below = pixels.shape[0] // 2
    border = (pixels[below:, :400] == 171).all(axis=2)
    rows = below + np.flatnonzero(border.sum(axis=1) > 300)
    # The groove's top and bottom lie a few pixels apart; frames and tab panes are single lines.
    for top, bottom in zip(rows, rows[1:], strict=False):
        if 3 <= bottom - top <= 8:
            left = int(np.flatnonzero(border[top - below])[0])
            return left + 8, int(top + bottom) // 2
    raise LookupError("no slider on screen")


def step_of(title: str) -> tuple[int, int] | None:
    if not title.startswith("Step"):
        return None
    done, total = title.split()[1].split("/")
    return int(done), int(total)


def pause_paint_resume(app: App, out: Path, pause_at: float) -> None:
    app.key("ctrl+Return")

    def far_enough() -> bool:
        progress = step_of(window_title(app.window))
        return progress is not None and progress[0] >= pause_at * progress[1]

    wait_for(far_enough, 300, "the pause step", poll_s=0.01)
    app.key("ctrl+p")
    wait_for(lambda: window_title(app.window).startswith("Paused"), 60, "the pause", poll_s=0.05)
    app.save(out / "app_paused.png")
    app.paint_disc(SUN, 0.2, 0.22)  # the left third, high in the sky
    app.save(out / "app_paused_edit.png")
    app.key("ctrl+p")
    wait_for(lambda: window_title(app.window).startswith("Latent Studio"), 300, "the result", poll_s=0.1)
    app.save(out / "app_resumed.png")


def forward_process(app: App, out: Path, stop: int) -> None:
    """A painted scene (sky, grass, sun) and the Forward tab at stop `stop` of 20."""
    click(app.window, *find_swatch(screenshot(app.window), SKY))
    for v in (0.05, 0.15, 0.25, 0.35, 0.45, 0.52):
        stroke(app.window, [app.at(0.02, v), app.at(0.5, v + 0.02), app.at(0.98, v)])
    click(app.window, *find_swatch(screenshot(app.window), GRASS))
    for v in (0.62, 0.72, 0.82, 0.92, 0.98):
        stroke(app.window, [app.at(0.02, v), app.at(0.5, v - 0.03), app.at(0.98, v)])
    app.paint_disc(SUN, 0.75, 0.2)
    time.sleep(4)  # the tab asks a moment after the last stroke; 21 stops take about half a second
    click(app.window, *find_slider_handle(screenshot(app.window)))
    for _ in range(stop):
        app.key("Right")
    app.save(out / "app_forward.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="many short steps: the pause lands close")
    parser.add_argument("--pause-at", type=float, default=0.75, help="steps done at the pause, as a fraction")
    parser.add_argument("--forward-stop", type=int, default=8, help="the Forward tab's stop (8: t = 399)")
    parser.add_argument("--out", type=Path, default=DOCS)
    options = parser.parse_args()
    on_a_display(__file__)
    work = Path(tempfile.mkdtemp(prefix="latent-studio-steer-shots-"))
    options.out.mkdir(parents=True, exist_ok=True)
    for info_tab, scene in (("Last result", pause_paint_resume), ("Forward", forward_process)):
        settings = work / f"{info_tab}.ini"
        write_settings(settings, options.steps, info_tab)
        app = App(settings)
        try:
            if scene is pause_paint_resume:
                scene(app, options.out, options.pause_at)
            else:
                scene(app, options.out, options.forward_stop)
        finally:
            app.quit()


if __name__ == "__main__":
    main()
