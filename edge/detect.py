"""The text-line detector: a grey frame (or its ROI) -> the lines in it, as rotated boxes.

The int8 model maps the frame scaled into INPUT_SIZE to a half-resolution map of each line's
core (the middle CORE_HEIGHT of its height, its ends pulled in by CORE_INSET of its height);
the cores are taken apart with OpenCV's connected components and grown back to whole lines.
The model's cost does not grow with the frame: only the resize does.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from edge.infer.runtime import (MODELS_DIR, ModelError, check_metadata, chosen_by, interpreter_class,
                                native_stderr_silenced, read_tflite, same_value, tensor_summary)
from edge.normalize import as_gray_u8

INPUT_SIZE = (320, 240)  # (w, h) the detector sees: text from ~7-8 px tall there (14-16 px at 640x480)
OUTPUT_STRIDE = 2  # input pixels per map cell
CORE_HEIGHT = 0.5  # a line's core: the middle half of its height ...
CORE_INSET = 0.25  # ... with each end pulled in by a quarter of its height
DEFAULT_DETECTOR = MODELS_DIR / "detector.tflite"
MIN_CORE_CELLS = 3  # smaller cores are noise
MAX_UPSCALE = 1.0  # a small image is not enlarged: the detector learned lines up to a third of its input's height
GROWN_HEIGHT = 0.9  # a core taken around its cells comes out tall (its border cells are partly core): tuning split
SQUARE_CORE = 2.0  # a core under twice as long as tall is boxed level (tuning split: sudoku F1 +0.06)
JOIN_GAP = 0.5  # of the line's height: separate lines' cores lie at least 0.8 of it apart (inset + spacing)
MAX_LINES = 32  # lines read per frame at most, the surest first: a page of text cannot blow up the frame time


@dataclass
class Line:
    corners: np.ndarray  # (4, 2) float32 frame pixels: top-left, top-right, bottom-right, bottom-left
    score: float  # the detector's mean core probability

    @cached_property
    def box(self) -> tuple[int, int, int, int]:
        """The axis-aligned x, y, w, h around the line (once: every stage asks; corners are not changed)."""
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = self.corners.tolist()  # plain floats: numpy's calls cost more
        x0, y0 = math.floor(min(ax, bx, cx, dx)), math.floor(min(ay, by, cy, dy))
        return x0, y0, math.ceil(max(ax, bx, cx, dx)) - x0, math.ceil(max(ay, by, cy, dy)) - y0

    @property
    def height(self) -> float:
        (x0, y0), (x1, y1) = self.corners[0].tolist(), self.corners[3].tolist()
        return math.hypot(x1 - x0, y1 - y0)


def letterbox(gray: np.ndarray, size=INPUT_SIZE, max_scale: float = MAX_UPSCALE) -> tuple[np.ndarray, float]:
    """The image scaled (aspect kept, enlarged at most max_scale) into size, padded right and
    below by repeating its edge; returns (image, scale)."""
    h, w = gray.shape
    scale = min(size[0] / w, size[1] / h, max_scale)
    nw, nh = max(1, min(size[0], round(w * scale))), max(1, min(size[1], round(h * scale)))
    small = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(small, 0, size[1] - nh, 0, size[0] - nw, cv2.BORDER_REPLICATE), scale


def lines_from_map(core: np.ndarray, threshold: float, min_cells: int = MIN_CORE_CELLS, scale: float = 1.0,
                   origin: tuple[int, int] = (0, 0)) -> list[Line]:
    """A core probability map (float, 0..1) -> lines in the map's input pixels (cell x STRIDE),
    or in a frame's: input pixels / scale + origin."""
    binary = (core >= threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    kept = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_cells]
    if not kept:
        return []
    # every core cell's centre, grouped by label in one pass (a search per core cost a millisecond a photo)
    flat = np.flatnonzero(labels)
    label = labels.ravel()[flat]
    order = np.argsort(label, kind="stable")
    ys, xs = np.divmod(flat[order], labels.shape[1])
    centres = np.stack([xs, ys], axis=1).astype(np.float32) + 0.5
    counts = np.bincount(label, minlength=n)
    sums = np.bincount(label, weights=core.ravel()[flat], minlength=n)
    ends = np.cumsum(counts).tolist()
    cells = counts.tolist()
    means = (sums.astype(np.float32) / np.maximum(counts, 1).astype(np.float32)).tolist()  # a core's score, in float32
    # the centres of the top-left and bottom-right cells of each core's bounding box: its points' min and max
    first, last = (stats[:, :2] + 0.5).astype(np.float32), (stats[:, :2] + stats[:, 2:4] - 0.5).astype(np.float32)
    groups = _same_line_groups(stats, kept)
    corners = np.empty((len(groups), 4, 2), np.float32)
    scores, level, level_first, level_last = [], [], [], []
    for i, group in enumerate(groups):
        if len(group) == 1:
            k = group[0]
            points, score = centres[ends[k] - cells[k]:ends[k]], means[k]
            span = first[k], last[k]  # its first and last cells' centres
        else:
            points = np.concatenate([centres[ends[k] - cells[k]:ends[k]] for k in group])
            score = float(np.float32(sum(sums[k] for k in group)) / np.float32(sum(cells[k] for k in group)))
            span = first[group].min(axis=0), last[group].max(axis=0)
        scores.append(score)
        rect = cv2.minAreaRect(points)
        (w, h) = rect[1]
        if max(w, h) + 1 < SQUARE_CORE * (min(w, h) + 1):  # a character or two: the core's tilt is noise
            level.append(i)
            level_first.append(span[0])
            level_last.append(span[1])
        else:
            corners[i] = _line_corners(rect)
    if level:  # boxed level around their cells, all at once (a loop cost ~20 us a line)
        corners[level] = _level_corners(np.array(level_first), np.array(level_last))
    corners = corners / scale + np.float32(origin)
    return [Line(c, s) for c, s in zip(corners, scores)]


