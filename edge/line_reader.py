"""The reader: detect lines -> cut them straight -> read all in one call -> track.

`process(frame) -> FrameResult`, as the app, the web view, the bench and the development
sets call it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from edge.boxes import cover_matrix
from edge.detect import CutPlace, Line, TextDetector, cut_at, cut_place
from edge.group import reading_order
from edge.infer.recognizer import LineReading, LineRecognizer
from edge.lines import line_ink_is_dark, normalize_line
from edge.normalize import NO_IMAGE, as_gray_u8
from edge.track import Tracker
from edge.types import Digits, Frame, FrameResult, Number

CHARSETS = ("digits", "alnum")
SYMBOLS = ".,-/"
PICTURE_TILES = 3  # a picture gets a 3x3 closer look: sudoku photos' training split F1 0.83 (4x4: 0.83 at 17 runs)
PICTURE_MAX_LINES = 64  # lines a picture's detector keeps (read once): at 32 a page's text crowded out grid digits
EDGE_CONFIDENCE = 0.5  # trim_unsure's level where the detector's metadata has none
MIN_CONFIDENCE = 0.5  # a line's least sure kept character, below which it is dropped, where the metadata has none
LINE_MARGIN = 0.15  # of a line's height, cut around it: the recognizer learned loose crops
PICTURE_MARGIN = 0.05  # a picture's lines are also cut this tight, the likelier reading kept (tuning: +0.05)


@dataclass
class ReadChar:
    """One character read in a frame, with its box in frame pixels."""
    char: str
    confidence: float
    box: tuple[int, int, int, int]


def keep_chars(reading: LineReading, charset: str) -> list[int]:
    """Positions of the characters a charset keeps. 'digits': digits, and the symbols of a
    number ('.', ',', '-', '/') standing between two digits or a '-' right before one (not after a letter);
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
            lettered = i > 0 and chars[i - 1].isalpha()  # 'AB-1234': a plate's dash, no minus sign
            if (before and after) or (c == "-" and after and not before and not lettered):
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
                 min_confidence: float | None = None, tracker: Tracker | None = None, keep_mask: bool = True,
                 tiles: int | None = None, edge_confidence: float | None = None, still: bool = False):
        if charset not in CHARSETS:
            raise ValueError(f"charset must be one of {', '.join(CHARSETS)}, got {charset!r}")
        self.detector = detector or TextDetector()
        self.recognizer = recognizer or LineRecognizer()
        self.charset = charset
        self.roi = roi
        self.tracker = tracker or Tracker()
        self.keep_mask = keep_mask
        self.tiles = tiles  # a closer look at large pictures (TextDetector.detect); None: as closer_look says
        self.still = still  # every frame a picture of its own, read once: readings final, a closer look (PICTURE_*)
        # trim_unsure's level and the least line confidence: as chosen with the detector on the tuning split
        self.edge_confidence = (float(self.detector.metadata.get("edge_confidence", EDGE_CONFIDENCE))
                                if edge_confidence is None else edge_confidence)
        self.min_confidence = (float(self.detector.metadata.get("min_confidence", MIN_CONFIDENCE))
                               if min_confidence is None else min_confidence)
        self._last_source = None
        self._images = 0  # bare images processed: their frame index

    def closer_look(self, still: bool) -> tuple[int, int | None]:
        """(tiles, lines kept or None for the detector's own). A picture, read once, gets
        PICTURE_TILES (unless tiles were given) and at least PICTURE_MAX_LINES."""
        if not still:
            return self.tiles or 1, None
        return self.tiles or PICTURE_TILES, max(PICTURE_MAX_LINES, self.detector.max_lines)

    def process(self, frame: Frame | np.ndarray) -> FrameResult:
        """One frame's readings. A bare image (e.g. cv2.imread's) is read as a picture of its own:
        no votes with the ones before, its readings final (as with still=True)."""
        still = self.still or not isinstance(frame, Frame)
        if frame is None:
            raise TypeError(NO_IMAGE)
        if not isinstance(frame, Frame):
            frame = Frame(np.asarray(frame), self._images, time.time(), "image")
            self._images += 1
        t0 = time.perf_counter()
        gray = as_gray_u8(frame.image)
        tiles, most = self.closer_look(still)
        lines = self.detector.detect(gray, self.roi, tiles, **({"max_lines": most} if most else {}))
        t1 = time.perf_counter()
        places = [cut_place(line, LINE_MARGIN) for line in lines]
        if still:  # a picture is read once, so it can pay for a second, tighter cut of each line
            places += [cut_place(line, PICTURE_MARGIN) for line in lines]
        cuts = [cut_at(gray, place) for place in places]
        t2 = time.perf_counter()
        readings = self.recognizer.read(cuts)
        if still:
            n = len(lines)
            for i, tight in enumerate(readings[n:]):
                if tight.score > readings[i].score:
                    readings[i], cuts[i], places[i] = tight, cuts[n + i], places[n + i]
            del readings[n:], cuts[n:], places[n:]
        t3 = time.perf_counter()
        bounds = (0, 0, gray.shape[1], gray.shape[0])
        if self.roi is not None:  # boxes, like readings, end at its edge
            bounds = _clip(self.roi, bounds)
        numbers = [n for args in zip(lines, cuts, readings, places) for n in self._numbers(*args, bounds)]
        numbers = reading_order(_one_per_place(numbers))
        t4 = time.perf_counter()
        if still or (frame.source, frame.scene) != self._last_source:
            self.tracker.reset()  # a picture of its own, or a new image of a folder: a new scene
        self._last_source = (frame.source, frame.scene)
        events = self.tracker.update(numbers)
        if still:  # nothing to vote with: what it reads is the reading
            for number in numbers:
                number.stable, number.text = True, number.read
            events = list(numbers)
        digits = _concat([n.digits for n in numbers])
        t5 = time.perf_counter()
        mask = _lines_mask(gray.shape, lines) if self.keep_mask else None
        timings = {"detect": t1 - t0, "cut": t2 - t1, "recognize": t3 - t2, "chars": t4 - t3, "track": t5 - t4}
        return FrameResult(frame, digits, numbers, {k: v * 1000 for k, v in timings.items()}, mask, events)

    def _numbers(self, line: Line, crop: np.ndarray, reading: LineReading, place: CutPlace | None,
                 bounds: tuple) -> list[Number]:
        """A line's numbers: its kept characters, parted where a dropped letter stood between
        them ('A1B2' holds 1 and 2, not 12), each kept only at the least confidence or above."""
        keep = trim_unsure(reading, keep_chars(reading, self.charset), self.edge_confidence)
        lettered = (self.charset == "digits" and not reading.text.isdigit()  # most lines: digits alone
                    and any(c.char.isalpha() for c in reading.chars))
        groups = _parted(reading, keep) if lettered else [keep] if keep else []
        groups = [g for g in groups if min(reading.chars[i].confidence for i in g) >= self.min_confidence
                  and (self.charset != "digits" or any(reading.chars[i].char.isdigit() for i in g))]
        if not groups:
            return []
        line_box = _clip(line.box, bounds)  # a tilted line's corners may lie outside the frame
        kept = [i for g in groups for i in g]
        boxes = _char_boxes(line, crop, [(reading.chars[i].x0, reading.chars[i].x1) for i in kept],
                            reading.line, line_box, place=place, chars="".join(reading.chars[i].char for i in kept))
        numbers, start = [], 0
        for g in groups:
            numbers.append(_number([reading.chars[i] for i in g], boxes[start:start + len(g)], line_box))
            start += len(g)
        return numbers


