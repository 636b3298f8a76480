"""Overlay drawing, kept apart from the models: reads a FrameResult, returns a BGR image."""
from __future__ import annotations

import cv2
import numpy as np

from edge.normalize import as_gray_u8
from edge.types import FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
STABLE = (60, 200, 60)  # BGR
TENTATIVE = (0, 190, 255)
DIGIT_BOX = (255, 160, 0)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any frame -> 8-bit BGR for display and video."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8:
        return a.copy()
    if a.ndim == 3 and a.shape[2] == 4 and a.dtype == np.uint8:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    gray = as_gray_u8(a) if a.ndim != 3 or a.shape[2] != 3 else None
    if gray is None:  # 3-channel but not uint8
        return np.stack([as_gray_u8(a[..., i]) for i in range(3)], axis=2)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def _label(img, text, org, colour, scale):
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = org
    y = max(h + base, y)
    cv2.rectangle(img, (x, y - h - base), (x + w + 2, y + 1), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 1, y - base + 1), FONT, scale, colour, 1, cv2.LINE_AA)


def draw_result(result: FrameResult, fps: float | None = None, debug: bool = False) -> np.ndarray:
    """Boxes, each digit with its confidence, the numbers, FPS and latency."""
    if debug and result.mask is not None:
        img = cv2.cvtColor(result.mask, cv2.COLOR_GRAY2BGR)
    else:
        img = to_bgr(result.frame.image)
    scale = max(0.4, min(img.shape[:2]) / 900)
    for number in result.numbers:
        colour = STABLE if number.stable else TENTATIVE
        for (x, y, w, h), d, c in zip(number.digits.boxes, number.digits.labels, number.digits.confidence):
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), DIGIT_BOX, 1)
            _label(img, f"{d} {c:.2f}", (int(x), int(y + h + 14 * scale * 2)), DIGIT_BOX, scale * 0.8)
        x, y, w, h = number.box
        cv2.rectangle(img, (x - 3, y - 3), (x + w + 3, y + h + 3), colour, 2)
        _label(img, f"{number.text} ({number.confidence:.2f})", (x - 3, y - 6), colour, scale * 1.4)
    status = f"{result.latency_ms:.1f} ms"
    if fps:
        status = f"{fps:.1f} FPS  " + status
    _label(img, status, (6, int(22 * scale * 1.5)), (255, 255, 255), scale * 1.2)
    return img
