"""Find digit-sized blobs of ink in a frame (pure functions on numpy images).

Local (adaptive) thresholding against a box-filtered mean copes with uneven light; it
runs for dark-on-light and light-on-dark ink. Connected components are filtered on
size and ink density, broken strokes (and seven-segment digits) are merged, touching
digits are split at the thinnest columns, and the candidate count is capped.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.normalize import as_gray_u8
from edge.types import Digits


@dataclass(frozen=True)
class SegmentParams:
    min_height: int = 10  # pixels
    max_height: float = 0.7  # fraction of the frame (or ROI) height
    max_single_aspect: float = 1.15  # w/h above this is split into several digits
    max_aspect: float = 4.0  # w/h above this is not digits at all
    min_fill: float = 0.08  # ink pixels / box area
    max_fill: float = 0.92  # solid blocks are not digits (solid bars may be a '1')
    offset: int = 12  # grey levels darker (lighter) than the local mean that count as ink
    block: int = 0  # local mean window; 0 = frame height / 12
    polarity: str = "both"  # "dark" (ink on paper), "light" (displays, plates), or "both"
    max_regions: int = 64  # hard cap on candidates per frame
    max_parts: int = 400  # components considered for merging (largest first)
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h


def ink_masks(gray: np.ndarray, params: SegmentParams) -> dict[bool, np.ndarray]:
    """{dark_ink: binary mask} for the polarities asked for."""
    block = params.block or max(15, (min(gray.shape) // 12) | 1)
    mean = cv2.blur(gray, (block, block))
    masks = {}
    if params.polarity in ("dark", "both"):
        masks[True] = cv2.compare(cv2.subtract(mean, gray), params.offset, cv2.CMP_GT)
    if params.polarity in ("light", "both"):
        masks[False] = cv2.compare(cv2.subtract(gray, mean), params.offset, cv2.CMP_GT)
    return masks


def _merge_broken(stats: np.ndarray) -> np.ndarray:
    """Union parts that sit above one another with a small gap (broken strokes, segments of a
    seven-segment digit). stats rows: x, y, w, h, area. Returns merged rows."""
    n = len(stats)
    if n < 2:
        return stats
    x, y, w, h = (stats[:, i].astype(np.float32) for i in range(4))
    x1, y1 = x + w, y + h
    overlap_x = np.minimum(x1[:, None], x1[None]) - np.maximum(x[:, None], x[None])
    narrower = np.minimum(w[:, None], w[None])
    gap_y = np.maximum(y[:, None], y[None]) - np.minimum(y1[:, None], y1[None])
    taller = np.maximum(h[:, None], h[None])
    merged_h = np.maximum(y1[:, None], y1[None]) - np.minimum(y[:, None], y[None])
    merged_w = np.maximum(x1[:, None], x1[None]) - np.minimum(x[:, None], x[None])
    link = ((overlap_x >= 0.5 * narrower) & (gap_y <= 0.25 * taller)
            & (merged_w <= 1.2 * merged_h))
    np.fill_diagonal(link, False)
    if not link.any():
        return stats
    parent = np.arange(n)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(link))):
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[rj] = ri
    roots = np.array([root(i) for i in range(n)])
    out = []
    for r in np.unique(roots):
        g = stats[roots == r]
        gx, gy = g[:, 0].min(), g[:, 1].min()
        out.append([gx, gy, (g[:, 0] + g[:, 2]).max() - gx, (g[:, 1] + g[:, 3]).max() - gy, g[:, 4].sum()])
    return np.array(out, np.int64)


def _split_wide(box, mask: np.ndarray, params: SegmentParams) -> list:
    """Split a box holding touching digits at the columns with the least ink."""
    x, y, w, h = box
    k = int(round(w / (0.7 * h)))
    if k < 2:
        return [box]
    profile = (mask[y:y + h, x:x + w] > 0).sum(axis=0).astype(np.float32)
    cuts, start = [], 0
    for i in range(1, k):
        centre = int(w * i / k)
        lo, hi = max(start + 1, centre - w // (3 * k)), min(w - 1, centre + w // (3 * k))
        if hi <= lo:
            continue
        cut = lo + int(np.argmin(profile[lo:hi]))
        cuts.append(cut)
        start = cut
    edges = [0] + cuts + [w]
    return [(x + a, y, b - a, h) for a, b in zip(edges[:-1], edges[1:]) if b - a > 1]


def segment(image: np.ndarray, params: SegmentParams = SegmentParams()) -> tuple[Digits, np.ndarray]:
    """Frame -> (digit candidates, the binary ink mask for the debug view)."""
    gray = as_gray_u8(image)
    full = np.zeros(gray.shape, np.uint8)
    ox = oy = 0
    if params.roi is not None:
        x, y, w, h = params.roi
        ox, oy = max(0, x), max(0, y)
        gray = gray[oy:max(oy, y + h), ox:max(ox, x + w)]
    debug = full[oy:oy + gray.shape[0], ox:ox + gray.shape[1]]
    if gray.shape[0] < params.min_height or gray.shape[1] < 2:
        return Digits(), full
    max_h = max(params.min_height, params.max_height * gray.shape[0])
    boxes, polarity = [], []
    for dark, mask in ink_masks(gray, params).items():
        debug |= mask
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        stats = stats[1:]
        # Parts worth merging: not specks, not page-sized.
        keep = (stats[:, 4] >= 4) & (stats[:, 3] <= max_h) & (stats[:, 2] <= max_h * params.max_aspect)
        parts = stats[keep]
        if len(parts) > params.max_parts:
            parts = parts[np.argsort(-parts[:, 4])[:params.max_parts]]
        merged = _merge_broken(parts)
        x, y, w, h, area = (merged[:, i] for i in range(5))
        fill = area / np.maximum(w * h, 1)
        ok = ((h >= params.min_height) & (h <= max_h) & (w <= params.max_aspect * h)
              & (fill >= params.min_fill) & (w * 25 >= h) & (w >= 2)
              & ((fill <= params.max_fill) | (w < 0.4 * h)))  # a '1' can be a solid bar
        for row in merged[ok]:
            box = tuple(int(v) for v in row[:4])
            pieces = _split_wide(box, mask, params) if box[2] > params.max_single_aspect * box[3] else [box]
            boxes.extend(pieces)
            polarity.extend([dark] * len(pieces))
    if not boxes:
        return Digits(), full
    boxes = np.array(boxes, np.int32)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")[:params.max_regions]
    boxes, polarity = boxes[order], np.array(polarity, bool)[order]
    boxes[:, 0] += ox
    boxes[:, 1] += oy
    return Digits(boxes, polarity), full


def crops_for(gray: np.ndarray, digits: Digits, margin: float = 0.15) -> list[np.ndarray]:
    """Cut each candidate out of the grey frame with a margin, as the model was trained."""
    H, W = gray.shape[:2]
    out = []
    for x, y, w, h in digits.boxes:
        m = int(round(margin * max(w, h))) + 1
        out.append(gray[max(0, y - m):min(H, y + h + m), max(0, x - m):min(W, x + w + m)])
    return out