ONE_PLACE = 0.5  # of the smaller box: numbers overlapping more are one place read twice (a tile and the whole view)


def _one_per_place(numbers: list[Number]) -> list[Number]:
    """The surest number of each place: a picture's tiles and its whole view can each read one
    place (sudoku training-split photos: false readings 137 -> 66)."""
    if len(numbers) < 2:
        return numbers
    boxes = [n.box for n in numbers]
    twice = cover_matrix(boxes, boxes) > ONE_PLACE
    np.fill_diagonal(twice, False)
    if not twice.any():
        return numbers
    kept: list[int] = []
    for i in sorted(range(len(numbers)), key=lambda i: -numbers[i].confidence):
        if not twice[i, kept].any():
            kept.append(i)
    return [numbers[i] for i in sorted(kept)]


def _parted(reading: LineReading, keep: list[int]) -> list[list[int]]:
    """Kept positions in runs, parted wherever a letter stands between two of them."""
    groups: list[list[int]] = []
    for i in keep:
        if groups and not any(c.char.isalpha() for c in reading.chars[groups[-1][-1] + 1:i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _number(chars: list, boxes: list, line_box: tuple) -> Number:
    """A number tracked by its stretch of its line (edge.track matches on Number.line_box): the
    line's height, steadier than its glyphs', across its characters, so that two numbers of
    one line, or a unit read in one frame and not the next, do not move it."""
    box = _union(boxes)
    line_box = (box[0], line_box[1], box[2], line_box[3])
    read = [ReadChar(c.char, float(c.confidence), b) for c, b in zip(chars, boxes)]
    is_digit = [c.char.isdigit() for c in chars]
    digits = Digits(boxes=np.array([b for b, d in zip(boxes, is_digit) if d], np.int32).reshape(-1, 4),
                    labels=np.array([int(c.char) for c in chars if c.char.isdigit()], np.int16),
                    confidence=np.array([c.confidence for c in chars if c.char.isdigit()], np.float32))
    text = "".join(c.char for c in chars)
    confidence = float(min(c.confidence for c in chars))
    return Number(text, confidence, box, digits, read=text, chars=read, line_box=line_box)


RULE_LENGTH = 1.5  # lines long: an ink run this long is a rule (underline, frame), not a stroke of a glyph
GLYPH_HEIGHT = 0.4  # of the line's height: ink blobs lower than this (dots, specks, texture) box no character
SMALL_MARKS = ".,"  # ... but a point or a comma, boxed by the largest such blob in its span


def _char_boxes(line: Line, crop: np.ndarray, spans: list[tuple[float, float]], small: np.ndarray | None = None,
                outer: tuple | None = None, margin: float = LINE_MARGIN, place: CutPlace | None = None,
                chars: str = "") -> list[tuple[int, int, int, int]]:
    """Characters' spans along their cut line -> axis-aligned boxes in frame pixels, each cut
    to the line's box: the ink blobs centred in a span (its columns of a blob of touching
    glyphs), else the ink between its columns, else the span's band of the line. Boxed in the
    straightened cut, then mapped back: a tilted line's glyphs are boxed as tightly as a level one's.
    `small`: the cut as the recognizer read it (edge.lines.normalize_line), made here if not given;
    `outer`: the box they are cut to (default: the line's); `place`: where it was cut from (else
    made here with `margin`); `chars`: the spans' characters, so that a point or a comma is boxed
    by its own small blob, not by the ink of its neighbours' columns."""
    place = place or cut_place(line, margin)
    if place is None:  # nothing was cut, so nothing was read
        return [_clip(line.box, line.box if outer is None else outer) for _ in spans]
    (ox, oy), (ax, ay), (dx, dy) = place.origin, place.along, place.across
    height, margin = place.height, place.margin
    pad = margin * height
    inked = [None] * len(spans)
    if crop.ndim == 2 and crop.size:
        small = normalize_line(crop) if small is None else small  # boxed at the recognizer's height
        sx, sy = small.shape[1] / crop.shape[1], small.shape[0] / crop.shape[0]
        ink, labels, tall, low = _glyph_blobs(small, height * sy, height * sx, margin)
        spans_s = [(x0 * sx, x1 * sx) for x0, x1 in spans]
        found = _span_blobs(labels, tall, spans_s)
        for j, char in enumerate(chars):
            if char in SMALL_MARKS and found[j] is None:
                found[j] = _small_blob(low, *spans_s[j])
        found = [box or _span_ink(ink, *span) for box, span in zip(found, spans_s)]
        inked = [b and (b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy) for b in found]
    boxes = []
    for (x0, x1), box in zip(spans, inked):
        u, v, w, h = box or (x0, pad, max(1.0, x1 - x0), height)
        if place.level:
            box = round(ox + u), round(oy + v), max(1, round(w)), max(1, round(h))
        else:  # crop (u, v) lies at o + u a + v d: the box of its four corners
            xs = [ox + ax * uu + dx * vv for uu in (u, u + w) for vv in (v, v + h)]
            ys = [oy + ay * uu + dy * vv for uu in (u, u + w) for vv in (v, v + h)]
            box = (int(min(xs)), int(min(ys)), max(1, int(round(max(xs) - min(xs)))),
                   max(1, int(round(max(ys) - min(ys)))))
        boxes.append(_clip(box, line.box if outer is None else outer))
    return boxes


def _inside_margin(crop: np.ndarray, margin: float = LINE_MARGIN) -> np.ndarray:
    """A cut line without the margin it was cut with (its neighbours' pixels: a plate's frame).
    The margin is taken as whole on every side: at a frame's edge a little glyph goes with it."""
    m = math.ceil(crop.shape[0] * margin / (1 + 2 * margin))
    return crop[m:crop.shape[0] - m, m:crop.shape[1] - m] if min(crop.shape[:2]) > 2 * m + 2 else crop


def _glyph_blobs(crop: np.ndarray, height: float, height_across: float, margin: float = LINE_MARGIN):
    """The crop's ink (Otsu's threshold) without its rules, its blob labels, the blobs at least
    GLYPH_HEIGHT of the line tall as (label, x, y, w, h), and the others as (x, y, w, h, area).
    `height_across`: the line's height in the crop's columns (a line squeezed into the widest
    bucket has fewer); `margin`: the cut's."""
    kind = cv2.THRESH_BINARY_INV if line_ink_is_dark(_inside_margin(crop, margin)) else cv2.THRESH_BINARY
    ink = cv2.threshold(crop, 0, 1, kind | cv2.THRESH_OTSU)[1]
    run = int(RULE_LENGTH * height_across)
    if 1 < run < ink.shape[1] and cv2.reduce(ink, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max() >= run:
        # rules drop out (a glyph's widest stroke is shorter)
        ink = ink - cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1)))
    # 16-bit labels: the same blobs, in ~60% of the time on a line this small
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_16U)
    blobs, least = stats.tolist()[1:], GLYPH_HEIGHT * height  # the background's row first
    tall = [(i, *s[:4]) for i, s in enumerate(blobs, 1) if s[3] >= least]
    return ink, labels, tall, [s for s in blobs if s[3] < least]


