"""Screenshots of the real app for the docs: paint a few strokes, run one generation, capture it.

Starts the app (`python -m studio.ui.app`) in its own process on an X display, drives it like a user
with xdotool (mouse strokes on the canvas, a palette click, Ctrl+Enter) and captures the window with
ImageMagick's `import`: docs/app_running.png mid-run and docs/app_done.png when the result is in,
then the same for an inpainting run over a mask rectangle (docs/app_inpaint_*.png).
Without a display it starts itself under xvfb-run. Needs: apt-get install xvfb xdotool imagemagick.

    python scripts/screenshots.py [--model PATH] [--steps 40] [--size 512]

The model defaults to the embedded one when present, otherwise a tiny random-weight model (its
pictures are noise, but every part of the flow is the real one).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EMBEDDED_MODEL = ROOT / "resources" / "models" / "landscapes"
SCREEN = (1600, 1000)
PROMPT = "a sunny day with the sun on the left over green grass"
INPAINT_PROMPT = "a sunny day with many clouds and the sun on the left over green grass"


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def run_quietly(*command: str) -> str:
    """Like run, but a failure (nothing found yet) is just empty output."""
    return subprocess.run(command, capture_output=True, text=True).stdout.strip()


def screenshot(window_id: str) -> Image.Image:
    png = subprocess.run(["import", "-window", window_id, "png:-"], check=True, capture_output=True).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def window_title(window_id: str) -> str:
    return run("xdotool", "getwindowname", window_id)


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"timed out waiting for {what}")


def find_canvas(image: Image.Image) -> tuple[int, int, int, int]:
    """The blank canvas is the widest run of pure white on the window's middle row."""
    pixels = np.asarray(image)
    row = pixels.shape[0] // 2
    white = (pixels[row] == 255).all(axis=1)
    best, start = (0, 0), None
    for x, is_white in enumerate([*white, False]):
        if is_white and start is None:
            start = x
        elif not is_white and start is not None:
            best = max(best, (x - start, start))
            start = None
    width, left = best
    column = pixels[:, left + width // 2]
    column_white = (column == 255).all(axis=1)
    top = row
    while top > 0 and column_white[top - 1]:
        top -= 1
    bottom = row
    while bottom + 1 < len(column_white) and column_white[bottom + 1]:
        bottom += 1
    return left, top, width, bottom - top + 1


def find_prompt_box(image: Image.Image) -> tuple[int, int]:
    """The middle of the prompt box: the first tall white block down the right-hand panel."""
    pixels = np.asarray(image)
    column = (pixels[:, pixels.shape[1] - 150] == 255).all(axis=1)
    for y in range(len(column) - 40):
        if column[y : y + 40].all():
            return pixels.shape[1] - 150, y + 20
    raise LookupError("no prompt box on screen")


def find_swatch(image: Image.Image, hex_colour: str, side: int = 12) -> tuple[int, int]:
    """The centre of a small square palette swatch of that colour (the wide colour button, whose text
    breaks its colour into short runs, matches too: a swatch is a block bordered on both sides)."""
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    matches = (np.asarray(image) == target).all(axis=2)
    for y in range(matches.shape[0] - side):
        padded = np.concatenate([[False], matches[y], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            if not 12 <= end - start <= 24 or start == 0 or end >= matches.shape[1]:
                continue
            block = matches[y : y + side]
            if block[:, start:end].all() and not block[:, start - 1].any() and not block[:, end].any():
                return int(start + end) // 2, y + side // 2
    raise LookupError(f"no swatch of colour {hex_colour} on screen")


def stroke(window_id: str, points: list[tuple[int, int]]) -> None:
    run("xdotool", "mousemove", "--window", window_id, str(points[0][0]), str(points[0][1]), "mousedown", "1")
    for x, y in points[1:]:
        run("xdotool", "mousemove", "--window", window_id, str(x), str(y))
    run("xdotool", "mouseup", "1")


def click(window_id: str, x: int, y: int) -> None:
    run("xdotool", "mousemove", "--window", window_id, str(x), str(y), "click", "1")


def generate_and_capture(
    window_id: str, out: Path, running_name: str, done_name: str, before_done: tuple[str, ...] = ()
) -> None:
    """Ctrl+Enter, a screenshot once half the steps are done, another when the result is in (after
    pressing the keys in `before_done`)."""
    run("xdotool", "key", "--window", window_id, "ctrl+Return")
    wait_for(lambda: window_title(window_id).startswith("Step"), 120, "the run to start", poll_s=0.05)

    def past_half() -> bool:
        title = window_title(window_id)
        if not title.startswith("Step"):
            return False
        done, total = title.split()[1].split("/")
        return int(done) >= int(total) // 2

    wait_for(past_half, 600, "the middle of the run", poll_s=0.05)
    screenshot(window_id).save(out / running_name)
    print(f"saved {out / running_name} at '{window_title(window_id)}'")
    wait_for(lambda: window_title(window_id).startswith("Latent Studio"), 600, "the result", poll_s=0.2)
    for key in before_done:
        run("xdotool", "key", "--window", window_id, key)
    time.sleep(0.5)
    screenshot(window_id).save(out / done_name)
    print(f"saved {out / done_name}")


def on_a_display(script: str) -> None:
    """Without an X display, runs `script` again under xvfb-run (and exits with its status)."""
    if not os.environ.get("DISPLAY"):
        if not shutil.which("xvfb-run"):
            sys.exit("no X display and no xvfb-run: apt-get install xvfb xdotool imagemagick")
        screen = f"-screen 0 {SCREEN[0]}x{SCREEN[1]}x24"
        sys.exit(subprocess.call(["xvfb-run", "-a", "-s", screen, sys.executable, script, *sys.argv[1:]]))


def build_tiny_model(folder: Path) -> Path:
    code = (
        "import sys\n"
        "from studio.training.random_models import save_random_model\n"
        "save_random_model(sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, cwd=ROOT, capture_output=True)
    return folder


def write_settings(path: Path, model: str, steps: int, size: int | None, strength: float) -> None:
    # A size of the person's own (size_chosen); none: the canvas takes the model's native size.
    canvas = f"width={size}\nheight={size}\nsize_chosen=true\n" if size else ""
    path.write_text(
        "[parameters]\n"
        f'prompt="{PROMPT}"\n'
        f"steps={steps}\n{canvas}model={model}\n"
        f"use_canvas_as_init=true\nstrength={strength}\npreview_kind=x0\n"
        "[seed]\nseed=1234\nafter_run=keep\n"
        "[tools]\nbrush_size=64\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshots of the running app for docs/")
    parser.add_argument("--model", help="model source (default: embedded, else a tiny random model)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, help="canvas size (default: the model's working size)")
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the screenshots (default: docs/)")
    options = parser.parse_args()
    on_a_display(__file__)

    work = Path(tempfile.mkdtemp(prefix="latent-studio-shots-"))
    model = options.model or ""  # "": the embedded model, as a user's first launch has it
    if not model and not EMBEDDED_MODEL.exists():
        print("no embedded model yet: using a tiny random-weight model")
        model = str(build_tiny_model(work / "tiny-model"))
    settings = work / "settings.ini"
    write_settings(settings, model, options.steps, options.size, options.strength)
    app = subprocess.Popen(
        [sys.executable, "-m", "studio.ui.app", "--settings", str(settings), "-geometry", "1560x960+20+20"],
        # XDG_DATA_HOME: the results go to a gallery of their own, not this machine's user's.
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(work / "data")},
    )
    try:
        window_id = wait_for(
            lambda: run_quietly("xdotool", "search", "--onlyvisible", "--name", "Latent Studio").split(),
            60, "the window",
        )[-1]
        shown_at = time.monotonic()

        def model_ready() -> bool:
            title = window_title(window_id)
            busy = "loading model…" in title or "no model" in title
            return title.startswith("Latent Studio — ") and not busy

        wait_for(model_ready, 300, "the model to load", poll_s=0.5)
        print(f"model ready after {time.monotonic() - shown_at:.1f} s: {window_title(window_id)}")
        time.sleep(0.5)
        left, top, width, height = find_canvas(screenshot(window_id))
        print(f"canvas at {left},{top} size {width}x{height}")

        def at(u: float, v: float) -> tuple[int, int]:
            return left + round(u * width), top + round(v * height)

        image = screenshot(window_id)
        click(window_id, *find_swatch(image, "#6fa8dc"))  # day sky
        for v in (0.05, 0.15, 0.25, 0.35, 0.45, 0.52):
            stroke(window_id, [at(0.03, v), at(0.35, v + 0.02), at(0.7, v - 0.02), at(0.97, v)])
        click(window_id, *find_swatch(image, "#4f9a3a"))  # grass
        for v in (0.62, 0.72, 0.82, 0.92, 0.97):
            stroke(window_id, [at(0.03, v), at(0.5, v - 0.03), at(0.97, v)])
        click(window_id, *find_swatch(image, "#ffd83a"))  # sun
        for radius in (0.01, 0.04, 0.07):
            stroke(window_id, [at(0.22 + radius, 0.2), at(0.22, 0.2 + radius), at(0.22 - radius, 0.2),
                               at(0.22, 0.2 - radius), at(0.22 + radius, 0.2)])
        def park_pointer() -> None:  # on the status bar: no brush outline on the canvas, no tooltip
            geometry = run("xdotool", "getwindowgeometry", "--shell", window_id)
            window_height = int(geometry.split("HEIGHT=")[1].split()[0])
            run("xdotool", "mousemove", "--window", window_id, str(left + width // 2), str(window_height - 6))

        park_pointer()
        time.sleep(0.3)
        screenshot(window_id).save(work / "sketch.png")

        options.out.mkdir(parents=True, exist_ok=True)
        generate_and_capture(window_id, options.out, "app_running.png", "app_done.png")

        # Inpainting: a mask rectangle over the upper right (shown as a red tint), then a run that only
        # repaints there, its previews painted over the crop around the mask.
        # ...with a new prompt: the tool first (R, while the canvas has the keys), then the prompt text.
        run("xdotool", "key", "--window", window_id, "r")
        click(window_id, *find_prompt_box(screenshot(window_id)))
        run("xdotool", "key", "--window", window_id, "ctrl+a")
        run("xdotool", "type", "--window", window_id, "--delay", "5", INPAINT_PROMPT)
        stroke(window_id, [at(0.55, 0.08), at(0.75, 0.2), at(0.92, 0.4)])
        park_pointer()
        # Done: the mask tint hidden (Q), so the repainted rectangle shows as it is.
        generate_and_capture(
            window_id, options.out, "app_inpaint_running.png", "app_inpaint_done.png", before_done=("q",)
        )
        # Ctrl+Q asks Save/Discard/Cancel about the strokes; SIGTERM closes without asking, even
        # while that question is open.
        subprocess.run(["xdotool", "key", "--window", window_id, "ctrl+q"], capture_output=True)
        time.sleep(1)
        app.terminate()
        app.wait(60)
    finally:
        if app.poll() is None:
            app.terminate()
            app.wait(30)


if __name__ == "__main__":
    main()
