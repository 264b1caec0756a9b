"""Before Qt opens a window on Linux: is there a display, and are the X libraries Qt's xcb plugin needs
installed? Without them Qt aborts the process with "Could not load the Qt platform plugin "xcb"",
which names neither the library nor the package; this says both in one line instead.
"""

from __future__ import annotations

import ctypes.util
import re
import subprocess
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


def _installed_library_finder() -> Callable[[str], str | None]:
    """ctypes.util.find_library runs `ldconfig -p` anew for each name (38 ms for these ten, at every
    launch); one run answers them all, and find_library is asked only about a name it lacks."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ctypes.util.find_library
    installed = set(re.findall(r"\blib([\w.+-]+?)\.so", listing))
    return lambda name: name if name in installed else ctypes.util.find_library(name)


def display_problem(
    environment: Mapping[str, str],
    platform: str = sys.platform,
    find_library: Callable[[str], str | None] | None = None,
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
    find_library = find_library or _installed_library_finder()
    missing = [package for library, package in XCB_LIBRARIES.items() if find_library(library) is None]
    if missing:
        return (f"Qt needs X libraries that are not installed: {', '.join(missing)}. On Debian or Ubuntu: "
                f"sudo apt-get install {' '.join(missing)}")
    return None
