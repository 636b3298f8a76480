"""Geometry of [x, y, w, h] boxes, vectorized."""
from __future__ import annotations

import numpy as np


def _intersections(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 0] + a[:, None, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, None, 0], b[:, 0])
    ih = np.minimum(a[:, None, 1] + a[:, None, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, None, 1], b[:, 1])
    return np.maximum(iw, 0) * np.maximum(ih, 0), a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]


def iou_matrix(a, b) -> np.ndarray:
    """Intersection over union of every box in a with every box in b."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(area_a[:, None] + area_b - inter, 1e-9)


def side_by_side(boxes) -> tuple[np.ndarray, ...]:
    """For boxes on a line of text, as float32: widths w, heights h, and for every pair
    [i, j] the vertical overlap of their boxes and the horizontal gap between them
    (negative when they overlap)."""
    x, y, w, h = (np.asarray(boxes, np.float32).reshape(-1, 4)[:, i] for i in range(4))
    overlap_y = np.minimum(y[:, None] + h[:, None], y + h) - np.maximum(y[:, None], y)
    gap = np.maximum(x - (x[:, None] + w[:, None]), x[:, None] - (x + w))
    return w, h, overlap_y, gap


def cover_matrix(a, b) -> np.ndarray:
    """Intersection over the smaller of the two boxes (1.0 when one holds the other)."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b), 1)


def largest(boxes, most: int) -> np.ndarray:
    """Positions of the `most` largest boxes by area, largest first (equal areas in their
    order): the caps that keep clutter from blowing up a frame's time."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    return np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")[:most]