def _span_blobs(labels: np.ndarray, tall: list, spans: list[tuple[float, float]]) -> list[tuple | None]:
    """Each span's box (crop pixels) of the tall blobs centred in it, or None. A blob across
    two or more spans' centres holds touching glyphs: each of those spans takes its own columns of it."""
    centres = [(x0 + x1) / 2 for x0, x1 in spans]
    parts: list[list] = [[] for _ in spans]
    for label, x, y, w, h in tall:
        across = [j for j, c in enumerate(centres) if x <= c < x + w]
        home = next((j for j, (x0, x1) in enumerate(spans) if x0 <= x + w / 2 < x1), None)
        if len(across) > 1:  # touching glyphs
            for j in across:
                a, z = max(x, int(spans[j][0])), min(x + w, int(math.ceil(spans[j][1])))
                rows = np.flatnonzero((labels[:, a:z] == label).any(axis=1)) if z > a else []
                if len(rows):
                    parts[j].append((a, int(rows[0]), z, int(rows[-1]) + 1))
        elif home is not None and across in ([], [home]):
            parts[home].append((x, y, x + w, y + h))
    boxes = []
    for found in parts:
        if not found:
            boxes.append(None)
            continue
        left, top = min(p[0] for p in found), min(p[1] for p in found)
        boxes.append((left, top, max(p[2] for p in found) - left, max(p[3] for p in found) - top))
    return boxes


