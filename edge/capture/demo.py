"""A built-in synthetic camera: a sheet of paper with handwritten-style and printed numbers
and a seven-segment display, which drifts, tilts and changes lighting over time.

Used when no camera is found, by the tests and by the benchmark. Needs no data files.
"""
from __future__ import annotations

import math
import time

import cv2
import numpy as np

from edge import CAPTURE_FPS, CAPTURE_SIZE
from edge.capture.base import FrameSource, Pacer
from edge.types import Frame

SHEET_W, SHEET_H = 1000, 700
# (text, style, x, y, digit height) on the sheet; style: script | print | segments
CONTENT = [
    ("4821", "script", 90, 190, 92),
    ("3705", "print", 560, 180, 84),
    ("96", "script", 110, 430, 110),
    ("1258", "segments", 480, 480, 120),
]
TRUTH = [text for text, *_ in CONTENT]

_SEGMENTS = {"a": ((0, 0), (1, 0)), "b": ((1, 0), (1, 1)), "c": ((1, 1), (1, 2)), "d": ((0, 2), (1, 2)),
             "e": ((0, 1), (0, 2)), "f": ((0, 0), (0, 1)), "g": ((0, 1), (1, 1))}
_LIT = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def _draw_text(sheet, text, style, x, y, height, rng):
    if style == "segments":
        w, stroke = int(height * 0.5), max(3, height // 9)
        cv2.rectangle(sheet, (x - 40, y - height - 35), (x + len(text) * int(w * 1.6) + 30, y + 35), (25, 30, 25), -1)
        for i, ch in enumerate(text):
            ox = x + i * int(w * 1.6)
            for s in _LIT[int(ch)]:
                (x0, y0), (x1, y1) = _SEGMENTS[s]
                p0 = (ox + int(x0 * w + (2 - y0) * height * 0.06), y - height + int(y0 * height / 2))
                p1 = (ox + int(x1 * w + (2 - y1) * height * 0.06), y - height + int(y1 * height / 2))
                cv2.line(sheet, p0, p1, (90, 235, 120), stroke, cv2.LINE_AA)
        return
    font = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX if style == "script" else cv2.FONT_HERSHEY_DUPLEX
    thickness = max(2, height // 12) if style == "script" else max(3, height // 9)
    scale = cv2.getFontScaleFromHeight(font, height, thickness)
    colour = (120, 60, 20) if style == "script" else (20, 20, 20)  # blue pen, black print
    cx = x
    for ch in text:
        (cw, _), _ = cv2.getTextSize(ch, font, scale, thickness)
        glyph = np.zeros((height * 2, cw + height), np.uint8)
        cv2.putText(glyph, ch, (height // 2, int(height * 1.5)), font, scale, 255, thickness, cv2.LINE_AA)
        if style == "script":  # a hand is never steady: tilt each digit a little
            m = cv2.getRotationMatrix2D((glyph.shape[1] / 2, glyph.shape[0] / 2), rng.uniform(-8, 8), 1)
            glyph = cv2.warpAffine(glyph, m, glyph.shape[::-1])
        top, left = y - int(height * 1.5), cx - height // 2
        region = sheet[top:top + glyph.shape[0], left:left + glyph.shape[1]]
        alpha = (glyph[:region.shape[0], :region.shape[1]].astype(np.float32) / 255)[..., None]
        region[:] = (region * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)
        cx += cw + int(height * (0.25 if style == "script" else 0.15))


def render_sheet(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sheet = np.full((SHEET_H, SHEET_W, 3), (228, 236, 240), np.uint8)
    grain = rng.normal(0, 4, (SHEET_H // 4, SHEET_W // 4)).astype(np.float32)
    sheet = np.clip(sheet + cv2.resize(grain, (SHEET_W, SHEET_H))[..., None], 0, 255).astype(np.uint8)
    for y in range(60, SHEET_H, 70):  # faint ruled lines, as on a notepad
        cv2.line(sheet, (0, y), (SHEET_W, y), (215, 200, 190), 1)
    for text, style, x, y, h in CONTENT:
        _draw_text(sheet, text, style, x, y, h, rng)
    return sheet


class DemoSource(FrameSource):
    """The synthetic scene, paced at `fps` (0 = as fast as asked) for `frames` frames
    (None = forever)."""

    name = "demo"
    truth = TRUTH

    def __init__(self, width: int = 0, height: int = 0, fps: float = CAPTURE_FPS, frames: int | None = None,
                 seed: int = 7):
        self.width, self.height = width or CAPTURE_SIZE[0], height or CAPTURE_SIZE[1]  # 0: the usual size
        self.fps, self.total = fps, frames
        self.size = (self.width, self.height)
        self.sheet = render_sheet(seed)
        rng = np.random.default_rng(seed)
        noise = rng.normal(0, 3, (self.height + 64, self.width + 64, 1))
        self._noise_up = np.repeat(np.clip(noise, 0, 255), 3, axis=2).astype(np.uint8)
        self._noise_down = np.repeat(np.clip(-noise, 0, 255), 3, axis=2).astype(np.uint8)
        # the light is smooth: computed on a coarse grid, then scaled up
        self._gx = np.linspace(-1, 1, 32, dtype=np.float32)[None, :]
        self._gy = np.linspace(-1, 1, 24, dtype=np.float32)[:, None]

    def render(self, index: int) -> np.ndarray:
        t = index / 30.0
        w, h = self.width, self.height
        # The sheet fills ~85% of the view, drifts, rotates a few degrees and tilts.
        scale = 0.85 * min(w / SHEET_W, h / SHEET_H) * (1 + 0.05 * math.sin(t * 0.7))
        angle = math.radians(4 * math.sin(t * 0.5))
        cx = w / 2 + 0.04 * w * math.sin(t * 0.9)
        cy = h / 2 + 0.04 * h * math.cos(t * 0.6)
        tilt = 0.06 * math.sin(t * 0.4)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * [SHEET_W / 2, SHEET_H / 2]
        corners[:, 0] *= 1 + tilt * corners[:, 1] / (SHEET_H / 2)  # keystone
        c, s = math.cos(angle), math.sin(angle)
        dst = corners @ np.array([[c, s], [-s, c]], np.float32) * scale + [cx, cy]
        src = np.array([[0, 0], [SHEET_W, 0], [SHEET_W, SHEET_H], [0, SHEET_H]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
        frame = cv2.warpPerspective(self.sheet, m, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(70, 80, 95))
        # Light from one side that slowly swings across, plus sensor noise.
        light = 0.85 + 0.2 * (math.sin(t * 0.3) * self._gx + 0.5 * math.cos(t * 0.45) * self._gy)
        light = cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)
        frame = cv2.multiply(frame, cv2.merge([light] * 3), dtype=cv2.CV_8U)
        oy, ox = index % 64, (index * 7) % 64
        frame = cv2.add(frame, self._noise_up[oy:oy + h, ox:ox + w])
        return cv2.subtract(frame, self._noise_down[oy:oy + h, ox:ox + w])

    def __iter__(self):
        pacer = Pacer(self.fps)
        index = 0
        while self.total is None or index < self.total:
            if not pacer.due():
                yield None  # not yet: the caller keeps its window and signals alive
                continue
            yield Frame(self.render(index), index, time.time(), self.name)
            index += 1
