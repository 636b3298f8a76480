"""Overlay drawing, kept apart from the models: reads a FrameResult, returns a BGR image.

Labels are laid out before anything is drawn (`layout`), so they can be kept out of each
other's way: each number's label sits outside its box, sized by its digits' height; a
number's per-digit confidences are dropped when any of them would collide; the status box
goes to a corner with no reading under it (and is translucent)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.normalize import as_gray_u8, to_u8
from edge.types import FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_PX = 22  # FONT's cap height in pixels at scale 1
STABLE = (60, 200, 60)  # BGR
TENTATIVE = (0, 190, 255)
DIGIT_BOX = (255, 160, 0)
ROI = (255, 0, 255)
STATUS = (255, 255, 255)
VIEW_PX = 480  # a frame's shorter side at which labels have their usual sizes (a window shows larger frames shrunk)
MIN_STATUS_SCALE = 0.25  # the FPS line no smaller than this on a tiny frame


@dataclass
class Label:
    text: str
    rect: tuple[int, int, int, int]  # x, y, w, h of its background
    scale: float
    colour: tuple[int, int, int]
    kind: str  # "number", "digit" or "status"


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any frame -> 8-bit BGR for display and video."""
    a = np.asarray(image)
    if a.size == 0:
        return np.zeros(as_gray_u8(a).shape + (3,), np.uint8)
    if a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8:
        return a.copy()
    if a.ndim == 3 and a.shape[2] == 4 and a.dtype == np.uint8:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    if a.ndim == 3 and a.shape[2] == 3:  # colour, not uint8: one scale for all three channels
        return np.ascontiguousarray(to_u8(a))
    gray = as_gray_u8(a)  # a scalar, a batch or text: an empty image
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if gray.size else np.zeros(gray.shape + (3,), np.uint8)


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _text_rect(text, scale, x, y_bottom):
    """The background rectangle of `text` whose bottom edge is at y_bottom."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    return int(x), int(y_bottom - h - base - 2), int(w + 4), int(h + base + 3)


def _fits(rect, shape, taken) -> bool:
    x, y, w, h = rect
    inside = x >= 0 and y >= 0 and x + w <= shape[1] and y + h <= shape[0]
    return inside and not any(_overlaps(rect, t) for t in taken)


def _clamp(rect, shape):
    x, y, w, h = rect
    return min(max(0, x), max(0, shape[1] - w)), min(max(0, y), max(0, shape[0] - h)), w, h


def number_text(number) -> str:
    """The reading and its confidence; this frame's characters too when they differ from the vote."""
    read = f" (read {number.read})" if number.read != number.text else ""
    return f"{number.text}{read} {number.confidence:.2f}"


def _number_spots(box, text, scale, shape):
    """Places for a number's label outside its box: above, below (each also slid to stay in
    the frame), right, left."""
    x, y, w, h = box
    r = _text_rect(text, scale, x - 3, y - 5)
    tw, th = r[2], r[3]
    slid = min(max(0, x - 3), max(0, shape[1] - tw))
    return [(x - 3, r[1], tw, th), (slid, r[1], tw, th), (x - 3, y + h + 5, tw, th), (slid, y + h + 5, tw, th),
            (x + w + 6, y, tw, th), (x - 6 - tw, y, tw, th)]


def glyphs(number) -> list[tuple[tuple[int, int, int, int], float]]:
    """(box, confidence) of each letter and digit a number shows: a plate's letters too
    (`chars`), not its separators; `digits` when it carries no characters."""
    if number.chars:
        return [(tuple(int(v) for v in c.box), float(c.confidence)) for c in number.chars if c.char.isalnum()]
    return [(tuple(int(v) for v in b), float(c)) for b, c in zip(number.digits.boxes.tolist(),
                                                                  number.digits.confidence.tolist())]


