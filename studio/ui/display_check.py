"""Before Qt opens a window on Linux: is there a display, and are the X libraries Qt's xcb plugin needs
installed? Without them Qt aborts the process with "Could not load the Qt platform plugin "xcb"",
which names neither the library nor the package; this says both in one line instead.
"""

from __future__ import annotations

import ctypes.util
import sys
from collections.abc import Callable, Mapping

# The shared libraries Qt 6's xcb platform plugin loads beyond libxcb itself -> the Debian/Ubuntu
# package that provides each (the names Qt's own deployment notes list).
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xcb-randr": "libxcb-randr0",
    "xcb-xinerama": "libxcb-xinerama0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "EGL": "libegl1",
}


def display_problem(
    environment: Mapping[str, str],
    platform: str = sys.platform,
    find_library: Callable[[str], str | None] = ctypes.util.find_library,
) -> str | None:
    """One line saying why no window can open here, or None when it can (or it is not for us to tell)."""
    if not platform.startswith("linux"):
        return None
    chosen = environment.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None  # offscreen, wayland, vnc ...: Qt's own choice, and its own messages
    if not chosen and environment.get("WAYLAND_DISPLAY"):
        return None  # Qt takes Wayland there
    if not environment.get("DISPLAY"):
        return ("No display to open the window on (DISPLAY is not set): start the app in a desktop "
                "session, or run `python main.py generate ...` for the command line.")
    missing = [package for library, package in XCB_LIBRARIES.items() if find_library(library) is None]
    if missing:
        return (f"Qt needs X libraries that are not installed: {', '.join(missing)}. On Debian or Ubuntu: "
                f"sudo apt-get install {' '.join(missing)}")
    return None
