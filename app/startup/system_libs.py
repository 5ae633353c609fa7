"""Before Qt loads on Linux: are the system libraries its xcb platform plugin needs there?

Without them Qt prints a long plugin error and aborts (SIGABRT), which tells a user nothing. This module
uses only ctypes, so it runs before PySide6 is imported (in the frozen app too), and names the Debian/Ubuntu
package that provides each missing library. The offscreen and wayland platforms do not need the xcb
libraries, so only an X11 start is checked; other systems are not checked at all (their Qt is self-contained).
"""

from __future__ import annotations

import ctypes
import os
import sys

# soname → the Debian package that ships it (the same list as packaging/linux's control file).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
COMMON_LIBRARIES = {"libfontconfig.so.1": "libfontconfig1", "libglib-2.0.so.0": "libglib2.0-0"}


def needed_libraries(platform: str | None = None) -> dict[str, str]:
    """The libraries the Qt platform that will start needs (QT_QPA_PLATFORM, else xcb on an X display)."""
    platform = platform if platform is not None else os.environ.get("QT_QPA_PLATFORM", "")
    name = platform.split(":", 1)[0]
    if name in ("offscreen", "minimal", "vnc") or (not name and os.environ.get("WAYLAND_DISPLAY")):
        return COMMON_LIBRARIES
    return XCB_LIBRARIES


def missing_libraries(libraries: dict[str, str]) -> dict[str, str]:
    """The sonames in `libraries` that the dynamic loader cannot open, with their packages."""
    missing = {}
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing[soname] = package
    return missing


def missing_message(missing: dict[str, str]) -> str:
    packages = " ".join(sorted(set(missing.values())))
    return (
        f"Redraft cannot start: missing system libraries {', '.join(sorted(missing))}. "
        f"Install them with: sudo apt install {packages}"
    )


def check_before_qt(platform: str | None = None) -> str | None:
    """None when Qt can start here, else the one-line message to print."""
    if not sys.platform.startswith("linux"):
        return None
    platform = platform if platform is not None else os.environ.get("QT_QPA_PLATFORM", "")
    if platform.split(":", 1)[0] in ("", "xcb", "wayland") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):  # Qt aborts without a display, too
        return "Redraft cannot start: no display (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop session"
    missing = missing_libraries(needed_libraries(platform))
    return missing_message(missing) if missing else None