def layout(result: FrameResult, shape, fps: float | None = None) -> list[Label]:
    """Where every label goes, kept off the characters and each other."""
    taken = [b for n in result.numbers for b, _ in glyphs(n)]
    taken += [(n.box[0] - 3, n.box[1] - 3, n.box[2] + 6, n.box[3] + 6) for n in result.numbers]
    labels = []
    grow = max(1.0, min(shape[:2]) / VIEW_PX)  # a big frame is seen shrunk: its labels' caps grow with it
    for n in result.numbers:  # the numbers' labels first: they matter most
        text = number_text(n)
        rect, scale = None, float(np.clip(0.3 * n.box[3] / FONT_PX, 0.3, 1.2 * grow))
        for shrink in (1.0, 0.75, 0.55):  # the digits' size, smaller only where that is crowded
            rect = next((r for r in _number_spots(n.box, text, scale * shrink, shape) if _fits(r, shape, taken)), None)
            if rect is not None:
                scale *= shrink
                break
        if rect is None:  # nowhere free: above the box, inside the frame
            rect = _clamp(_text_rect(text, scale, n.box[0] - 3, n.box[1] - 5), shape)
        taken.append(rect)
        labels.append(Label(text, rect, scale, STABLE if n.stable else TENTATIVE, "number"))
    for n in result.numbers:  # each character's confidence under its number, only if all of them fit
        mine = []
        below = n.box[1] + n.box[3] + 4
        for (x, y, w, h), c in glyphs(n):
            text = f"{c:.2f}".removeprefix("0")  # ".97": narrow, so neighbours' labels stay apart
            scale = float(np.clip(0.22 * h / FONT_PX, 0.25, 0.6 * grow))
            r = _text_rect(text, scale, 0, 0)
            rect = (int(x + w / 2 - r[2] / 2), below, r[2], r[3])
            if not _fits(rect, shape, taken + [m.rect for m in mine]):
                mine = []
                break
            mine.append(Label(text, rect, scale, DIGIT_BOX, "digit"))
        taken += [m.rect for m in mine]
        labels += mine
    status = f"{result.latency_ms:.1f} ms" if not fps else f"{fps:.1f} FPS  {result.latency_ms:.1f} ms"
    scale = max(0.4, min(shape[:2]) / 900) * 1.2
    r = _text_rect(status, scale, 0, 0)
    while r[2] > shape[1] - 8 and scale > MIN_STATUS_SCALE:  # a tiny frame: the status smaller, to fit its width
        scale = max(MIN_STATUS_SCALE, scale * 0.8)
        r = _text_rect(status, scale, 0, 0)
    corners = [(4, 4), (shape[1] - r[2] - 4, 4), (4, shape[0] - r[3] - 4), (shape[1] - r[2] - 4, shape[0] - r[3] - 4)]
    readings = taken  # digits, numbers and their labels
    spots = [(cx, cy, r[2], r[3]) for cx, cy in corners]
    rect = next((s for s in spots if _fits(s, shape, readings)), None)
    if rect is None:  # every corner covers a reading: the one covering least (drawn translucent)
        rect = min(spots, key=lambda s: sum(_overlaps(s, t) for t in readings))
    labels.append(Label(status, rect, scale, STATUS, "status"))
    return labels


def _draw_label(img, label: Label, alpha: float = 1.0):
    x, y, w, h = label.rect
    x0, y0, x1, y1 = max(0, x), max(0, y), min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        region = img[y0:y1, x0:x1]
        region[:] = (region * (1 - alpha)).astype(np.uint8)  # darken what is under it
    (_, th), base = cv2.getTextSize(label.text, FONT, label.scale, 1)
    cv2.putText(img, label.text, (x + 2, y + h - base - 1), FONT, label.scale, label.colour, 1, cv2.LINE_AA)


def draw_result(result: FrameResult, fps: float | None = None, debug: bool = False, roi=None) -> np.ndarray:
    """Boxes, each letter and digit with its confidence, the numbers, the ROI, FPS and latency."""
    img = to_bgr(result.frame.image)
    if img.size == 0:  # empty, or no image at all (a scalar, text): nothing to draw on
        return img
    if debug and result.mask is not None:
        img = cv2.cvtColor(result.mask, cv2.COLOR_GRAY2BGR)
    if roi is not None:
        x, y, w, h = (int(v) for v in roi)
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), ROI, 1)
    for number in result.numbers:
        colour = STABLE if number.stable else TENTATIVE
        for (x, y, w, h), _ in glyphs(number):
            cv2.rectangle(img, (x, y), (x + w, y + h), DIGIT_BOX, 1)
        x, y, w, h = number.box  # this frame's characters' box, whatever the vote says
        cv2.rectangle(img, (x - 3, y - 3), (x + w + 3, y + h + 3), colour, 2)
    for label in layout(result, img.shape, fps):
        _draw_label(img, label, 0.5 if label.kind == "status" else 0.8)
    return img