def _same_line_groups(stats: np.ndarray, labels: list[int]) -> list[list[int]]:
    """Components joined into one line where they sit side by side at the same height with a
    gap under JOIN_GAP of their line's height: a wide gap inside a number (a seven-segment
    '1') splits its core, and each piece would grow into a line of its own."""
    x, y, w, h = (stats[labels, i].astype(np.float32)[:, None] for i in range(4))  # a: rows, b: columns
    low, high = np.minimum(h, h.T), np.maximum(h, h.T)
    overlap = np.minimum(y + h, (y + h).T) - np.maximum(y, y.T)
    gap = x.T - (x + w)  # b's left edge past a's right edge
    join = (gap >= 0) & (low >= 0.5 * high) & (overlap >= 0.5 * low) & (gap <= JOIN_GAP * high / CORE_HEIGHT)
    group = {k: [k] for k in labels}
    for i, j in zip(*np.nonzero(join)):
        a, b = labels[i], labels[j]
        if group[a] is not group[b]:
            merged = group[a] + group[b]
            for k in merged:
                group[k] = merged
    return list({id(g): g for g in group.values()}.values())


def _line_corners(rect) -> np.ndarray:
    """A core's cv2.minAreaRect through its cells' centres -> its line's corners (tl, tr, br, bl,
    input pixels), read along the side nearer the horizontal; half a cell out each way first."""
    (cx, cy), (w, h), angle = rect
    t = math.radians(angle)
    u, v = (math.cos(t), math.sin(t)), (-math.sin(t), math.cos(t))  # the rect's w runs along u, h along v
    if abs(u[0]) - abs(u[1]) >= abs(v[0]) - abs(v[1]):
        (ax, ay), length, height = u, w, h
    else:
        (ax, ay), length, height = v, h, w
    if ax < 0:
        ax, ay = -ax, -ay
    dx, dy = -ay, ax
    height = (height + 1) * OUTPUT_STRIDE / CORE_HEIGHT * GROWN_HEIGHT
    length = (length + 1) * OUTPUT_STRIDE + 2 * CORE_INSET * height
    cx, cy, hl, hh = cx * OUTPUT_STRIDE, cy * OUTPUT_STRIDE, length / 2, height / 2
    ex, ey, fx, fy = ax * hl, ay * hl, dx * hh, dy * hh  # half the line along, half across
    return np.array([cx - ex - fx, cy - ey - fy, cx + ex - fx, cy + ey - fy,
                     cx + ex + fx, cy + ey + fy, cx - ex + fx, cy - ey + fy], np.float32).reshape(4, 2)


