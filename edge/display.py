"""The window, used only when a display exists: cv2.imshow aborts the whole process without
one, so the app checks first and otherwise runs headless."""
from __future__ import annotations

import os
import sys

import cv2


def display_unavailable_reason() -> str | None:
    """None when a window can be opened, else why not."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:") and line.split(":", 1)[1].strip().upper() in ("NONE", "NO", ""):
            return "this OpenCV has no GUI support (opencv-python-headless)"
    return None


KEY_QUIT = {ord("q"), ord("Q"), 27}  # q, Q, Esc


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
        k = cv2.waitKey(wait_ms)
        try:
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                return ord("q")
        except cv2.error:
            return ord("q")
        return k & 0xFF if k >= 0 else -1

    def close(self):
        cv2.destroyWindow(self.title)
