"""On a bare Linux machine the app says in one line what is missing, instead of Qt's plugin abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from studio.ui.display_check import XCB_LIBRARIES, display_problem

ROOT = Path(__file__).resolve().parents[2]


def test_missing_x_libraries_are_named_with_their_packages() -> None:
    present = {"xcb-icccm", "xcb-keysyms", "xcb-image", "xcb-render-util", "xcb-shape", "xcb-randr",
               "xcb-xinerama", "EGL"}
    problem = display_problem({"DISPLAY": ":0"}, "linux", lambda name: name if name in present else None)
    assert problem is not None and "\n" not in problem
    assert "libxcb-cursor0" in problem and "libxkbcommon-x11-0" in problem
    assert "apt-get install libxcb-cursor0 libxkbcommon-x11-0" in problem
    assert display_problem({"DISPLAY": ":0"}, "linux", lambda name: name) is None  # all there
    assert len(XCB_LIBRARIES) == 10


def test_only_the_xcb_platform_on_linux_is_checked() -> None:
    nothing = lambda _name: None  # noqa: E731
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", nothing) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", nothing) is None
    assert display_problem({}, "darwin", nothing) is None
    assert "DISPLAY is not set" in display_problem({}, "linux", nothing)
    assert "not installed" in display_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}, "linux", nothing)


def test_the_app_without_a_display_exits_with_one_line() -> None:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert "No display" in done.stderr