def _level_corners(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """_line_corners of level rects, each spanning the cell centres first..last (M x 2, float32),
    in float32 as the rects' own sums: the same corners to the bit."""
    (x0, y0), (x1, y1) = first.T, last.T
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    height = (h + 1) * OUTPUT_STRIDE / CORE_HEIGHT * GROWN_HEIGHT
    length = (w + 1) * OUTPUT_STRIDE + 2 * CORE_INSET * height
    cx, cy, hl, hh = cx * OUTPUT_STRIDE, cy * OUTPUT_STRIDE, length / 2, height / 2
    return np.stack([cx - hl, cy - hh, cx + hl, cy - hh, cx + hl, cy + hh, cx - hl, cy + hh], axis=1).reshape(-1, 4, 2)


class CutPlace(NamedTuple):
    """Where a line's cut lies in the frame: the cut's pixel (u, v) is at origin + u * along + v * across
    (a tilted cut's size is rounded to whole pixels, so within half a pixel there)."""
    origin: tuple[float, float]
    along: tuple[float, float]  # unit vectors; (1, 0) and (0, 1) for a level line, whose cut is a plain slice
    across: tuple[float, float]
    size: tuple[int, int]  # the cut's (w, h); a level cut's may be clipped further by the frame's edge
    height: float  # the line's own, without the margin
    margin: float  # of the height, around the line
    warp: np.ndarray | None  # a tilted cut's three source points for cv2.getAffineTransform; None: level

    @property
    def level(self) -> bool:
        return self.warp is None


def cut_place(line: Line, margin: float) -> CutPlace | None:
    """Where `cut_line` takes the line from, with `margin` of its height around it; None for a
    line under a pixel long or tall. The character boxes map back through the same place."""
    (x_tl, y_tl), (x_tr, y_tr), _, (x_bl, y_bl) = line.corners.tolist()
    f32 = np.float32  # the corners' differences rounded as numpy's would be: the same cut to the pixel
    rise = f32(y_tr - y_tl)
    length, height = math.hypot(f32(x_tr - x_tl), rise), math.hypot(f32(x_bl - x_tl), f32(y_bl - y_tl))
    if length < 1 or height < 1:
        return None
    pad = margin * height
    if abs(rise) <= 0.03 * length:  # within ~2 degrees of level
        x, y, w, h = line.box
        x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
        size = (max(0, int(x + w + pad) - x0), max(0, int(y + h + pad) - y0))
        return CutPlace((x0, y0), (1.0, 0.0), (0.0, 1.0), size, height, margin, None)
    tl, tr, _, bl = line.corners
    a, d = (tr - tl) / length, (bl - tl) / height
    src = np.float32([tl - a * pad - d * pad, tr + a * pad - d * pad, bl - a * pad + d * pad])
    w, h = int(round(length + 2 * pad)), int(round(height + 2 * pad))
    ax, ay = (x_tr - x_tl) / length, (y_tr - y_tl) / length
    dx, dy = (x_bl - x_tl) / height, (y_bl - y_tl) / height
    return CutPlace((x_tl - (ax + dx) * pad, y_tl - (ay + dy) * pad), (ax, ay), (dx, dy), (w, h), height, margin, src)


def cut_line(gray: np.ndarray, line: Line, margin: float = 0.15) -> np.ndarray:
    """The line's pixels, upright, with `margin` of its height around it. A level line is
    a plain slice; a tilted one is warped straight."""
    return cut_at(gray, cut_place(line, margin))


def cut_at(gray: np.ndarray, place: CutPlace | None) -> np.ndarray:
    """The pixels of a line's `cut_place`, upright."""
    if place is None:
        return np.zeros((0, 0), np.uint8)
    (x0, y0), (w, h) = place.origin, place.size
    if place.level:
        return gray[y0:y0 + h, x0:x0 + w]
    dst = np.float32([[0, 0], [w, 0], [0, h]])
    return cv2.warpAffine(gray, cv2.getAffineTransform(place.warp, dst), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def default_detector_path() -> Path:
    return Path(os.environ.get("EDGE_DIGITS_DETECTOR") or DEFAULT_DETECTOR)  # set but empty: the default


class TextDetector:
    """Find text lines with the shipped int8 detector: `detect(gray, roi) -> [Line]`."""

    def __init__(self, model_path: str | os.PathLike | None = None, num_threads: int = 1,
                 threshold: float | None = None, max_lines: int = MAX_LINES):
        self.model_path = Path(model_path) if model_path else default_detector_path()
        self._model_bytes = read_tflite(self.model_path, "--detector", "python -m convert.export --model detector",
                                        chosen_by("EDGE_DIGITS_DETECTOR", model_path))
        meta_path = self.model_path.with_suffix(".json")
        try:
            self.metadata = json.loads(meta_path.read_text())
            check_metadata(self.metadata, ("output",), ("threshold", "min_confidence", "edge_confidence"),
                           kind="edge-digits-detector/1")
            if self.metadata.get("input_size") != list(INPUT_SIZE):
                raise ValueError(f"it was made for {self.metadata.get('input_size')}, this app feeds {list(INPUT_SIZE)}")
        except FileNotFoundError:
            raise ModelError(f"detector metadata {meta_path} not found; it is written by 'python -m convert.export "
                             "--model detector'") from None
        except (OSError, ValueError, AttributeError) as e:
            raise ModelError(f"detector metadata {meta_path} is invalid: {e}") from None
        self.threshold = float(self.metadata.get("threshold", 0.5) if threshold is None else threshold)
        self.max_lines = max_lines
        cls, self.runtime = interpreter_class()
        try:
            with native_stderr_silenced():
                self._it = cls(model_content=self._model_bytes, num_threads=num_threads)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load {self.model_path}: {str(e).splitlines()[0]}") from None
        self._in, self._out = self._it.get_input_details()[0], self._it.get_output_details()[0]
        i, o = tensor_summary(self._in), tensor_summary(self._out)
        want_out = [INPUT_SIZE[1] // OUTPUT_STRIDE, INPUT_SIZE[0] // OUTPUT_STRIDE, 1]
        if i["dtype"] != "uint8" or i["shape"] != [INPUT_SIZE[1], INPUT_SIZE[0], 1] or o["shape"] != want_out:
            raise ModelError(f"{self.model_path} maps {i['dtype']} {i['shape']} to {o['shape']}; this app feeds "
                             f"uint8 {[INPUT_SIZE[1], INPUT_SIZE[0], 1]} and reads {want_out}")
        declared = self.metadata.get("output", {})
        for key in ("scale", "zero_point"):
            if key in declared and not same_value(declared[key], o[key]):
                raise ModelError(f"metadata {meta_path} says output {key} = {declared[key]}, the model has "
                                 f"{o[key]}: re-export the model")
        self._scale, self._zero = o["scale"], o["zero_point"]
        self.core_map(np.zeros(INPUT_SIZE[::-1], np.uint8))  # runs once now: a broken model fails at start-up

    def core_map(self, small: np.ndarray) -> np.ndarray:
        """The model's core probabilities for an INPUT_SIZE grey image."""
        try:
            self._it.set_tensor(self._in["index"], small[None, :, :, None])
            self._it.invoke()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.model_path} failed to run: {str(e).splitlines()[0]}") from None
        raw = self._it.get_tensor(self._out["index"])[0, :, :, 0]
        return (raw.astype(np.float32) - self._zero) * self._scale

    def detect(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None, tiles: int = 1,
               max_lines: int | None = None) -> list[Line]:
        """Lines in the frame (or inside roi = x, y, w, h), in frame pixels, the surest first,
        at most max_lines (default: the detector's). tiles > 1 also looks at a tiles x tiles grid of overlapping parts,
        each scaled into the input on its own, when the image is larger than the input: text
        that many times smaller is found, at tiles^2 + 1 times the cost."""
        gray = as_gray_u8(image)
        ox = oy = 0
        if roi is not None:
            x, y, w, h = roi
            ox, oy = max(0, x), max(0, y)
            gray = gray[oy:max(oy, y + h), ox:max(ox, x + w)]
        if gray.shape[0] < 2 or gray.shape[1] < 2:
            return []
        lines = self._lines_in(gray, ox, oy)
        h, w = gray.shape
        view_scale = min(INPUT_SIZE[0] / w, INPUT_SIZE[1] / h)
        tiled = tiles > 1 and view_scale < TILE_BELOW
        if tiled:
            tw, th = min(w, int(w / tiles * TILE_OVERLAP)), min(h, int(h / tiles * TILE_OVERLAP))
            tiled = min(tw, th) >= 2  # a strip's tiles would be empty
        if tiled:
            origins = [((w - tw) * tx // (tiles - 1), (h - th) * ty // (tiles - 1))
                       for ty in range(tiles) for tx in range(tiles)]
            # a line tiny in the whole view is left to a tile that holds it whole: it sees it closer
            lines = [ln for ln in lines if ln.height * view_scale >= SMALL_IN_VIEW
                     or not any(_box_inside(ln.box, (ox + x0, oy + y0, tw, th)) for x0, y0 in origins)]
            for x0, y0 in origins:
                part = sorted(self._lines_in(gray[y0:y0 + th, x0:x0 + tw], ox + x0, oy + y0), key=lambda ln: -ln.score)
                lines += part
            lines = _without_covered(lines)
        centres = np.array([ln.corners for ln in lines], np.float32).reshape(-1, 4, 2).mean(axis=1)
        inside = [ln for ln, (cx, cy) in zip(lines, centres.tolist()) if ox <= cx < ox + w and oy <= cy < oy + h]
        inside.sort(key=lambda ln: -ln.score)
        return inside[:self.max_lines if max_lines is None else max_lines]

    def _lines_in(self, gray: np.ndarray, ox: int, oy: int) -> list[Line]:
        small, scale = letterbox(gray)
        return lines_from_map(self.core_map(small), self.threshold, scale=scale, origin=(ox, oy))


TILE_BELOW = 0.75  # tiles only for an image this much larger than the input: smaller ones are seen whole
SMALL_IN_VIEW = 8  # px: lines shorter in the whole view are left to the tiles (its outline is rough there)
TILE_OVERLAP = 1.25  # each tile is this much larger than its share, so a line on a border is whole in one


def _without_covered(lines: list[Line], most: float = 0.5) -> list[Line]:
    """In order, each line unless more than `most` of its box lies inside a line kept before it
    (the whole view's lines come first: they see a long line whole)."""
    kept: list[Line] = []
    boxes: list[tuple[int, int, int, int]] = []
    for line in lines:
        x, y, w, h = line.box
        covered = any(max(0, min(x + w, bx + bw) - max(x, bx)) * max(0, min(y + h, by + bh) - max(y, by))
                      > most * w * h for bx, by, bw, bh in boxes)
        if not covered:
            kept.append(line)
            boxes.append(line.box)
    return kept


def _box_inside(box, outer) -> bool:
    x, y, w, h = box
    bx, by, bw, bh = outer
    return bx <= x and by <= y and x + w <= bx + bw and y + h <= by + bh
