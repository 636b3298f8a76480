"""The learned reader: detect lines -> cut them straight -> read all in one call -> track.

Same interface as edge.pipeline.DigitReader (`process(frame) -> FrameResult`), so the app,
the bench and the development sets run either.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect import Line, TextDetector, cut_line
from edge.infer.recognizer import LineReading, LineRecognizer
from edge.normalize import as_gray_u8, ink_is_dark
from edge.track import Tracker
from edge.types import Digits, Frame, FrameResult, Number

CHARSETS = ("digits", "alnum")
SYMBOLS = ".,-/"
PICTURE_TILES = 3  # a picture gets a 3x3 closer look: sudoku photos' training split F1 0.83 (4x4: 0.83 at 17 runs)
EDGE_CONFIDENCE = 0.5  # trim_unsure's level where the detector's metadata has none
LINE_MARGIN = 0.15  # of a line's height, cut around it: the recognizer learned loose crops


@dataclass
class ReadChar:
    """One character read in a frame, with its box in frame pixels."""
    char: str
    confidence: float
    box: tuple[int, int, int, int]


def keep_chars(reading: LineReading, charset: str) -> list[int]:
    """Positions of the characters a charset keeps. 'digits': digits, and the symbols of a
    number ('.', ',', '-', '/') standing between two digits or a '-' right before one;
    letters are read and dropped. 'alnum': all."""
    chars = [c.char for c in reading.chars]
    if charset == "alnum":
        return list(range(len(chars)))
    keep = []
    for i, c in enumerate(chars):
        if c.isdigit():
            keep.append(i)
        elif c in SYMBOLS:
            before = i > 0 and chars[i - 1].isdigit()
            after = i + 1 < len(chars) and chars[i + 1].isdigit()
            if (before and after) or (c == "-" and after and not before):
                keep.append(i)
    return keep


def trim_unsure(reading: LineReading, keep: list[int], sure: float) -> list[int]:
    """Of the kept positions, drop symbols read with less than `sure` confidence anywhere, and
    characters under it at either end: stray marks beside a number (a panel's edge read as a
    '1', a gap between segments read as '.'). An unsure character inside stays: dropping it
    would change the number; the line's confidence says how sure it is."""
    keep = [i for i in keep if reading.chars[i].char not in SYMBOLS or reading.chars[i].confidence >= sure]
    if keep and reading.chars[keep[0]].confidence < sure:  # one at each end: a mark, not a number's digits
        keep = keep[1:]
    if keep and reading.chars[keep[-1]].confidence < sure:
        keep = keep[:-1]
    return keep


class LineReader:
    """Reads the numbers (or, with charset 'alnum', the codes) in frames."""

    def __init__(self, detector: TextDetector | None = None, recognizer: LineRecognizer | None = None,
                 charset: str = "digits", roi: tuple[int, int, int, int] | None = None,
                 min_confidence: float = 0.5, tracker: Tracker | None = None, keep_mask: bool = True,
                 tiles: int = 1, edge_confidence: float | None = None):
        if charset not in CHARSETS:
            raise ValueError(f"charset must be one of {', '.join(CHARSETS)}, got {charset!r}")
        self.detector = detector or TextDetector()
        self.recognizer = recognizer or LineRecognizer()
        self.charset = charset
        self.roi = roi
        self.min_confidence = min_confidence  # a line whose least sure kept character is below this is dropped
        self.tracker = tracker or Tracker()
        self.keep_mask = keep_mask
        self.tiles = tiles  # a closer look at large pictures (edge.detect.TextDetector.detect)
        # trim_unsure's level: as chosen with the detector on the tuning split (its metadata)
        self.edge_confidence = (float(self.detector.metadata.get("edge_confidence", EDGE_CONFIDENCE))
                                if edge_confidence is None else edge_confidence)
        self._last_source = None

    def process(self, frame: Frame) -> FrameResult:
        t0 = time.perf_counter()
        gray = as_gray_u8(frame.image)
        lines = self.detector.detect(gray, self.roi, self.tiles)
        t1 = time.perf_counter()
        cuts = [cut_line(gray, line, LINE_MARGIN) for line in lines]
        t2 = time.perf_counter()
        readings = self.recognizer.read(cuts)
        t3 = time.perf_counter()
        numbers = [n for n in (self._number(line, crop, r) for line, crop, r in zip(lines, cuts, readings)) if n]
        numbers.sort(key=lambda n: (n.box[1], n.box[0]))
        if frame.source != self._last_source:  # a new image of a folder is a new scene
            self.tracker.reset()
            self._last_source = frame.source
        events = self.tracker.update(numbers)
        digits = _concat([n.digits for n in numbers])
        t4 = time.perf_counter()
        mask = _lines_mask(gray.shape, lines) if self.keep_mask else None
        timings = {"detect": t1 - t0, "cut": t2 - t1, "recognize": t3 - t2, "group_track": t4 - t3}
        return FrameResult(frame, digits, numbers, {k: v * 1000 for k, v in timings.items()}, mask, events)

    def _number(self, line: Line, crop: np.ndarray, reading: LineReading) -> Number | None:
        keep = trim_unsure(reading, keep_chars(reading, self.charset), self.edge_confidence)
        if not keep or (self.charset == "digits" and not any(reading.chars[i].char.isdigit() for i in keep)):
            return None
        chars = [reading.chars[i] for i in keep]
        confidence = min(c.confidence for c in chars)
        if confidence < self.min_confidence:
            return None
        dark = bool(crop.size and ink_is_dark(crop))
        boxes = _char_boxes(line, crop, [(c.x0, c.x1) for c in chars], dark)
        read = [ReadChar(c.char, float(c.confidence), b) for c, b in zip(chars, boxes)]
        is_digit = [c.char.isdigit() for c in chars]
        digits = Digits(boxes=np.array([b for b, d in zip(boxes, is_digit) if d], np.int32).reshape(-1, 4),
                        dark_ink=np.full(sum(is_digit), dark),
                        labels=np.array([int(c.char) for c in chars if c.char.isdigit()], np.int16),
                        confidence=np.array([c.confidence for c in chars if c.char.isdigit()], np.float32))
        text = "".join(c.char for c in chars)
        return Number(text, float(confidence), line.box, digits, read=text, chars=read)


