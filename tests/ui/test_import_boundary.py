"""The UI never imports torch or diffusers; only worker.py reaches the engine module, lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UI_DIR = Path(__file__).resolve().parents[2] / "studio" / "ui"


def test_opening_the_window_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "import studio.ui.app, studio.ui.main_window\n"
        "from studio.ui.settings import open_settings\n"
        "import tempfile, os\n"
        "work = tempfile.mkdtemp()\n"
        "window = studio.ui.main_window.MainWindow(open_settings(os.path.join(work, 's.ini')),"
        " load_model_on_show=False, gallery_folder=__import__('pathlib').Path(work, 'gallery'))\n"
        "window.show(); app.processEvents()\n"
        "heavy = [name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules]\n"
        "window.close()\n"
        "print('HEAVY', heavy)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
        cwd=UI_DIR.parents[1],
    )
    assert "HEAVY []" in completed.stdout, completed.stdout + completed.stderr


def test_only_the_worker_mentions_the_engine_module() -> None:
    for path in UI_DIR.glob("*.py"):
        text = path.read_text()
        for forbidden in ("import torch", "import diffusers", "from diffusers", "from torch"):
            assert forbidden not in text, f"{path.name} imports {forbidden.split()[-1]}"
        if path.name != "worker.py":
            assert "studio.engine.engine" not in text, f"{path.name} reaches the engine directly"
