"""The window, used only when a display exists: cv2.imshow aborts the whole process without
one (Qt calls abort() when it cannot connect), so the app checks first, in a short-lived
child process that may abort in its place, and otherwise runs headless."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2

# Opens and closes a tiny window; Qt aborts this child, not the app, when the display is unusable.
_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
PROBE_TIMEOUT_S = 5.0


def _gui_build() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:") and line.split(":", 1)[1].strip().upper() in ("NONE", "NO", ""):
            return False
    return True


def _display_names() -> str:
    return ", ".join(f"{k}={os.environ[k]}" for k in ("DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(k))


def probe_window(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a child process could open a window, else why not (one line)."""
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"the display ({_display_names()}) did not answer within {timeout:.0f} s"
    except OSError as e:
        return f"cannot check the display ({e.strerror or e})"
    if r.returncode != 0:
        return f"cannot open a window on the display ({_display_names()}: unreachable or not allowed)"
    return None


def display_unavailable_reason(probe=probe_window) -> str | None:
    """None when a window can be opened, else why not."""
    if not _gui_build():
        return "this OpenCV has no GUI support (opencv-python-headless)"
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
        return probe()
    return None


KEY_QUIT = {ord("q"), 27}  # q (Q too: letters come lower-cased), Esc
OTHER_KEY = 256  # an arrow, F-key and such: "any other key" (the next picture), never a letter's command
MODIFIERS = {*range(0xFFE1, 0xFFEF), 0xFE03, 0xFF7F, 0xFF14}  # Shift ... Alt, AltGr, Num and Scroll Lock alone: no key


def key_code(k: int) -> int:
    """cv2.waitKeyEx's code -> the key the loop acts on: letters lower-cased, keys beyond ASCII
    (GTK and Qt give X keysyms: Left is 0xFF51, whose low byte is 'Q') as OTHER_KEY, a modifier
    alone as none (-1)."""
    if k < 0:
        return -1
    k &= 0xFFFF  # OpenCV's GTK build adds the modifier state above: q with Num Lock on is 0x100071
    if k in MODIFIERS:
        return -1
    if k > 0xFF:
        return OTHER_KEY
    return ord(chr(k).lower()) if chr(k).isascii() and chr(k).isalpha() else k


class Window:
    def __init__(self, title: str = "edge-digits"):
        self.title = title
        self.sized = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)

    def show(self, image):
        if not self.sized:  # open at the frame's size (up to a laptop screen)
            h, w = image.shape[:2]
            f = min(1.0, 1280 / max(w, 1), 800 / max(h, 1))
            cv2.resizeWindow(self.title, int(w * f), int(h * f))
            self.sized = True
        cv2.imshow(self.title, image)

    def key(self, wait_ms: int = 1) -> int:
        """The key pressed (-1 for none); closing the window counts as 'q'."""
        k = cv2.waitKeyEx(wait_ms)
        try:
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                return ord("q")
        except cv2.error:
            return ord("q")
        return key_code(k)

    def close(self):
        cv2.destroyWindow(self.title)
