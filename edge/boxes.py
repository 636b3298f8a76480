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


def cover_matrix(a, b) -> np.ndarray:
    """Intersection over the smaller of the two boxes (1.0 when one holds the other)."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b), 1)

