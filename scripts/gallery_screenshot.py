"""A screenshot of the Gallery tab, from the real app on an X display (xvfb-run when there is none).

Makes a few results with the embedded model through `python main.py generate` (PNGs with their
settings, as the app writes them) straight into the gallery folder of a temporary user data
directory, which is how PNGs copied in from elsewhere arrive too; then starts the app on the
Gallery tab, types a search word and picks an entry (docs/app_gallery.png).

    python scripts/gallery_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from screenshots import DOCS, ROOT, on_a_display, run
from steering_screenshots import App, write_settings

# (prompt, seed): a spread of the world's times of day, sun and moon, so the thumbnails differ.
RESULTS = (
    ("a sunny day with green grass and the sun on the left", 11),
    ("a sunset over a lake with mountains", 12),
    ("a starry night with the moon in the center over snow", 13),
    ("a sunny day in the desert with the sun on the right", 14),
    ("a sunset with purple mountains and a forest", 15),
    ("a night with the moon on the left over a lake", 16),
)
BATCH = 3


def make_results(gallery: Path) -> None:
    gallery.mkdir(parents=True, exist_ok=True)
    for index, (prompt, seed) in enumerate(RESULTS):
        out = gallery / f"result-{index}.png"
        subprocess.run([sys.executable, "main.py", "generate", "--prompt", prompt, "--seed", str(seed),
                        "--batch", str(BATCH), "--out", str(out)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        for number, path in enumerate(sorted(gallery.glob(f"result-{index}-*.png"))):
            stamp = 1_700_000_000 + index * 10 + number  # newest first: the last prompt leads
            os.utime(path, (stamp, stamp))


def main() -> None:
    on_a_display(__file__)
    work = Path(tempfile.mkdtemp(prefix="latent-studio-gallery-shot-"))
    gallery = work / "data" / "LatentStudio" / "Latent Studio" / "gallery"  # App sets XDG_DATA_HOME
    make_results(gallery)
    settings = work / "gallery.ini"
    write_settings(settings, 25, "Gallery")
    app = App(settings)
    try:
        time.sleep(1.0)
        run("xdotool", "key", "--window", app.window, "ctrl+f")  # the search box, as a person would
        run("xdotool", "type", "--window", app.window, "--delay", "60", "sunset")
        time.sleep(0.8)
        run("xdotool", "key", "--window", app.window, "Tab", "Right")  # into the list, the second entry
        app.save(DOCS / "app_gallery.png")
    finally:
        app.quit()


if __name__ == "__main__":
    main()