def _small_blob(low: list, x0: float, x1: float) -> tuple[int, int, int, int] | None:
    """The box (crop pixels) of the largest of the `low` blobs (x, y, w, h, area: lower than a
    glyph) centred between columns x0 and x1 (a point or a comma), or None."""
    inside = [b for b in low if x0 <= b[0] + b[2] / 2 < x1]
    if not inside:
        return None
    x, y, w, h, _ = max(inside, key=lambda b: b[4])
    return x, y, w, h


def _span_ink(ink: np.ndarray, x0: float, x1: float) -> tuple[int, int, int, int] | None:
    """The box (crop pixels) of the ink between columns x0 and x1, or None. A row or column
    counts when an eighth of the other side is inked: a stray speck does not stretch it."""
    part = ink[:, max(0, int(x0)):max(int(x0) + 1, int(math.ceil(x1)))]
    if part.size == 0:
        return None
    rows = np.flatnonzero(part.sum(axis=1) >= max(1, part.shape[1] // 8))
    cols = np.flatnonzero(part.sum(axis=0) >= max(1, part.shape[0] // 8))
    if not rows.size or not cols.size:
        return None
    return max(0, int(x0)) + int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _union(boxes) -> tuple[int, int, int, int]:
    """The x, y, w, h around all of boxes (a number's: its characters', not its line's)."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    return x0, y0, max(b[0] + b[2] for b in boxes) - x0, max(b[1] + b[3] for b in boxes) - y0


def _clip(box, outer) -> tuple[int, int, int, int]:
    """box cut to lie inside outer (both x, y, w, h)."""
    x0, y0 = max(box[0], outer[0]), max(box[1], outer[1])
    x1, y1 = min(box[0] + box[2], outer[0] + outer[2]), min(box[1] + box[3], outer[1] + outer[3])
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def _concat(parts: list[Digits]) -> Digits:
    if not parts:
        return Digits()
    return Digits(boxes=np.concatenate([p.boxes for p in parts]), labels=np.concatenate([p.labels for p in parts]),
                  confidence=np.concatenate([p.confidence for p in parts]))


def _lines_mask(shape, lines: list[Line]) -> np.ndarray:
    """The detected lines filled in, for the debug view."""
    mask = np.zeros(shape, np.uint8)
    for line in lines:
        cv2.fillPoly(mask, [np.round(line.corners).astype(np.int32)], 255)
    return mask