def _char_boxes(line: Line, crop: np.ndarray, spans: list[tuple[float, float]],
                dark_ink: bool | None = None) -> list[tuple[int, int, int, int]]:
    """Characters' spans along their cut line -> axis-aligned boxes in frame pixels (on a level
    line, the ink inside the span), each cut to the line's box (a span may reach into the margin).
    `dark_ink`: the crop's polarity when the caller knows it; else read from its border."""
    tl, tr, _, bl = line.corners.tolist()
    along, down = (tr[0] - tl[0], tr[1] - tl[1]), (bl[0] - tl[0], bl[1] - tl[1])
    length, height = math.hypot(*along), math.hypot(*down)
    outer = line.box
    pad = LINE_MARGIN * height
    boxes = []
    if abs(along[1]) <= 0.03 * length:  # a plain slice (edge.detect.cut_line): crop x is frame x from its left
        left, top = max(0, int(outer[0] - pad)), max(0, int(outer[1] - pad))
        crop_w = crop.shape[1] if crop.ndim == 2 else 0
        ink = _ink(crop, dark_ink) if crop_w and crop.size else None
        for x0, x1 in spans:
            bx0, bx1 = left + x0, left + min(x1, crop_w)
            box = int(round(bx0)), outer[1], max(1, int(round(bx1 - bx0))), outer[3]
            tight = _ink_box(ink, int(x0), int(math.ceil(min(x1, crop_w)))) if ink is not None else None
            if tight is not None:  # the glyph's own extent inside its span, not the line's height
                box = left + tight[0], top + tight[1], tight[2], tight[3]
            boxes.append(_clip(box, outer))
        return boxes
    ax, ay = along[0] / max(length, 1e-6), along[1] / max(length, 1e-6)
    sx, sy = tl[0] - ax * pad, tl[1] - ay * pad  # the warped cut's left edge
    for x0, x1 in spans:
        xs = (sx + ax * x0, sx + ax * x1, sx + ax * x1 + down[0], sx + ax * x0 + down[0])
        ys = (sy + ay * x0, sy + ay * x1, sy + ay * x1 + down[1], sy + ay * x0 + down[1])
        box = int(min(xs)), int(min(ys)), max(1, int(max(xs) - min(xs))), max(1, int(max(ys) - min(ys)))
        boxes.append(_clip(box, outer))
    return boxes


def _ink(crop: np.ndarray, dark_ink: bool | None = None) -> np.ndarray:
    """The crop's ink (Otsu's threshold, on the ink's side: given, or as its border says)."""
    dark = ink_is_dark(crop) if dark_ink is None else dark_ink
    kind = cv2.THRESH_BINARY_INV if dark else cv2.THRESH_BINARY
    return cv2.threshold(crop, 0, 1, kind | cv2.THRESH_OTSU)[1]


def _ink_box(ink: np.ndarray, x0: int, x1: int) -> tuple[int, int, int, int] | None:
    """The box (x, y, w, h, crop pixels) of the ink between columns x0 and x1, or None. A row
    or column counts when an eighth of the other side is inked: a stray speck does not stretch it."""
    part = ink[:, max(0, x0):max(x0 + 1, x1)]
    if part.size == 0:
        return None
    rows = np.flatnonzero(part.sum(axis=1) >= max(1, part.shape[1] // 8))
    cols = np.flatnonzero(part.sum(axis=0) >= max(1, part.shape[0] // 8))
    if not rows.size or not cols.size:
        return None
    return max(0, x0) + int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _clip(box, outer) -> tuple[int, int, int, int]:
    """box cut to lie inside outer (both x, y, w, h)."""
    x0, y0 = max(box[0], outer[0]), max(box[1], outer[1])
    x1, y1 = min(box[0] + box[2], outer[0] + outer[2]), min(box[1] + box[3], outer[1] + outer[3])
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def _concat(parts: list[Digits]) -> Digits:
    if not parts:
        return Digits()
    return Digits(boxes=np.concatenate([p.boxes for p in parts]), dark_ink=np.concatenate([p.dark_ink for p in parts]),
                  labels=np.concatenate([p.labels for p in parts]),
                  confidence=np.concatenate([p.confidence for p in parts]))


def _lines_mask(shape, lines: list[Line]) -> np.ndarray:
    """The detected lines filled in, for the debug view."""
    mask = np.zeros(shape, np.uint8)
    for line in lines:
        cv2.fillPoly(mask, [np.round(line.corners).astype(np.int32)], 255)
    return mask
